package outcome

import (
	"context"

	"github.com/fluxcd/pkg/runtime/conditions"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
)

// Patcher writes an object's status once, at the end of a reconcile, in one request, and emits
// an Event when Ready changes. One request matters: a client that sees Ready=True (kubectl
// wait, Flux, Argo CD) must see the rest of the status that goes with it.
type Patcher struct {
	client   client.Client
	recorder events.EventRecorder
	base     client.Object
	before   *metav1.Condition
}

// NewPatcher remembers obj as read, to patch the differences from it.
func NewPatcher(obj Object, c client.Client, recorder events.EventRecorder) *Patcher {
	var before *metav1.Condition
	if cond := conditions.Get(obj, lxcv1.ReadyCondition); cond != nil {
		before = cond.DeepCopy()
	}
	return &Patcher{client: c, recorder: recorder, base: obj.DeepCopyObject().(client.Object), before: before}
}

// Checkpoint sends what changed since the last write, mid-reconcile: metadata (finalizers)
// through the object, or status through its subresource. Each is a merge patch of the
// differences only.
func (p *Patcher) Checkpoint(ctx context.Context, obj Object, status bool) error {
	var err error
	if status {
		err = p.client.Status().Patch(ctx, obj, client.MergeFrom(p.base))
	} else {
		err = p.client.Patch(ctx, obj, client.MergeFrom(p.base))
	}
	if err != nil {
		return err
	}
	p.base = obj.DeepCopyObject().(client.Object)
	return nil
}

// The actions of the Events that report a change of Ready: what the controller does next.
const (
	// ActionReconcile: Ready became True.
	ActionReconcile = "Reconcile"
	// ActionRetry: a failure, tried again on the back-off schedule.
	ActionRetry = "Retry"
	// ActionStall: a stall; nothing is tried again until the spec or what it references changes.
	ActionStall = "Stall"
)

// Patch writes obj's status and reports a change of Ready as an Event with the condition's
// reason: Normal on becoming Ready, Warning on a stall or a failure, its action saying which
// (ActionReconcile, ActionStall, ActionRetry). Waiting is progress, not news.
func (p *Patcher) Patch(ctx context.Context, obj Object, recErr error) error {
	if err := p.Checkpoint(ctx, obj, true); err != nil {
		return client.IgnoreNotFound(err)
	}
	after := conditions.Get(obj, lxcv1.ReadyCondition)
	if after == nil || (p.before != nil && p.before.Status == after.Status && p.before.Reason == after.Reason) {
		return nil
	}
	if Of(recErr).Kind == Waiting {
		return nil
	}
	eventType, action := corev1.EventTypeNormal, ActionReconcile
	if after.Status != metav1.ConditionTrue {
		eventType, action = corev1.EventTypeWarning, ActionRetry
		if Of(recErr).Kind == Stalled {
			action = ActionStall
		}
	}
	note := after.Message
	if action == ActionRetry && recErr != nil {
		// Ready counts the attempts; the Event says only what failed, so that an attempt
		// failing the same way again says it word for word and is held back as a repeat
		// (EventRepeatWindow), even when the attempts waited on a task in between.
		note = Of(recErr).Message
	}
	p.recorder.Eventf(obj, nil, eventType, after.Reason, action, "%s", note)
	p.before = after.DeepCopy()
	return nil
}
