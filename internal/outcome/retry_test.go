package outcome

import (
	"errors"
	"fmt"
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
	want := RetryBase
	for attempts := int32(1); attempts <= 12; attempts++ {
		for range 50 {
			d := RetryDelay(attempts, RetryCap)
			if d < want || d > want+time.Duration(RetryJitter*float64(want)) {
				t.Fatalf("attempt %d: delay %s, want %s plus at most %.0f%%", attempts, d, want, RetryJitter*100)
			}
		}
		want = min(want*2, RetryCap)
	}
}

func TestFailuresAreCountedUntilAChangeOrARequest(t *testing.T) {
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	obj := &lxcv1.LXCContainer{ObjectMeta: metav1.ObjectMeta{Generation: 2}}
	for i := int32(1); i <= 3; i++ {
		attempts, delay := CountFailure(obj, lxcv1.TaskFailedReason, now)
		if attempts != i {
			t.Fatalf("attempts %d, want %d", attempts, i)
		}
		if pending := RetryPending(obj, false, now); pending != delay {
			t.Fatalf("pending %s right after the failure, want the whole delay %s", pending, delay)
		}
		if pending := RetryPending(obj, false, now.Add(delay)); pending != 0 {
			t.Fatalf("pending %s once the delay passed", pending)
		}
	}
	if obj.Status.Retry.Reason != lxcv1.TaskFailedReason || obj.Status.Retry.Generation != 2 {
		t.Errorf("retry record %+v", obj.Status.Retry)
	}

	obj.Generation = 3
	if pending := RetryPending(obj, false, now); pending != 0 || obj.Status.Retry != nil {
		t.Errorf("a new generation kept the failures: pending %s, record %+v", pending, obj.Status.Retry)
	}
	if attempts, _ := CountFailure(obj, lxcv1.TaskFailedReason, now); attempts != 1 {
		t.Errorf("the first failure of a new generation is attempt %d", attempts)
	}
	if pending := RetryPending(obj, true, now); pending != 0 || obj.Status.Retry != nil {
		t.Errorf("a reconcile request kept the failures: pending %s, record %+v", pending, obj.Status.Retry)
	}

	CountFailure(obj, lxcv1.TaskFailedReason, now)
	if _, err := Summarize(obj, "ready", nil, time.Minute); err != nil || obj.Status.Retry != nil {
		t.Errorf("Ready kept the failures: %+v", obj.Status.Retry)
	}
	CountFailure(obj, lxcv1.TaskFailedReason, now)
	Summarize(obj, "", Wait(time.Second, lxcv1.StartingReason, "starting"), time.Minute)
	if obj.Status.Retry == nil || obj.Status.Retry.Attempts != 1 {
		t.Errorf("waiting in between forgot the failures: %+v", obj.Status.Retry)
	}
	Summarize(obj, "", Failed(lxcv1.TaskFailedReason, errors.New("again")), time.Minute)
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
	rec := WithShortNotes(sink).(*eventRecorder)
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
	if !rec.repeated(k, time.Now().Add(EventRepeatWindow/2)) {
		t.Error("a repeat inside the window went out")
	}
	if rec.repeated(k, time.Now().Add(EventRepeatWindow+time.Second)) {
		t.Error("a repeat after the window was held back")
	}
	if WithShortNotes(rec) != rec {
		t.Error("wrapping twice made a second recorder")
	}
}

// TestRequeueLimiterCapsTheWaitAfterAPIErrors: a reconcile that kept failing while the API
// server was away waits at most RequeueCap once it is back, not the 1000 s of the default.
func TestRequeueLimiterCapsTheWaitAfterAPIErrors(t *testing.T) {
	l := RequeueLimiter()
	req := reconcile.Request{NamespacedName: types.NamespacedName{Namespace: "ns", Name: "ct"}}
	if d := l.When(req); d > time.Second {
		t.Fatalf("first retry after %s, want a quick one (a conflict is re-read at once)", d)
	}
	var last time.Duration
	for range 40 {
		last = l.When(req)
	}
	if last != RequeueCap {
		t.Errorf("after 41 failures the wait is %s, want the cap %s", last, RequeueCap)
	}
	l.Forget(req)
	if d := l.When(req); d > time.Second {
		t.Errorf("after a success the next failure waits %s, want a quick retry again", d)
	}
}

// TestReleaseByClusterEndsTheWaitOfAnOutageOnce: a container failed by its cluster's outage
// tries again within RecoverySpread of the cluster's return to Ready, each container at its own
// moment; a failure of its own, or one after the cluster's return, keeps its back-off.
func TestReleaseByClusterEndsTheWaitOfAnOutageOnce(t *testing.T) {
	failed := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	back := failed.Add(time.Minute)
	next := failed.Add(5 * time.Minute)
	cluster := func(status metav1.ConditionStatus, since time.Time) *lxcv1.ProxmoxCluster {
		return &lxcv1.ProxmoxCluster{Status: lxcv1.ProxmoxClusterStatus{Conditions: []metav1.Condition{{
			Type: lxcv1.ReadyCondition, Status: status, Reason: lxcv1.SucceededReason, LastTransitionTime: metav1.NewTime(since)}}}}
	}
	container := func(uid, reason string) *lxcv1.LXCContainer {
		return &lxcv1.LXCContainer{ObjectMeta: metav1.ObjectMeta{UID: types.UID(uid)}, Status: lxcv1.LXCContainerStatus{
			Retry: &lxcv1.RetryStatus{Attempts: 9, Reason: reason, LastFailureTime: &metav1.Time{Time: failed}, NextAttemptTime: &metav1.Time{Time: next}}}}
	}
	for _, tc := range []struct {
		name     string
		reason   string
		cluster  *lxcv1.ProxmoxCluster
		released bool
	}{
		{"unreachable, cluster Ready again", lxcv1.UnreachableReason, cluster(metav1.ConditionTrue, back), true},
		{"Proxmox errors, cluster Ready again", lxcv1.ProxmoxErrorReason, cluster(metav1.ConditionTrue, back), true},
		{"unreachable, cluster still down", lxcv1.UnreachableReason, cluster(metav1.ConditionFalse, back), false},
		{"unreachable, cluster Ready since before the failure", lxcv1.UnreachableReason, cluster(metav1.ConditionTrue, failed.Add(-time.Minute)), false},
		{"a script failed", lxcv1.ScriptFailedReason, cluster(metav1.ConditionTrue, back), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := container("0b7e5c1a-uid", tc.reason)
			ReleaseByCluster(c, tc.cluster)
			got := c.Status.Retry.NextAttemptTime.Time
			switch {
			case tc.released && (got.Before(back) || !got.Before(back.Add(RecoverySpread))):
				t.Errorf("next attempt at %s, want within %s of the cluster's return at %s", got, RecoverySpread, back)
			case !tc.released && !got.Equal(next):
				t.Errorf("next attempt moved to %s, want it kept at %s", got, next)
			}
			if c.Status.Retry.Attempts != 9 {
				t.Errorf("attempts %d, want them kept at 9", c.Status.Retry.Attempts)
			}
		})
	}
	// The fleet comes back spread out, not in one second.
	seconds := map[int64]bool{}
	for i := range 50 {
		c := container(fmt.Sprintf("uid-%d", i), lxcv1.UnreachableReason)
		ReleaseByCluster(c, cluster(metav1.ConditionTrue, back))
		seconds[c.Status.Retry.NextAttemptTime.Unix()] = true
	}
	if len(seconds) < 10 {
		t.Errorf("50 containers released in only %d distinct seconds", len(seconds))
	}
}

// TestClusterBackOffStopsAtAMinute: a cluster down for long is still checked every minute or so,
// since its return to Ready is what releases its containers.
func TestClusterBackOffStopsAtAMinute(t *testing.T) {
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	cluster := &lxcv1.ProxmoxCluster{}
	container := &lxcv1.LXCContainer{}
	var clusterDelay, containerDelay time.Duration
	for range 20 {
		_, clusterDelay = CountFailure(cluster, lxcv1.UnreachableReason, now)
		_, containerDelay = CountFailure(container, lxcv1.UnreachableReason, now)
	}
	if clusterDelay < ClusterRetryCap || clusterDelay > ClusterRetryCap+time.Duration(RetryJitter*float64(ClusterRetryCap)) {
		t.Errorf("cluster's wait after 20 failures %s, want %s plus jitter", clusterDelay, ClusterRetryCap)
	}
	if containerDelay < RetryCap {
		t.Errorf("container's wait after 20 failures %s, want the container cap %s", containerDelay, RetryCap)
	}
}
