package progress

import (
	"fmt"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
)

var t0 = time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)

func container(conds ...metav1.Condition) *lxcv1.LXCContainer {
	return &lxcv1.LXCContainer{Status: lxcv1.LXCContainerStatus{Conditions: conds}}
}

func cond(typ string, status metav1.ConditionStatus, reason string, at time.Time) metav1.Condition {
	return metav1.Condition{Type: typ, Status: status, Reason: reason, Message: typ + " " + reason,
		LastTransitionTime: metav1.NewTime(at)}
}

func summary(steps []Step) string {
	s := ""
	for _, st := range steps {
		s += fmt.Sprintf("%s %d %v %s %s; ", st.Name, st.Percent, st.Done, st.Type, st.At.Sub(t0))
	}
	return s
}

func TestOf(t *testing.T) {
	tr, fa := metav1.ConditionTrue, metav1.ConditionFalse
	for _, tc := range []struct {
		name string
		c    *lxcv1.LXCContainer
		want string
	}{
		{"never reconciled", container(), ""},
		{"waiting to be created", container(cond(lxcv1.ReadyCondition, fa, "DependencyNotReady", t0)),
			"creating 5 false started 0s; "},
		{"running scripts", container(
			cond(lxcv1.ContainerCreatedCondition, tr, "Succeeded", t0),
			cond(lxcv1.ContainerStartedCondition, tr, "Succeeded", t0.Add(4*time.Second)),
			cond(lxcv1.ConfigManagerDeployedCondition, tr, "Succeeded", t0.Add(9*time.Second)),
			cond(lxcv1.ScriptsCompletedCondition, fa, "ScriptRunning", t0.Add(10*time.Second))),
			"creating 20 true created 0s; starting 35 true started 4s; deploying 60 true started 9s; syncing 65 false started 10s; "},
		{"phases done within one second stay in order", container(
			cond(lxcv1.ContainerCreatedCondition, tr, "Succeeded", t0),
			cond(lxcv1.ContainerStartedCondition, tr, "Succeeded", t0),
			cond(lxcv1.ConfigManagerDeployedCondition, fa, "SSHUnreachable", t0)),
			"creating 20 true created 0s; starting 35 true started 1ms; deploying 40 false started 2ms; "},
		{"a later phase's old condition is not shown", container(
			cond(lxcv1.ContainerCreatedCondition, tr, "Succeeded", t0),
			cond(lxcv1.ContainerStartedCondition, fa, "Restarting", t0.Add(time.Hour)),
			cond(lxcv1.ScriptsCompletedCondition, tr, "Succeeded", t0.Add(time.Minute))),
			"creating 20 true created 0s; starting 25 false started 1h0m0s; "},
		{"all done", container(
			cond(lxcv1.ContainerCreatedCondition, tr, "Succeeded", t0),
			cond(lxcv1.ContainerStartedCondition, tr, "Succeeded", t0.Add(time.Second)),
			cond(lxcv1.ConfigManagerDeployedCondition, tr, "Succeeded", t0.Add(2*time.Second)),
			cond(lxcv1.ScriptsCompletedCondition, tr, "Succeeded", t0.Add(3*time.Second)),
			cond(lxcv1.ServicesDiscoveredCondition, tr, "Succeeded", t0.Add(4*time.Second))),
			"creating 20 true created 0s; starting 35 true started 1s; deploying 60 true started 2s; syncing 90 true script_completed 3s; finalizing 98 true service_ready 4s; "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := summary(Of(tc.c)); got != tc.want {
				t.Errorf("Of:\n got %s\nwant %s", got, tc.want)
			}
		})
	}
}
