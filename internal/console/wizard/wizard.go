// Package wizard is the creation wizard's form: what each step asks, the LXCContainer the
// answers make, and where the API server's field errors belong on the form.
package wizard

import (
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
)

// The steps, in order.
const (
	StepTemplate  = 1
	StepConfigure = 2
	StepPackages  = 3
	StepScripts   = 4
	StepReview    = 5
)

// StepNames label the steps.
var StepNames = []string{"Template", "Configure", "Packages", "Scripts", "Review"}

// Form is the wizard's answers, carried from step to step in the query string.
type Form struct {
	Namespace, Template       string
	Name, Hostname, Cluster   string
	Cores, Memory, Disk, IPv4 string
	Exclude                   []string
	ExtraManager, Extra       string
	Skip                      []string
}

// Parse reads a form from request values.
func Parse(v url.Values) Form {
	t := func(k string) string { return strings.TrimSpace(v.Get(k)) }
	return Form{Namespace: t("namespace"), Template: t("template"), Name: t("name"), Hostname: t("hostname"),
		Cluster: t("cluster"), Cores: t("cores"), Memory: t("memory"), Disk: t("disk"), IPv4: t("ipv4"),
		Exclude: v["exclude"], ExtraManager: t("extraManager"), Extra: t("extra"), Skip: v["skip"]}
}

// Field is a form field as a hidden input.
type Field struct{ Name, Value string }

// fieldStep is the step that asks each field.
var fieldStep = map[string]int{
	"namespace": StepTemplate, "template": StepTemplate,
	"name": StepConfigure, "hostname": StepConfigure, "cluster": StepConfigure, "cores": StepConfigure,
	"memory": StepConfigure, "disk": StepConfigure, "ipv4": StepConfigure,
	"exclude": StepPackages, "extraManager": StepPackages, "extra": StepPackages,
	"skip": StepScripts,
}

// StepOf is the step that asks field.
func StepOf(field string) int {
	if s, ok := fieldStep[field]; ok {
		return s
	}
	return StepReview
}

// Values are the form's fields as name/value pairs.
func (f Form) Values() []Field {
	out := []Field{{"namespace", f.Namespace}, {"template", f.Template}, {"name", f.Name}, {"hostname", f.Hostname},
		{"cluster", f.Cluster}, {"cores", f.Cores}, {"memory", f.Memory}, {"disk", f.Disk}, {"ipv4", f.IPv4},
		{"extraManager", f.ExtraManager}, {"extra", f.Extra}}
	for _, b := range f.Exclude {
		out = append(out, Field{"exclude", b})
	}
	for _, s := range f.Skip {
		out = append(out, Field{"skip", s})
	}
	return out
}

// Hidden are the fields that step does not ask, to carry them along.
func (f Form) Hidden(step int) []Field {
	var out []Field
	for _, fv := range f.Values() {
		if StepOf(fv.Name) != step && (fv.Value != "" || fv.Name == "exclude" || fv.Name == "skip") {
			out = append(out, fv)
		}
	}
	return out
}

// Errors are field errors by form field; "" holds those no field owns.
type Errors map[string][]string

// Add records msg against field.
func (e Errors) Add(field, msg string) { e[field] = append(e[field], msg) }

// First is the earliest step with an error, or 0.
func (e Errors) First() int {
	first := 0
	for f := range e {
		if s := StepOf(f); first == 0 || s < first {
			first = s
		}
	}
	return first
}

func number(errs Errors, field, label, s string) *int32 {
	if s == "" {
		return nil
	}
	n, err := strconv.ParseInt(s, 10, 32)
	if err != nil {
		errs.Add(field, fmt.Sprintf("%s: %q is not a whole number", label, s))
		return nil
	}
	v := int32(n)
	return &v
}

// Build makes the LXCContainer the form describes. Errors are those the form itself can
// tell (a number that is not one); everything else the API server judges in a dry run.
func Build(f Form) (*lxcv1.LXCContainer, Errors) {
	errs := Errors{}
	c := &lxcv1.LXCContainer{
		TypeMeta:   metav1.TypeMeta{APIVersion: lxcv1.GroupVersion.String(), Kind: "LXCContainer"},
		ObjectMeta: metav1.ObjectMeta{Namespace: f.Namespace, Name: f.Name},
		Spec: lxcv1.LXCContainerSpec{
			ClusterRef:  lxcv1.ClusterReference{Name: f.Cluster},
			TemplateRef: lxcv1.LocalObjectReference{Name: f.Template},
			Hostname:    f.Hostname,
		},
	}
	res := lxcv1.Resources{
		Cores:     number(errs, "cores", "cores", f.Cores),
		MemoryMiB: number(errs, "memory", "memory (MiB)", f.Memory),
		DiskGiB:   number(errs, "disk", "disk (GiB)", f.Disk),
	}
	if res.Cores != nil || res.MemoryMiB != nil || res.DiskGiB != nil {
		c.Spec.Resources = &res
	}
	if f.IPv4 != "" {
		c.Spec.Network = &lxcv1.Network{IPv4: f.IPv4}
	}
	extra := strings.FieldsFunc(f.Extra, func(r rune) bool { return r == ' ' || r == ',' || r == '\n' || r == '\t' || r == '\r' })
	if len(f.Exclude) > 0 || len(extra) > 0 {
		p := &lxcv1.ContainerPackages{}
		if len(f.Exclude) > 0 {
			p.ExcludeBuckets = append([]string(nil), f.Exclude...)
			sort.Strings(p.ExcludeBuckets)
		}
		if len(extra) > 0 {
			manager := f.ExtraManager
			if manager == "" {
				manager = "apt"
			}
			names := make([]lxcv1.PackageName, len(extra))
			for i, n := range extra {
				names[i] = lxcv1.PackageName(n)
			}
			p.Extra = []lxcv1.PackageList{{Manager: lxcv1.PackageManager(manager), Names: names}}
		}
		c.Spec.Packages = p
	}
	if len(f.Skip) > 0 {
		skip := append([]string(nil), f.Skip...)
		sort.Strings(skip)
		c.Spec.Scripts = &lxcv1.ContainerScripts{Skip: skip}
	}
	return c, errs
}

// YAML is the manifest exactly as Create sends it, to copy into Git instead.
func YAML(c *lxcv1.LXCContainer) string {
	out := c.DeepCopy()
	out.Status = lxcv1.LXCContainerStatus{}
	data, err := yaml.Marshal(out)
	if err != nil {
		return err.Error()
	}
	// Drop the empty status and creationTimestamp a typed object marshals.
	lines := strings.Split(string(data), "\n")
	kept := lines[:0]
	for _, l := range lines {
		if l == "status: {}" || strings.TrimSpace(l) == "creationTimestamp: null" {
			continue
		}
		kept = append(kept, l)
	}
	return strings.Join(kept, "\n")
}

// pathFields maps API field paths onto form fields; the longest matching prefix wins.
var pathFields = []struct{ path, field string }{
	{"metadata.name", "name"},
	{"metadata.namespace", "namespace"},
	{"spec.hostname", "hostname"},
	{"spec.clusterRef", "cluster"},
	{"spec.templateRef", "template"},
	{"spec.resources.cores", "cores"},
	{"spec.resources.memoryMiB", "memory"},
	{"spec.resources.diskGiB", "disk"},
	{"spec.resources", "cores"},
	{"spec.network.ipv4", "ipv4"},
	{"spec.network", "ipv4"},
	{"spec.packages.excludeBuckets", "exclude"},
	{"spec.packages.extra", "extra"},
	{"spec.packages", "extra"},
	{"spec.scripts", "skip"},
}

// FieldOf maps an API field path (spec.resources.cores, spec.packages.extra[0].names[1])
// onto the form field that sets it; "" when none does.
func FieldOf(path string) string {
	best, bestLen := "", 0
	for _, pf := range pathFields {
		if (path == pf.path || strings.HasPrefix(path, pf.path+".") || strings.HasPrefix(path, pf.path+"[")) && len(pf.path) > bestLen {
			best, bestLen = pf.field, len(pf.path)
		}
	}
	return best
}

// APIErrors sorts the causes of an API server refusal onto the form's fields.
func APIErrors(err error) Errors {
	errs := Errors{}
	var status apierrors.APIStatus
	st, ok := err.(apierrors.APIStatus)
	if ok {
		status = st
	}
	if status == nil || status.Status().Details == nil || len(status.Status().Details.Causes) == 0 {
		msg := err.Error()
		if status != nil && status.Status().Message != "" {
			msg = status.Status().Message
		}
		errs.Add("", msg)
		return errs
	}
	for _, cause := range status.Status().Details.Causes {
		field := FieldOf(cause.Field)
		msg := cause.Message
		if cause.Field != "" {
			msg = cause.Field + ": " + msg
		}
		errs.Add(field, msg)
	}
	return errs
}
