package progressfeed

import (
	"strings"
	"time"

	eventsv1 "k8s.io/api/events/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
	"templatemanager.dev/lxc-template-manager/internal/progress"
)

// stepTexts stand in for a phase condition without a message: while the step runs, once done.
var stepTexts = map[string][2]string{
	progress.StepCreating:   {"Creating the container", "Container created"},
	progress.StepStarting:   {"Starting the container", "Container started"},
	progress.StepDeploying:  {"Deploying the config manager", "Config manager deployed"},
	progress.StepSyncing:    {"Running the provisioning scripts", "Provisioning scripts completed"},
	progress.StepFinalizing: {"Discovering services", "Services discovered"},
}

type stepState struct {
	name string
	done bool
}

// containerMessages are what the page learns from a container's change from old to new, seen
// at: each step new has reached and old had not, then complete when Ready turned True, then
// error when Stalled did.
func containerMessages(old, new *lxcv1.LXCContainer, at time.Time) []Message {
	had := map[stepState]bool{}
	for _, s := range progress.Of(old) {
		had[stepState{s.Name, s.Done}] = true
	}
	ts := Timestamp(at)
	var msgs []Message
	for _, s := range progress.Of(new) {
		if had[stepState{s.Name, s.Done}] {
			continue
		}
		text := s.Message
		if text == "" {
			text = stepTexts[s.Name][0]
			if s.Done {
				text = stepTexts[s.Name][1]
			}
		}
		msgs = append(msgs, Message{Type: TypeStep, Step: s.Name, Percent: ptr.To(s.Percent), Message: text, Timestamp: ts})
	}
	if ready := turnedTrue(old, new, lxcv1.ReadyCondition); ready != nil {
		text := ready.Message
		if text == "" {
			text = "Container ready"
		}
		msgs = append(msgs, Message{Type: TypeComplete, Percent: ptr.To(100), Message: text, Timestamp: ts})
	}
	if stalled := turnedTrue(old, new, lxcv1.StalledCondition); stalled != nil {
		msgs = append(msgs, Message{Type: TypeError, Message: stalled.Reason + ": " + stalled.Message, Timestamp: ts})
	}
	return msgs
}

// turnedTrue returns new's condition of type t when it is True there and was not in old.
func turnedTrue(old, new *lxcv1.LXCContainer, t string) *metav1.Condition {
	c := apimeta.FindStatusCondition(new.Status.Conditions, t)
	if c == nil || c.Status != metav1.ConditionTrue || apimeta.IsStatusConditionTrue(old.Status.Conditions, t) {
		return nil
	}
	return c
}

// eventMessage is the log line of an Event about a container, with the container's uid; ok is
// false for an Event about anything else (a kind of that name in another API group included).
func eventMessage(e *eventsv1.Event, at time.Time) (uid types.UID, msg Message, ok bool) {
	if e.Regarding.Kind != "LXCContainer" || !strings.HasPrefix(e.Regarding.APIVersion, lxcv1.GroupVersion.Group+"/") ||
		e.Regarding.UID == "" {
		return "", Message{}, false
	}
	text := e.Reason
	if e.Note != "" {
		text += ": " + e.Note
	}
	return e.Regarding.UID, Message{Type: TypeLog, Message: text, Timestamp: Timestamp(at)}, true
}
