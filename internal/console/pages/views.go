package pages

import (
	"html"
	"html/template"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
)

// PhaseTypes are the five pipeline conditions in pipeline order.
var PhaseTypes = []string{
	lxcv1.ContainerCreatedCondition,
	lxcv1.ContainerStartedCondition,
	lxcv1.ConfigManagerDeployedCondition,
	lxcv1.ScriptsCompletedCondition,
	lxcv1.ServicesDiscoveredCondition,
}

// Condition is one condition as a page shows it; Status is Unknown when the condition is absent.
type Condition struct {
	Type, Status, Reason, Message string
	Since                         time.Time
}

// Phase is one step of the timeline.
type Phase struct {
	Condition
	// Duration is how long the phase took, or has been running, measured from the previous
	// phase's turn to True (the object's creation for the first); empty when unknown.
	Duration string
	Running  bool
	// Attempts are the failed attempts counted against this phase (status.retry).
	Attempts int32
	NextTry  time.Time
}

// Row is one container of a list.
type Row struct {
	Namespace, Name, Template, Node, Phase, IP, Ready, Reason string
	VMID                                                      int32
	Created                                                   time.Time
}

// RowOf makes the list row of c.
func RowOf(c *lxcv1.LXCContainer) Row {
	node := c.Status.Node
	if node == "" {
		node = c.Spec.Node
	}
	r := Row{Namespace: c.Namespace, Name: c.Name, Template: c.Spec.TemplateRef.Name, Node: node,
		Phase: c.Status.Phase, IP: c.Status.IPAddress, VMID: c.Status.VMID, Created: c.CreationTimestamp.Time, Ready: "Unknown"}
	if cond := apimeta.FindStatusCondition(c.Status.Conditions, lxcv1.ReadyCondition); cond != nil {
		r.Ready = string(cond.Status)
		if cond.Status != metav1.ConditionTrue {
			r.Reason = cond.Reason
		}
	}
	return r
}

func conditionOf(conds []metav1.Condition, typ string) Condition {
	c := apimeta.FindStatusCondition(conds, typ)
	if c == nil {
		return Condition{Type: typ, Status: string(metav1.ConditionUnknown)}
	}
	return Condition{Type: typ, Status: string(c.Status), Reason: c.Reason, Message: c.Message, Since: c.LastTransitionTime.Time}
}

// Progress is what the live stream re-renders of a container: timeline, phase, Ready, services.
type Progress struct {
	Namespace, Name string
	Phase           string
	Ready           Condition
	Reconciling     *Condition
	Stalled         *Condition
	Phases          []Phase
	Services        []lxcv1.DiscoveredService
	Scripts         []lxcv1.ScriptStatus
	Retry           *lxcv1.RetryStatus
	IP, Node        string
	VMID            int32
}

// ProgressOf reads c's status into a Progress at time now.
func ProgressOf(c *lxcv1.LXCContainer, now time.Time) Progress {
	p := Progress{Namespace: c.Namespace, Name: c.Name, Phase: c.Status.Phase,
		Ready: conditionOf(c.Status.Conditions, lxcv1.ReadyCondition), Services: c.Status.Services,
		Scripts: c.Status.Scripts, Retry: c.Status.Retry, IP: c.Status.IPAddress, Node: c.Status.Node, VMID: c.Status.VMID}
	if p.Phase == "" {
		p.Phase = "Pending"
	}
	for _, typ := range []string{lxcv1.ReconcilingCondition, lxcv1.StalledCondition} {
		if cond := apimeta.FindStatusCondition(c.Status.Conditions, typ); cond != nil && cond.Status == metav1.ConditionTrue {
			v := conditionOf(c.Status.Conditions, typ)
			if typ == lxcv1.StalledCondition {
				p.Stalled = &v
			} else {
				p.Reconciling = &v
			}
		}
	}
	start := c.CreationTimestamp.Time
	startKnown := !start.IsZero()
	failingMarked := false
	for _, typ := range PhaseTypes {
		ph := Phase{Condition: conditionOf(c.Status.Conditions, typ)}
		switch {
		case ph.Status == string(metav1.ConditionTrue):
			if startKnown && !ph.Since.Before(start) {
				ph.Duration = Duration(ph.Since.Sub(start))
			}
			start, startKnown = ph.Since, !ph.Since.IsZero()
		default:
			if startKnown && !now.Before(start) {
				ph.Duration = Duration(now.Sub(start))
				ph.Running = true
			}
			startKnown = false // later phases have not started
			if !failingMarked && c.Status.Retry != nil && c.Status.Retry.Attempts > 0 {
				ph.Attempts = c.Status.Retry.Attempts
				if c.Status.Retry.NextAttemptTime != nil {
					ph.NextTry = c.Status.Retry.NextAttemptTime.Time
				}
			}
			failingMarked = true
		}
		p.Phases = append(p.Phases, ph)
	}
	return p
}

// Event is one Event about an object.
type Event struct {
	Type, Reason, Message, Source string
	Count                         int32
	Last                          time.Time
}

// EventsOf sorts events newest first.
func EventsOf(list []corev1.Event) []Event {
	out := make([]Event, 0, len(list))
	for _, e := range list {
		last := e.LastTimestamp.Time
		if last.IsZero() {
			last = e.EventTime.Time
		}
		if last.IsZero() {
			last = e.CreationTimestamp.Time
		}
		src := e.ReportingController
		if src == "" {
			src = e.Source.Component
		}
		count := e.Count
		if e.Series != nil && e.Series.Count > count {
			count = e.Series.Count
		}
		if count == 0 {
			count = 1
		}
		out = append(out, Event{Type: e.Type, Reason: e.Reason, Message: e.Message, Source: src, Count: count, Last: last})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Last.After(out[j].Last) })
	return out
}

// Attention is a container the overview lists first: stalled, or failing and retrying.
type Attention struct {
	Row
	Why, Message string
	Attempts     int32
}

// AttentionOf says whether c needs attention and why.
func AttentionOf(c *lxcv1.LXCContainer) (Attention, bool) {
	a := Attention{Row: RowOf(c)}
	if s := apimeta.FindStatusCondition(c.Status.Conditions, lxcv1.StalledCondition); s != nil && s.Status == metav1.ConditionTrue {
		a.Why, a.Message = "Stalled: "+s.Reason, s.Message
		return a, true
	}
	if r := c.Status.Retry; r != nil && r.Attempts > 0 {
		a.Why, a.Attempts = "Failing: "+r.Reason, r.Attempts
		if ready := apimeta.FindStatusCondition(c.Status.Conditions, lxcv1.ReadyCondition); ready != nil {
			a.Message = ready.Message
		}
		return a, true
	}
	return a, false
}

// Matches says whether the row passes a list's filters; q matches name, IP, node or template.
func (r Row) Matches(template, node, phase, q string) bool {
	if template != "" && r.Template != template {
		return false
	}
	if node != "" && r.Node != node {
		return false
	}
	if phase != "" && !strings.EqualFold(r.Phase, phase) {
		return false
	}
	if q != "" {
		q = strings.ToLower(q)
		for _, s := range []string{r.Name, r.Namespace, r.IP, r.Node, r.Template} {
			if strings.Contains(strings.ToLower(s), q) {
				return true
			}
		}
		return false
	}
	return true
}

// HTML is the row's table row. Written by hand rather than by html/template, whose contextual
// escaping of each value made a list of 1,000 rows several times slower; every value is
// escaped here for the one context it appears in.
func (r Row) HTML() template.HTML {
	var b strings.Builder
	b.Grow(512)
	r.write(&b)
	return template.HTML(b.String())
}

// RowsHTML is the rows of a list, in order.
func RowsHTML(rows []Row) template.HTML {
	var b strings.Builder
	b.Grow(len(rows) * 400)
	for _, r := range rows {
		r.write(&b)
	}
	return template.HTML(b.String())
}

func (r Row) write(b *strings.Builder) {
	esc := html.EscapeString
	href := "/containers/" + url.PathEscape(r.Namespace) + "/" + url.PathEscape(r.Name)
	b.WriteString(`<tr data-testid="container-row" data-namespace="`)
	b.WriteString(esc(r.Namespace))
	b.WriteString(`" data-name="`)
	b.WriteString(esc(r.Name))
	b.WriteString(`"><td>`)
	b.WriteString(esc(r.Namespace))
	b.WriteString(`</td><td><a href="`)
	b.WriteString(esc(href))
	b.WriteString(`">`)
	b.WriteString(esc(r.Name))
	b.WriteString(`</a></td><td>`)
	b.WriteString(esc(r.Template))
	b.WriteString(`</td><td>`)
	b.WriteString(esc(r.Node))
	b.WriteString(`</td><td>`)
	if r.VMID != 0 {
		b.WriteString(strconv.Itoa(int(r.VMID)))
	}
	b.WriteString(`</td><td><span class="phase">`)
	b.WriteString(esc(r.Phase))
	b.WriteString(`</span></td><td class="ready-`)
	b.WriteString(esc(r.Ready))
	b.WriteString(`">`)
	b.WriteString(esc(r.Ready))
	if r.Reason != "" {
		b.WriteString(` <small>(`)
		b.WriteString(esc(r.Reason))
		b.WriteString(`)</small>`)
	}
	b.WriteString(`</td><td>`)
	b.WriteString(esc(r.IP))
	b.WriteString(`</td><td>`)
	b.WriteString(esc(Ago(r.Created)))
	b.WriteString("</td></tr>\n")
}
