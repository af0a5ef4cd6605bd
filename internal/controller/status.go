package controller

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/fluxcd/pkg/runtime/conditions"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
)

// conditionedObject is one of this project's kinds.
type conditionedObject interface {
	client.Object
	conditions.Setter
	SetObservedGeneration(int64)
}

// FailedReason is the Ready reason of an error that carries none of its own.
const FailedReason = "ReconcileFailed"

// summarize sets Ready, Reconciling and Stalled (kstatus polarity: the last two exist only while
// true) from how a reconcile ended, and moves observedGeneration when the generation is finished:
// Ready, or Stalled. It returns what controller-runtime should do next.
func summarize(obj conditionedObject, readyMessage string, recErr error, resync time.Duration) (ctrl.Result, error) {
	var stall *StallError
	var wait *WaitError
	ro, counted := obj.(retrying)
	switch {
	case recErr == nil:
		if counted {
			ro.SetRetry(nil)
		}
		conditions.MarkTrue(obj, lxcv1.ReadyCondition, lxcv1.SucceededReason, "%s", readyMessage)
		conditions.Delete(obj, lxcv1.ReconcilingCondition)
		conditions.Delete(obj, lxcv1.StalledCondition)
		obj.SetObservedGeneration(obj.GetGeneration())
		return ctrl.Result{RequeueAfter: resync}, nil
	case errors.As(recErr, &stall):
		if counted {
			ro.SetRetry(nil)
		}
		conditions.MarkFalse(obj, lxcv1.ReadyCondition, stall.Reason, "%s", stall.Message)
		conditions.MarkStalled(obj, stall.Reason, "%s", stall.Message)
		conditions.Delete(obj, lxcv1.ReconcilingCondition)
		obj.SetObservedGeneration(obj.GetGeneration())
		// A stalled object waits for a change, but references outside the watch (Proxmox itself)
		// can change too, so look again at the resync period.
		return ctrl.Result{RequeueAfter: resync}, nil
	case errors.As(recErr, &wait):
		conditions.MarkFalse(obj, lxcv1.ReadyCondition, wait.Reason, "%s", wait.Message)
		conditions.MarkReconciling(obj, wait.Reason, "%s", wait.Message)
		conditions.Delete(obj, lxcv1.StalledCondition)
		return ctrl.Result{RequeueAfter: wait.RequeueAfter}, nil
	case counted:
		// A failure is retried on the back-off schedule kept in status, not by the work
		// queue's rate limiter, which any successful poll in between would reset.
		reason := reasonOf(recErr, failedReason(recErr))
		attempts, delay := countFailure(ro, reason, time.Now())
		msg := fmt.Sprintf("%s (%s)", recErr.Error(), attemptNote(attempts, delay))
		conditions.MarkFalse(obj, lxcv1.ReadyCondition, reason, "%s", msg)
		conditions.MarkReconciling(obj, reason, "retrying: %s", msg)
		conditions.Delete(obj, lxcv1.StalledCondition)
		return ctrl.Result{RequeueAfter: delay}, nil
	default:
		reason := reasonOf(recErr, failedReason(recErr))
		conditions.MarkFalse(obj, lxcv1.ReadyCondition, reason, "%s", recErr.Error())
		conditions.MarkReconciling(obj, reason, "retrying: %s", recErr.Error())
		conditions.Delete(obj, lxcv1.StalledCondition)
		return ctrl.Result{}, recErr
	}
}

// statusPatcher writes an object's status once, at the end of a reconcile, in one request, and
// emits an Event when Ready changes. One request matters: a client that sees Ready=True (kubectl
// wait, Flux, Argo CD) must see the rest of the status that goes with it.
type statusPatcher struct {
	client   client.Client
	recorder events.EventRecorder
	base     client.Object
	before   *metav1.Condition
}

func newStatusPatcher(obj conditionedObject, c client.Client, recorder events.EventRecorder) *statusPatcher {
	var before *metav1.Condition
	if cond := conditions.Get(obj, lxcv1.ReadyCondition); cond != nil {
		before = cond.DeepCopy()
	}
	return &statusPatcher{client: c, recorder: recorder, base: obj.DeepCopyObject().(client.Object), before: before}
}

// patch sends what changed since the last write: metadata (finalizers) through the object,
// status through its subresource. Each is a merge patch of the differences only.
func (p *statusPatcher) patch(ctx context.Context, obj conditionedObject, status bool) error {
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

// Patch writes obj and reports a change of Ready as an Event with the condition's reason:
// Normal on becoming Ready, Warning on a stall or a failure. Waiting is progress, not news.
func (p *statusPatcher) Patch(ctx context.Context, obj conditionedObject, recErr error) error {
	if err := p.patch(ctx, obj, true); err != nil {
		return client.IgnoreNotFound(err)
	}
	after := conditions.Get(obj, lxcv1.ReadyCondition)
	if after == nil || (p.before != nil && p.before.Status == after.Status && p.before.Reason == after.Reason) {
		return nil
	}
	var wait *WaitError
	if errors.As(recErr, &wait) {
		return nil
	}
	eventType := corev1.EventTypeNormal
	if after.Status != metav1.ConditionTrue {
		eventType = corev1.EventTypeWarning
	}
	p.recorder.Eventf(obj, nil, eventType, after.Reason, "Reconcile", "%s", after.Message)
	p.before = after.DeepCopy()
	return nil
}

// maxEventNote is the longest note the events API accepts.
const maxEventNote = 1024

// eventNote shortens a message to fit an Event, keeping its start, which names what happened.
func eventNote(msg string) string {
	if len(msg) <= maxEventNote {
		return msg
	}
	cut := maxEventNote - len("…")
	for cut > 0 && !utf8.RuneStart(msg[cut]) {
		cut--
	}
	return msg[:cut] + "…"
}

// eventRepeatWindow is how long an Event identical to one already emitted for the same object is
// held back: a failure retried on the back-off schedule says so once, not on every attempt (the
// condition carries the attempt count).
const eventRepeatWindow = 10 * time.Minute

// eventRecorder shortens every note to what the events API accepts, so that no Event is lost
// for being too long, and drops repeats of an Event within eventRepeatWindow.
type eventRecorder struct {
	events.EventRecorder

	mu   sync.Mutex
	seen map[eventKey]time.Time
}

type eventKey struct {
	uid                       types.UID
	eventtype, reason, action string
	note                      string
}

// withShortNotes wraps r once.
func withShortNotes(r events.EventRecorder) events.EventRecorder {
	if _, ok := r.(*eventRecorder); ok || r == nil {
		return r
	}
	return &eventRecorder{EventRecorder: r, seen: map[eventKey]time.Time{}}
}

func (e *eventRecorder) Eventf(regarding, related runtime.Object, eventtype, reason, action, note string, args ...interface{}) {
	text := eventNote(fmt.Sprintf(note, args...))
	if m, ok := regarding.(metav1.Object); ok && e.repeated(eventKey{m.GetUID(), eventtype, reason, action, text}, time.Now()) {
		return
	}
	e.EventRecorder.Eventf(regarding, related, eventtype, reason, action, "%s", text)
}

// repeated records k and reports whether it was seen within the window.
func (e *eventRecorder) repeated(k eventKey, now time.Time) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if last, ok := e.seen[k]; ok && now.Sub(last) < eventRepeatWindow {
		return true
	}
	if len(e.seen) >= 4096 {
		for key, t := range e.seen {
			if now.Sub(t) >= eventRepeatWindow {
				delete(e.seen, key)
			}
		}
	}
	e.seen[k] = now
	return false
}
