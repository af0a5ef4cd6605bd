package outcome

import (
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/fluxcd/pkg/runtime/conditions"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
)

func TestSummarize(t *testing.T) {
	backoff := [2]time.Duration{RetryBase, RetryBase + time.Duration(RetryJitter*float64(RetryBase))}
	cases := []struct {
		name                 string
		obj                  Object
		err                  error
		ready                metav1.ConditionStatus
		reason               string
		reconciling, stalled bool
		observed             int64
		requeueAfter         [2]time.Duration // the range it must fall in
		returnsErr           bool
		attempts             int32
	}{
		{"success", container(), nil, metav1.ConditionTrue, lxcv1.SucceededReason, false, false, 3, [2]time.Duration{time.Minute, time.Minute}, false, 0},
		{"stall", container(), Stall(lxcv1.VMIDConflictReason, "taken"), metav1.ConditionFalse, lxcv1.VMIDConflictReason, false, true, 3, [2]time.Duration{time.Minute, time.Minute}, false, 0},
		{"wait", container(), Wait(5*time.Second, lxcv1.CreatingReason, "creating"), metav1.ConditionFalse, lxcv1.CreatingReason, true, false, 1, [2]time.Duration{5 * time.Second, 5 * time.Second}, false, 0},
		{"failure backs off", container(), Failed(lxcv1.TaskFailedReason, errors.New("boom")), metav1.ConditionFalse, lxcv1.TaskFailedReason, true, false, 1, backoff, false, 1},
		{"plain error backs off", container(), errors.New("boom"), metav1.ConditionFalse, FailedReason, true, false, 1, backoff, false, 1},
		{"failure of a kind without a retry record", bucket(), Failed(lxcv1.TaskFailedReason, errors.New("boom")), metav1.ConditionFalse, lxcv1.TaskFailedReason, true, false, 1, [2]time.Duration{}, true, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			obj := tc.obj
			// A previous outcome must not linger.
			conditions.MarkStalled(obj, "Old", "old")
			conditions.MarkReconciling(obj, "Old", "old")
			res, err := Summarize(obj, "all good", tc.err, time.Minute)
			if (err != nil) != tc.returnsErr {
				t.Errorf("returned error %v", err)
			}
			if res.RequeueAfter < tc.requeueAfter[0] || res.RequeueAfter > tc.requeueAfter[1] {
				t.Errorf("requeueAfter %s, want %s to %s", res.RequeueAfter, tc.requeueAfter[0], tc.requeueAfter[1])
			}
			c := conditions.Get(obj, lxcv1.ReadyCondition)
			if c == nil || c.Status != tc.ready || c.Reason != tc.reason {
				t.Errorf("Ready = %+v, want %s/%s", c, tc.ready, tc.reason)
			}
			if conditions.Has(obj, lxcv1.ReconcilingCondition) != tc.reconciling || conditions.Has(obj, lxcv1.StalledCondition) != tc.stalled {
				t.Errorf("Reconciling present %v, Stalled present %v", conditions.Has(obj, lxcv1.ReconcilingCondition), conditions.Has(obj, lxcv1.StalledCondition))
			}
			if g := observedGeneration(obj); g != tc.observed {
				t.Errorf("observedGeneration %d, want %d", g, tc.observed)
			}
			if ro, ok := obj.(Retrying); ok {
				var attempts int32
				if r := ro.GetRetry(); r != nil {
					attempts = r.Attempts
				}
				if attempts != tc.attempts {
					t.Errorf("attempts %d, want %d", attempts, tc.attempts)
				}
				if tc.attempts > 0 && !strings.Contains(c.Message, "attempt 1, next in 2s") {
					t.Errorf("Ready message %q does not say which attempt failed and when the next comes", c.Message)
				}
			}
		})
	}
}

func container() *lxcv1.LXCContainer {
	obj := &lxcv1.LXCContainer{ObjectMeta: metav1.ObjectMeta{Generation: 3}}
	obj.Status.ObservedGeneration = 1
	return obj
}

func bucket() *lxcv1.PackageBucket {
	obj := &lxcv1.PackageBucket{ObjectMeta: metav1.ObjectMeta{Generation: 3}}
	obj.Status.ObservedGeneration = 1
	return obj
}

func observedGeneration(obj Object) int64 {
	switch o := obj.(type) {
	case *lxcv1.LXCContainer:
		return o.Status.ObservedGeneration
	case *lxcv1.PackageBucket:
		return o.Status.ObservedGeneration
	}
	return -1
}

func TestEventNoteFitsTheEventsAPI(t *testing.T) {
	short := "CT 100 created"
	if EventNote(short) != short {
		t.Errorf("a short note changed: %q", EventNote(short))
	}
	long := strings.Repeat("é", 2000) // two bytes each: a cut in the middle would break a rune
	got := EventNote(long)
	if len(got) > maxEventNote || !utf8.ValidString(got) || !strings.HasSuffix(got, "…") {
		t.Errorf("note of %d bytes, valid UTF-8 %v", len(got), utf8.ValidString(got))
	}
}
