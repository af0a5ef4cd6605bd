package mirror

import (
	"encoding/json"
	"sort"
	"strconv"
	"strings"
	"time"

	eventsv1 "k8s.io/api/events/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
	"templatemanager.dev/lxc-template-manager/internal/progress"
)

// A row is one table row as the values of that table's columns, in the table's column order.
type row []any

// pkg is one package of a bucket or of a template's inline lists, with its version pin split off.
type pkg struct {
	Manager string  `json:"manager"`
	Name    string  `json:"name"`
	Version *string `json:"version"`
}

// service is one entry of a container's status.services, with every field present so that
// jsonb_to_recordset never yields NULL.
type service struct {
	Name     string `json:"name"`
	Port     int32  `json:"port"`
	Protocol string `json:"protocol"`
	Address  string `json:"address"`
	Process  string `json:"process"`
	Unit     string `json:"unit"`
	URL      string `json:"url"`
}

// resourceVersion reads metadata.resourceVersion as the number the API server's storage makes
// of it; the guard on every write compares these numbers.
func resourceVersion(obj metav1.Object) int64 {
	rv, err := strconv.ParseInt(obj.GetResourceVersion(), 10, 64)
	if err != nil {
		return 0
	}
	return rv
}

func jsonOf(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		// The API types always marshal; a failure here is a programming error.
		panic(err)
	}
	return b
}

func readyOf(conds []metav1.Condition) (bool, string) {
	c := apimeta.FindStatusCondition(conds, lxcv1.ReadyCondition)
	if c == nil {
		return false, ""
	}
	return c.Status == metav1.ConditionTrue, c.Reason
}

func tagsOf(tags []lxcv1.Tag) []string {
	out := make([]string, 0, len(tags))
	for _, t := range tags {
		out = append(out, string(t))
	}
	return out
}

func int32p(p *int32) *int32 {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}

// splitPin splits a package name into the name and its version pin, in the syntax of its
// manager: nginx=1.22 (apt, apk), requests==2.32 or requests>=2 (pip), @scope/tool@1.2 (npm).
// dnf's name-version form cannot be told apart from a name, so dnf names keep their pin.
func splitPin(manager lxcv1.PackageManager, s string) (string, *string) {
	var i, skip int = -1, 0
	switch manager {
	case lxcv1.PackageManagerNpm:
		if j := strings.LastIndex(s, "@"); j > 0 {
			i, skip = j, 1
		}
	case lxcv1.PackageManagerPip, lxcv1.PackageManagerApk:
		for _, op := range []string{"==", ">=", "<=", "~=", "!=", "=", "~", ">", "<"} {
			if j := strings.Index(s, op); j > 0 && (i < 0 || j < i) {
				i, skip = j, len(op)
				if manager == lxcv1.PackageManagerPip {
					skip = 0 // pip keeps its operator: ">=2" is not "2"
				}
			}
		}
	case lxcv1.PackageManagerApt:
		if j := strings.Index(s, "="); j > 0 {
			i, skip = j, 1
		}
	}
	if i < 0 {
		return s, nil
	}
	v := s[i+skip:]
	if manager == lxcv1.PackageManagerPip && strings.HasPrefix(v, "==") {
		v = v[2:]
	}
	return s[:i], &v
}

func packagesOf(lists []lxcv1.PackageList) []pkg {
	out := []pkg{}
	for _, l := range lists {
		for _, n := range l.Names {
			name, version := splitPin(l.Manager, string(n))
			out = append(out, pkg{Manager: string(l.Manager), Name: name, Version: version})
		}
	}
	return out
}

// Columns of each table, in the order the row builders fill them.
var (
	bucketColumns = []string{"namespace", "name", "uid", "resource_version", "generation",
		"created_at", "updated_at", "description", "package_manager", "package_count", "used_by",
		"ready", "ready_reason", "packages", "spec", "status"}
	templateColumns = []string{"namespace", "name", "uid", "resource_version", "generation",
		"created_at", "updated_at", "description", "tags", "os_template", "cores", "memory_mib",
		"swap_mib", "disk_gib", "storage", "bridge", "unprivileged", "nesting", "keyctl", "fuse",
		"package_bucket_refs", "package_managers", "package_count", "script_count", "file_count",
		"used_by", "ready", "ready_reason", "packages", "spec", "status"}
	containerColumns = []string{"namespace", "name", "uid", "resource_version", "generation",
		"created_at", "updated_at", "deleting", "template", "cluster", "node", "vmid", "ip",
		"hostname", "phase", "ready", "ready_reason", "stalled", "power_state", "tags",
		"service_count", "script_count", "observed_generation", "spec", "status", "progress"}
	eventColumns = []string{"uid", "series_count", "namespace", "name", "container_name",
		"container_uid", "resource_version", "generation", "updated_at", "event_time", "type",
		"reason", "action", "note", "reporting_controller", "reporting_instance"}
)

func bucketRow(b *lxcv1.PackageBucket, now time.Time) row {
	ready, reason := readyOf(b.Status.Conditions)
	names := make([]lxcv1.PackageName, len(b.Spec.Packages))
	copy(names, b.Spec.Packages)
	pkgs := packagesOf([]lxcv1.PackageList{{Manager: b.Spec.Manager, Names: names}})
	return row{b.Namespace, b.Name, string(b.UID), resourceVersion(b), b.Generation,
		b.CreationTimestamp.Time, now, b.Spec.Description, string(b.Spec.Manager),
		int32(len(b.Spec.Packages)), b.Status.UsedBy, ready, reason, jsonOf(pkgs),
		jsonOf(b.Spec), jsonOf(b.Status)}
}

func templateRow(t *lxcv1.LXCTemplate, now time.Time) row {
	ready, reason := readyOf(t.Status.Conditions)
	refs := make([]string, 0, len(t.Spec.PackageBucketRefs))
	for _, r := range t.Spec.PackageBucketRefs {
		refs = append(refs, r.Name)
	}
	// package_managers and package_count describe what the template installs, buckets
	// included, as the template controller resolved it.
	managers := []string{}
	count := 0
	for _, rp := range t.Status.ResolvedPackages {
		managers = append(managers, string(rp.Manager))
		count += len(rp.Names)
	}
	unprivileged := t.Spec.Features.Unprivileged == nil || *t.Spec.Features.Unprivileged
	return row{t.Namespace, t.Name, string(t.UID), resourceVersion(t), t.Generation,
		t.CreationTimestamp.Time, now, t.Spec.Description, tagsOf(t.Spec.Tags), t.Spec.OSTemplate,
		int32p(t.Spec.Resources.Cores), int32p(t.Spec.Resources.MemoryMiB),
		int32p(t.Spec.Resources.SwapMiB), int32p(t.Spec.Resources.DiskGiB), t.Spec.Storage,
		t.Spec.Network.Bridge, unprivileged, t.Spec.Features.Nesting, t.Spec.Features.Keyctl,
		t.Spec.Features.Fuse, refs, managers, int32(count), int32(len(t.Spec.Scripts)),
		int32(len(t.Spec.Files)), t.Status.UsedBy, ready, reason, jsonOf(packagesOf(t.Spec.Packages)),
		jsonOf(t.Spec), jsonOf(t.Status)}
}

func containerRow(c *lxcv1.LXCContainer, now time.Time) row {
	ready, reason := readyOf(c.Status.Conditions)
	stalled := apimeta.IsStatusConditionTrue(c.Status.Conditions, lxcv1.StalledCondition)
	var vmid *int32
	switch {
	case c.Status.VMID != 0:
		v := c.Status.VMID
		vmid = &v
	case c.Spec.VMID != nil:
		vmid = int32p(c.Spec.VMID)
	}
	node := c.Status.Node
	if node == "" {
		node = c.Spec.Node
	}
	hostname := c.Spec.Hostname
	if hostname == "" {
		hostname = c.Name
	}
	power := string(c.Spec.PowerState)
	if power == "" {
		power = string(lxcv1.PowerStateRunning)
	}
	tags := []string{}
	for k, v := range c.Labels {
		tags = append(tags, k+"="+v)
	}
	return row{c.Namespace, c.Name, string(c.UID), resourceVersion(c), c.Generation,
		c.CreationTimestamp.Time, now, c.DeletionTimestamp != nil, c.Spec.TemplateRef.Name,
		c.Spec.ClusterRef.Name, node, vmid, c.Status.IPAddress, hostname, c.Status.Phase, ready,
		reason, stalled, power, sortedStrings(tags), int32(len(c.Status.Services)),
		int32(len(c.Status.Scripts)), c.Status.ObservedGeneration, jsonOf(c.Spec), jsonOf(c.Status),
		jsonOf(progressOf(c))}
}

// progressOf is the container's steps as the dashboard's progress page reads them; never null.
func progressOf(c *lxcv1.LXCContainer) []progress.Step {
	steps := progress.Of(c)
	if steps == nil {
		steps = []progress.Step{}
	}
	return steps
}

func servicesOf(c *lxcv1.LXCContainer) []byte {
	out := make([]service, 0, len(c.Status.Services))
	for _, s := range c.Status.Services {
		out = append(out, service{Name: s.Name, Port: s.Port, Protocol: string(s.Protocol),
			Address: s.Address, Process: s.Process, Unit: s.Unit, URL: s.URL})
	}
	return jsonOf(out)
}

// isContainerEvent tells whether an Event is about an LXCContainer.
func isContainerEvent(e *eventsv1.Event) bool {
	return e.Regarding.Kind == "LXCContainer" &&
		strings.HasPrefix(e.Regarding.APIVersion, lxcv1.GroupVersion.Group+"/")
}

// seriesCount is how many times an Event has been seen; together with its uid it names one
// row of container_events.
func seriesCount(e *eventsv1.Event) int32 {
	switch {
	case e.Series != nil:
		return e.Series.Count
	case e.DeprecatedCount > 0:
		return e.DeprecatedCount
	}
	return 1
}

// eventTime is when the occurrence the row records happened.
func eventTime(e *eventsv1.Event) time.Time {
	switch {
	case e.Series != nil && !e.Series.LastObservedTime.IsZero():
		return e.Series.LastObservedTime.Time
	case !e.EventTime.IsZero():
		return e.EventTime.Time
	case !e.DeprecatedLastTimestamp.IsZero():
		return e.DeprecatedLastTimestamp.Time
	}
	return e.CreationTimestamp.Time
}

// eventKey names one row of container_events.
type eventKey struct {
	uid   string
	count int32
}

func eventRow(e *eventsv1.Event, now time.Time) row {
	return row{string(e.UID), seriesCount(e), e.Namespace, e.Name, e.Regarding.Name,
		string(e.Regarding.UID), resourceVersion(e), e.Generation, now, eventTime(e), e.Type,
		e.Reason, e.Action, e.Note, e.ReportingController, e.ReportingInstance}
}

func sortedStrings(s []string) []string {
	sort.Strings(s)
	return s
}
