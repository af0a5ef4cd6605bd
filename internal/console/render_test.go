package console

import (
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
	"templatemanager.dev/lxc-template-manager/internal/console/pages"
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
