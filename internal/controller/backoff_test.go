package controller

import (
	"errors"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
)

func TestRetryDelayDoublesToTheCapWithJitter(t *testing.T) {
	want := retryBase
	for attempts := int32(1); attempts <= 12; attempts++ {
		for range 50 {
			d := retryDelay(attempts)
			if d < want || d > want+time.Duration(retryJitter*float64(want)) {
				t.Fatalf("attempt %d: delay %s, want %s plus at most %.0f%%", attempts, d, want, retryJitter*100)
			}
		}
		want = min(want*2, retryCap)
	}
}

func TestFailuresAreCountedUntilAChangeOrARequest(t *testing.T) {
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	obj := &lxcv1.LXCContainer{ObjectMeta: metav1.ObjectMeta{Generation: 2}}
	for i := int32(1); i <= 3; i++ {
		attempts, delay := countFailure(obj, lxcv1.TaskFailedReason, now)
		if attempts != i {
			t.Fatalf("attempts %d, want %d", attempts, i)
		}
		if pending := retryPending(obj, false, now); pending != delay {
			t.Fatalf("pending %s right after the failure, want the whole delay %s", pending, delay)
		}
		if pending := retryPending(obj, false, now.Add(delay)); pending != 0 {
			t.Fatalf("pending %s once the delay passed", pending)
		}
	}
	if obj.Status.Retry.Reason != lxcv1.TaskFailedReason || obj.Status.Retry.Generation != 2 {
		t.Errorf("retry record %+v", obj.Status.Retry)
	}

	obj.Generation = 3
	if pending := retryPending(obj, false, now); pending != 0 || obj.Status.Retry != nil {
		t.Errorf("a new generation kept the failures: pending %s, record %+v", pending, obj.Status.Retry)
	}
	if attempts, _ := countFailure(obj, lxcv1.TaskFailedReason, now); attempts != 1 {
		t.Errorf("the first failure of a new generation is attempt %d", attempts)
	}
	if pending := retryPending(obj, true, now); pending != 0 || obj.Status.Retry != nil {
		t.Errorf("a reconcile request kept the failures: pending %s, record %+v", pending, obj.Status.Retry)
	}

	countFailure(obj, lxcv1.TaskFailedReason, now)
	if _, err := summarize(obj, "ready", nil, time.Minute); err != nil || obj.Status.Retry != nil {
		t.Errorf("Ready kept the failures: %+v", obj.Status.Retry)
	}
	countFailure(obj, lxcv1.TaskFailedReason, now)
	summarize(obj, "", Wait(time.Second, lxcv1.StartingReason, "starting"), time.Minute)
	if obj.Status.Retry == nil || obj.Status.Retry.Attempts != 1 {
		t.Errorf("waiting in between forgot the failures: %+v", obj.Status.Retry)
	}
	summarize(obj, "", Failed(lxcv1.TaskFailedReason, errors.New("again")), time.Minute)
	if obj.Status.Retry.Attempts != 2 {
		t.Errorf("a failure after a wait is attempt %d, want 2", obj.Status.Retry.Attempts)
	}
}

// countingRecorder counts what reaches the events API.
type countingRecorder struct{ notes []string }

func (c *countingRecorder) Eventf(_, _ runtime.Object, _, reason, _, note string, args ...interface{}) {
	c.notes = append(c.notes, reason)
}

var _ events.EventRecorder = (*countingRecorder)(nil)

func TestRepeatedEventsAreHeldBack(t *testing.T) {
	sink := &countingRecorder{}
	rec := withShortNotes(sink).(*eventRecorder)
	a := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "a", UID: types.UID("a")}}
	b := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "b", UID: types.UID("b")}}
	for range 5 {
		rec.Eventf(a, nil, corev1.EventTypeWarning, lxcv1.TaskFailedReason, "Start", "task vzstart: %s", "failed")
	}
	rec.Eventf(a, nil, corev1.EventTypeWarning, lxcv1.TaskFailedReason, "Start", "task vzstart: %s", "other error")
	rec.Eventf(b, nil, corev1.EventTypeWarning, lxcv1.TaskFailedReason, "Start", "task vzstart: %s", "failed")
	if len(sink.notes) != 3 {
		t.Fatalf("%d Events reached the API, want 3 (one per distinct note and object)", len(sink.notes))
	}
	k := eventKey{uid: "a", eventtype: corev1.EventTypeWarning, reason: lxcv1.TaskFailedReason, action: "Start", note: "task vzstart: failed"}
	if !rec.repeated(k, time.Now().Add(eventRepeatWindow/2)) {
		t.Error("a repeat inside the window went out")
	}
	if rec.repeated(k, time.Now().Add(eventRepeatWindow+time.Second)) {
		t.Error("a repeat after the window was held back")
	}
	if withShortNotes(rec) != rec {
		t.Error("wrapping twice made a second recorder")
	}
}

// TestRequeueLimiterCapsTheWaitAfterAPIErrors: a reconcile that kept failing while the API
// server was away waits at most requeueCap once it is back, not the 1000 s of the default.
func TestRequeueLimiterCapsTheWaitAfterAPIErrors(t *testing.T) {
	l := requeueLimiter()
	req := reconcile.Request{NamespacedName: types.NamespacedName{Namespace: "ns", Name: "ct"}}
	if d := l.When(req); d > time.Second {
		t.Fatalf("first retry after %s, want a quick one (a conflict is re-read at once)", d)
	}
	var last time.Duration
	for range 40 {
		last = l.When(req)
	}
	if last != requeueCap {
		t.Errorf("after 41 failures the wait is %s, want the cap %s", last, requeueCap)
	}
	l.Forget(req)
	if d := l.When(req); d > time.Second {
		t.Errorf("after a success the next failure waits %s, want a quick retry again", d)
	}
}
