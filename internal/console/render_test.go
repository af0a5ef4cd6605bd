package console

import (
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
	"templatemanager.dev/lxc-template-manager/internal/console/pages"
	"templatemanager.dev/lxc-template-manager/internal/console/wizard"
)

func sampleContainer(t0 time.Time) *lxcv1.LXCContainer {
	cond := func(typ string, st metav1.ConditionStatus, reason string, at time.Time) metav1.Condition {
		return metav1.Condition{Type: typ, Status: st, Reason: reason, Message: typ + " " + reason, LastTransitionTime: metav1.NewTime(at)}
	}
	exit := int32(0)
	return &lxcv1.LXCContainer{
		ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "web-1", CreationTimestamp: metav1.NewTime(t0)},
		Spec:       lxcv1.LXCContainerSpec{ClusterRef: lxcv1.ClusterReference{Name: "pve"}, TemplateRef: lxcv1.LocalObjectReference{Name: "nginx"}},
		Status: lxcv1.LXCContainerStatus{
			Phase: "RunningScripts", Node: "pve1", VMID: 101, IPAddress: "169.254.10.5",
			Conditions: []metav1.Condition{
				cond(lxcv1.ContainerCreatedCondition, metav1.ConditionTrue, "Succeeded", t0.Add(10*time.Second)),
				cond(lxcv1.ContainerStartedCondition, metav1.ConditionTrue, "Succeeded", t0.Add(25*time.Second)),
				cond(lxcv1.ConfigManagerDeployedCondition, metav1.ConditionTrue, "Succeeded", t0.Add(40*time.Second)),
				cond(lxcv1.ScriptsCompletedCondition, metav1.ConditionFalse, "ScriptFailed", t0.Add(50*time.Second)),
				cond(lxcv1.ReadyCondition, metav1.ConditionFalse, "ScriptFailed", t0.Add(50*time.Second)),
			},
			Retry:    &lxcv1.RetryStatus{Attempts: 3, Reason: "ScriptFailed"},
			Scripts:  []lxcv1.ScriptStatus{{Name: "install", ExitCode: &exit, OutputTail: "<done>"}},
			Services: []lxcv1.DiscoveredService{{Name: "nginx", Port: 80, Protocol: "TCP", URL: "http://169.254.10.5:80"}},
		},
	}
}

// The detail page carries every element the browser tests find, with the status of each phase.
func TestContainerPageRendersTimeline(t *testing.T) {
	t0 := time.Now().Add(-time.Minute)
	c := sampleContainer(t0)
	v := detailView{C: c, Progress: pages.ProgressOf(c, t0.Add(time.Minute)), SpecYAML: "clusterRef:\n  name: pve\n",
		CanPatch: true, CanDelete: true, Actions: []string{"start", "stop", "restart", "reconcile"}}
	rec := httptest.NewRecorder()
	pages.Render(rec, 200, "container", pages.Page{Title: "x", User: "u", CSRF: "tok", Content: v, Live: "/containers/team-a/web-1/live"})
	body := rec.Body.String()
	for _, want := range []string{
		`data-testid="phase-ContainerCreated" data-status="True"`,
		`data-testid="phase-ScriptsCompleted" data-status="False"`,
		`data-testid="phase-ServicesDiscovered" data-status="Unknown"`,
		`data-testid="ready" data-status="False"`,
		`data-testid="phase" class="phase">RunningScripts<`,
		`<a data-testid="service-url" href="http://169.254.10.5:80">`,
		`data-testid="action-start"`, `data-testid="action-delete"`, `data-testid="spec-yaml"`, `data-testid="events"`,
		`3 failed attempts`, `&lt;done&gt;`, `>15s<`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("detail page lacks %s", want)
		}
	}
	if rec.Code != 200 {
		t.Fatalf("status %d: %s", rec.Code, body)
	}
}

// A user the API server would refuse gets no action buttons.
func TestContainerPageWithoutRightsHasNoButtons(t *testing.T) {
	c := sampleContainer(time.Now())
	v := detailView{C: c, Progress: pages.ProgressOf(c, time.Now()), Actions: []string{"start", "stop", "restart", "reconcile"}}
	rec := httptest.NewRecorder()
	pages.Render(rec, 200, "container", pages.Page{Title: "x", User: "u", Content: v})
	if strings.Contains(rec.Body.String(), `data-testid="action-`) {
		t.Fatal("a page without patch and delete rights shows action buttons")
	}
}

// Every page renders from its view model; the wizard carries its answers between steps.
func TestEveryPageRenders(t *testing.T) {
	c := sampleContainer(time.Now())
	tpl := &lxcv1.LXCTemplate{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "nginx"},
		Spec: lxcv1.LXCTemplateSpec{OSTemplate: "local:vztmpl/x.tar.zst", Tags: []lxcv1.Tag{"web"},
			PackageBucketRefs: []lxcv1.LocalObjectReference{{Name: "tools"}}, Scripts: []lxcv1.Script{{Name: "seed"}}}}
	a, _ := pages.AttentionOf(c)
	for name, content := range map[string]any{
		"overview":   overviewView{ByPhase: []phaseCount{{Phase: "Ready", Count: 2}}, Attention: []pages.Attention{a}, Clusters: []clusterView{{}}},
		"containers": containersView{Rows: []pages.Row{pages.RowOf(c)}},
		"templates":  templatesView{Rows: []TemplateRow{{Name: "nginx", Tags: []string{"web"}}}, Tags: []string{"web"}},
		"template":   templateView{T: tpl, Buckets: []BucketRef{{Name: "tools", Packages: []lxcv1.PackageName{"jq"}}}},
		"buckets":    bucketsView{Buckets: []lxcv1.PackageBucket{{}}},
		"bucket":     &lxcv1.PackageBucket{},
		"signin":     signinView{Expired: true, Next: "/"},
		"error":      "refused",
	} {
		rec := httptest.NewRecorder()
		pages.Render(rec, 200, name, pages.Page{Title: name, User: "u", Content: content})
		if rec.Code != 200 {
			t.Errorf("%s: %d %s", name, rec.Code, rec.Body.String())
		}
	}
	for step := 1; step <= 5; step++ {
		v := wizardView{Step: step, Steps: []string{"a", "b", "c", "d", "e"}, Template: tpl, CanCreate: true,
			Form: wizardForm(), Errors: map[string][]string{"cores": {"spec.resources.cores: too small"}}}
		v.Hidden = v.Form.Hidden(step)
		rec := httptest.NewRecorder()
		pages.Render(rec, 200, "wizard", pages.Page{Title: "wizard", User: "u", CSRF: "x", Content: v})
		body := rec.Body.String()
		if rec.Code != 200 {
			t.Fatalf("wizard step %d: %d %s", step, rec.Code, body)
		}
		if step != 2 && !strings.Contains(body, `type="hidden" name="cores" value="2"`) {
			t.Errorf("wizard step %d does not carry cores", step)
		}
		if step == 2 && !strings.Contains(body, `data-testid="field-error">spec.resources.cores: too small<`) {
			t.Errorf("wizard step 2 shows no field error")
		}
	}
}

func wizardForm() wizard.Form {
	return wizard.Form{Namespace: "team-a", Template: "nginx", Name: "web-1", Cluster: "pve", Cores: "2", Exclude: []string{"tools"}}
}

// The hand-written list row escapes what status may hold.
func TestRowEscapes(t *testing.T) {
	r := pages.Row{Namespace: "a", Name: "b", Phase: `<script>x</script>`, Reason: `"><img>`, Ready: "False"}
	got := string(r.HTML())
	if strings.Contains(got, "<script>") || strings.Contains(got, "<img>") || !strings.Contains(got, "&lt;script&gt;") {
		t.Fatalf("row %s", got)
	}
}
