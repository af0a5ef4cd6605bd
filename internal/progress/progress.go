// Package progress tells a container's provisioning as the original dashboard's progress page
// reads it: five steps (creating, starting, deploying, syncing, finalizing), each with a
// percentage, then complete or error. Both the status mirror (the rows the page replays) and
// the live feed (the messages it follows) take the steps from here, so the two never disagree.
package progress

import (
	"time"

	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
)

// The dashboard's step names, in pipeline order.
const (
	StepCreating   = "creating"
	StepStarting   = "starting"
	StepDeploying  = "deploying"
	StepSyncing    = "syncing"
	StepFinalizing = "finalizing"
)

// phase is one of the five pipeline phases as a dashboard step: the condition that records it,
// the percentage shown while it runs and once it is done (the original's scale), and the
// dashboard's event type of its completion.
type phase struct {
	condition, step   string
	started, finished int
	doneType          string
}

var phases = []phase{
	{lxcv1.ContainerCreatedCondition, StepCreating, 5, 20, "created"},
	{lxcv1.ContainerStartedCondition, StepStarting, 25, 35, "started"},
	{lxcv1.ConfigManagerDeployedCondition, StepDeploying, 40, 60, "started"},
	{lxcv1.ScriptsCompletedCondition, StepSyncing, 65, 90, "script_completed"},
	{lxcv1.ServicesDiscoveredCondition, StepFinalizing, 92, 98, "service_ready"},
}

// Step is how far one phase got.
type Step struct {
	// Name is the dashboard's step name.
	Name string `json:"step"`
	// Percent is the whole pipeline's progress at this step.
	Percent int `json:"percent"`
	// Done is true once the phase finished; false while it runs (or waits, or failed).
	Done bool `json:"done"`
	// Type is the dashboard's event type for the step: the phase's own once done, started
	// while it runs.
	Type string `json:"type"`
	// Condition and Reason are the phase condition's type and reason.
	Condition string `json:"condition"`
	Reason    string `json:"reason"`
	// Message is the phase condition's message.
	Message string `json:"message"`
	// At is when the step got here: the condition's last transition.
	At time.Time `json:"at"`
}

// Of returns the container's steps in pipeline order: every phase done so far, then the phase
// running now, if any. A phase after the running one is not reported, even if its condition is
// left from an earlier run: the page would tick it.
func Of(c *lxcv1.LXCContainer) []Step {
	var steps []Step
	var last time.Time
	for i, p := range phases {
		cond := apimeta.FindStatusCondition(c.Status.Conditions, p.condition)
		if cond == nil {
			if i == 0 {
				if ready := apimeta.FindStatusCondition(c.Status.Conditions, lxcv1.ReadyCondition); ready != nil &&
					ready.Status != metav1.ConditionTrue && c.DeletionTimestamp == nil {
					// Reconciled, not created yet (waiting for a cluster, a template, a node).
					steps = append(steps, running(p, ready))
				}
			}
			break
		}
		if cond.Status != metav1.ConditionTrue {
			steps = append(steps, after(last, running(p, cond)))
			break
		}
		s := after(last, Step{Name: p.step, Percent: p.finished, Done: true, Type: p.doneType,
			Condition: p.condition, Reason: cond.Reason, Message: cond.Message, At: cond.LastTransitionTime.Time})
		steps = append(steps, s)
		last = s.At
	}
	return steps
}

// after keeps the steps in order in time: conditions record whole seconds, so phases done
// within one second would tie, and the page takes its current step from the newest row. A
// step no later than the one before it moves to a millisecond after it (as does the older
// condition of a phase that runs again).
func after(last time.Time, s Step) Step {
	if !last.IsZero() && !s.At.After(last) {
		s.At = last.Add(time.Millisecond)
	}
	return s
}

func running(p phase, cond *metav1.Condition) Step {
	return Step{Name: p.step, Percent: p.started, Type: "started", Condition: p.condition,
		Reason: cond.Reason, Message: cond.Message, At: cond.LastTransitionTime.Time}
}
