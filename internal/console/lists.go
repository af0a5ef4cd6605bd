package console

import (
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
	"templatemanager.dev/lxc-template-manager/internal/console/kube"
	"templatemanager.dev/lxc-template-manager/internal/console/pages"
)

// Filters are a list page's query-string filters.
type Filters struct {
	Action                              string
	Namespace, Template, Node, Phase, Q string
	ShowContainerFilters                bool
}

func filtersOf(r *http.Request, action string) Filters {
	q := r.URL.Query()
	return Filters{Action: action, Namespace: q.Get("namespace"), Template: q.Get("template"), Node: q.Get("node"),
		Phase: q.Get("phase"), Q: q.Get("q"), ShowContainerFilters: true}
}

// list lists into obj in namespace ns ("" = all). A user who may not list across namespaces
// gets their own ServiceAccount's namespace instead; the namespace listed is returned.
func (s *Server) list(rq *request, obj client.ObjectList, ns string) (string, error) {
	err := rq.user.Client.List(rq.ctx, obj, client.InNamespace(ns))
	if ns == "" && apierrors.IsForbidden(err) && rq.user.Home != "" {
		ns = rq.user.Home
		err = rq.user.Client.List(rq.ctx, obj, client.InNamespace(ns))
	}
	return ns, err
}

// listPage lists for a page: the namespace listed, and the API server's words when the list
// failed, to show on the page. A refused token ends the session instead (ok false: the
// response is written).
func (s *Server) listPage(rq *request, obj client.ObjectList, ns string) (listed, problem string, ok bool) {
	listed, err := s.list(rq, obj, ns)
	if err == nil {
		return listed, "", true
	}
	if apierrors.IsUnauthorized(err) {
		s.expired(rq.w, rq.r, rq.sess)
		return listed, "", false
	}
	return listed, kube.Message(err), true
}

type containersView struct {
	Filters Filters
	Rows    []pages.Row
	Error   string
}

func (s *Server) containers(rq *request) {
	f := filtersOf(rq.r, "/containers")
	var list lxcv1.LXCContainerList
	ns, problem, ok := s.listPage(rq, &list, f.Namespace)
	if !ok {
		return
	}
	v := containersView{Filters: f, Error: problem}
	v.Filters.Namespace = ns
	v.Rows = make([]pages.Row, 0, len(list.Items))
	for i := range list.Items {
		row := pages.RowOf(&list.Items[i])
		if row.Matches(f.Template, f.Node, f.Phase, f.Q) {
			v.Rows = append(v.Rows, row)
		}
	}
	sort.Slice(v.Rows, func(i, j int) bool {
		if v.Rows[i].Namespace != v.Rows[j].Namespace {
			return v.Rows[i].Namespace < v.Rows[j].Namespace
		}
		return v.Rows[i].Name < v.Rows[j].Name
	})
	p := s.page(rq, "Containers", v)
	p.Live = "/live?" + url.Values{"namespace": {ns}}.Encode()
	pages.Render(rq.w, http.StatusOK, "containers", p)
}

type phaseCount struct {
	Phase, Query string
	Count        int
}

type clusterView struct {
	lxcv1.ProxmoxCluster
	Ready pages.Condition
}

type overviewView struct {
	Filters      Filters
	ByPhase      []phaseCount
	Attention    []pages.Attention
	Clusters     []clusterView
	Error        string
	ClusterError string
}

func (s *Server) overview(rq *request) {
	f := Filters{Action: "/", Namespace: rq.r.URL.Query().Get("namespace")}
	var list lxcv1.LXCContainerList
	ns, problem, ok := s.listPage(rq, &list, f.Namespace)
	if !ok {
		return
	}
	f.Namespace = ns
	v := overviewView{Filters: f, Error: problem}
	counts := map[string]int{}
	for i := range list.Items {
		c := &list.Items[i]
		phase := c.Status.Phase
		if phase == "" {
			phase = "Pending"
		}
		counts[phase]++
		if a, ok := pages.AttentionOf(c); ok {
			v.Attention = append(v.Attention, a)
		}
	}
	for phase, n := range counts {
		q := url.Values{"phase": {phase}}
		if ns != "" {
			q.Set("namespace", ns)
		}
		v.ByPhase = append(v.ByPhase, phaseCount{Phase: phase, Count: n, Query: q.Encode()})
	}
	sort.Slice(v.ByPhase, func(i, j int) bool { return v.ByPhase[i].Phase < v.ByPhase[j].Phase })
	// Stalled before failing, then by name.
	sort.SliceStable(v.Attention, func(i, j int) bool {
		si, sj := strings.HasPrefix(v.Attention[i].Why, "Stalled"), strings.HasPrefix(v.Attention[j].Why, "Stalled")
		if si != sj {
			return si
		}
		return v.Attention[i].Namespace+"/"+v.Attention[i].Name < v.Attention[j].Namespace+"/"+v.Attention[j].Name
	})
	var clusters lxcv1.ProxmoxClusterList
	if err := rq.user.Client.List(rq.ctx, &clusters); err != nil {
		v.ClusterError = "Clusters: " + kube.Message(err)
	}
	for _, c := range clusters.Items {
		cv := clusterView{ProxmoxCluster: c, Ready: pages.Condition{Status: string(metav1.ConditionUnknown)}}
		if cond := apimeta.FindStatusCondition(c.Status.Conditions, lxcv1.ReadyCondition); cond != nil {
			cv.Ready = pages.Condition{Type: cond.Type, Status: string(cond.Status), Reason: cond.Reason, Message: cond.Message}
		}
		v.Clusters = append(v.Clusters, cv)
	}
	p := s.page(rq, "Overview", v)
	p.Live = "/live?" + url.Values{"namespace": {ns}, "view": {"overview"}}.Encode()
	pages.Render(rq.w, http.StatusOK, "overview", p)
}

// TemplateRow is one template of the list with its section counts.
type TemplateRow struct {
	Namespace, Name, Description, OSTemplate, Ready string
	Tags                                            []string
	Scripts, Files, Packages                        int
	UsedBy                                          int32
}

type templatesView struct {
	Namespace, Tag, Error string
	Tags                  []string
	Rows                  []TemplateRow
}

// bucketPackages counts the packages of each bucket by namespace/name.
func bucketPackages(buckets []lxcv1.PackageBucket) map[types.NamespacedName]int {
	m := make(map[types.NamespacedName]int, len(buckets))
	for _, b := range buckets {
		m[types.NamespacedName{Namespace: b.Namespace, Name: b.Name}] = len(b.Spec.Packages)
	}
	return m
}

// PackageCount is the number of packages a template installs: its inline lists and the
// packages of the buckets it references.
func PackageCount(t *lxcv1.LXCTemplate, buckets map[types.NamespacedName]int) int {
	n := 0
	for _, l := range t.Spec.Packages {
		n += len(l.Names)
	}
	for _, ref := range t.Spec.PackageBucketRefs {
		n += buckets[types.NamespacedName{Namespace: t.Namespace, Name: ref.Name}]
	}
	return n
}

func (s *Server) templates(rq *request) {
	q := rq.r.URL.Query()
	v := templatesView{Namespace: q.Get("namespace"), Tag: q.Get("tag")}
	var list lxcv1.LXCTemplateList
	ns, problem, ok := s.listPage(rq, &list, v.Namespace)
	if !ok {
		return
	}
	v.Namespace, v.Error = ns, problem
	var buckets lxcv1.PackageBucketList
	if _, err := s.list(rq, &buckets, ns); err != nil && v.Error == "" {
		v.Error = "Package buckets (counts leave them out): " + kube.Message(err)
	}
	counts := bucketPackages(buckets.Items)
	tags := map[string]bool{}
	for i := range list.Items {
		t := &list.Items[i]
		row := TemplateRow{Namespace: t.Namespace, Name: t.Name, Description: t.Spec.Description, OSTemplate: t.Spec.OSTemplate,
			Scripts: len(t.Spec.Scripts), Files: len(t.Spec.Files), Packages: PackageCount(t, counts), UsedBy: t.Status.UsedBy, Ready: "Unknown"}
		if cond := apimeta.FindStatusCondition(t.Status.Conditions, lxcv1.ReadyCondition); cond != nil {
			row.Ready = string(cond.Status)
		}
		match := v.Tag == ""
		for _, tag := range t.Spec.Tags {
			row.Tags = append(row.Tags, string(tag))
			tags[string(tag)] = true
			if string(tag) == v.Tag {
				match = true
			}
		}
		if match {
			v.Rows = append(v.Rows, row)
		}
	}
	for tag := range tags {
		v.Tags = append(v.Tags, tag)
	}
	sort.Strings(v.Tags)
	sort.Slice(v.Rows, func(i, j int) bool {
		return v.Rows[i].Namespace+"/"+v.Rows[i].Name < v.Rows[j].Namespace+"/"+v.Rows[j].Name
	})
	pages.Render(rq.w, http.StatusOK, "templates", s.page(rq, "Templates", v))
}

// BucketRef is a bucket a template references, as its detail page lists it.
type BucketRef struct {
	Name     string
	Manager  lxcv1.PackageManager
	Packages []lxcv1.PackageName
	Missing  bool
}

type templateView struct {
	T            *lxcv1.LXCTemplate
	Ready        pages.Condition
	Buckets      []BucketRef
	PackageCount int
}

func (s *Server) template(rq *request) {
	key := client.ObjectKey{Namespace: rq.r.PathValue("ns"), Name: rq.r.PathValue("name")}
	t := &lxcv1.LXCTemplate{}
	if err := rq.user.Client.Get(rq.ctx, key, t); err != nil {
		s.fail(rq, "Template "+key.String(), err)
		return
	}
	v := templateView{T: t, Ready: pages.Condition{Status: string(metav1.ConditionUnknown)}}
	if cond := apimeta.FindStatusCondition(t.Status.Conditions, lxcv1.ReadyCondition); cond != nil {
		v.Ready = pages.Condition{Status: string(cond.Status), Reason: cond.Reason, Message: cond.Message}
	}
	for _, l := range t.Spec.Packages {
		v.PackageCount += len(l.Names)
	}
	for _, ref := range t.Spec.PackageBucketRefs {
		b := &lxcv1.PackageBucket{}
		br := BucketRef{Name: ref.Name}
		if err := rq.user.Client.Get(rq.ctx, client.ObjectKey{Namespace: t.Namespace, Name: ref.Name}, b); err != nil {
			br.Missing = true
		} else {
			br.Manager, br.Packages = b.Spec.Manager, b.Spec.Packages
			v.PackageCount += len(b.Spec.Packages)
		}
		v.Buckets = append(v.Buckets, br)
	}
	pages.Render(rq.w, http.StatusOK, "template", s.page(rq, fmt.Sprintf("Template %s", key), v))
}

type bucketsView struct {
	Namespace, Error string
	Buckets          []lxcv1.PackageBucket
}

func (s *Server) buckets(rq *request) {
	v := bucketsView{Namespace: rq.r.URL.Query().Get("namespace")}
	var list lxcv1.PackageBucketList
	ns, problem, ok := s.listPage(rq, &list, v.Namespace)
	if !ok {
		return
	}
	v.Namespace, v.Error = ns, problem
	v.Buckets = list.Items
	sort.Slice(v.Buckets, func(i, j int) bool {
		return v.Buckets[i].Namespace+"/"+v.Buckets[i].Name < v.Buckets[j].Namespace+"/"+v.Buckets[j].Name
	})
	pages.Render(rq.w, http.StatusOK, "buckets", s.page(rq, "Package buckets", v))
}

func (s *Server) bucket(rq *request) {
	key := client.ObjectKey{Namespace: rq.r.PathValue("ns"), Name: rq.r.PathValue("name")}
	b := &lxcv1.PackageBucket{}
	if err := rq.user.Client.Get(rq.ctx, key, b); err != nil {
		s.fail(rq, "Package bucket "+key.String(), err)
		return
	}
	pages.Render(rq.w, http.StatusOK, "bucket", s.page(rq, "Package bucket "+key.String(), b))
}
