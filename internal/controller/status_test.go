package controller

import (
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/fluxcd/pkg/runtime/conditions"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
	"templatemanager.dev/lxc-template-manager/internal/proxmox"
)

func TestSummarize(t *testing.T) {
	cases := []struct {
		name                 string
		err                  error
		ready                metav1.ConditionStatus
		reason               string
		reconciling, stalled bool
		observed             int64
		requeueAfter         time.Duration
		returnsErr           bool
	}{
		{"success", nil, metav1.ConditionTrue, lxcv1.SucceededReason, false, false, 3, time.Minute, false},
		{"stall", Stall(lxcv1.VMIDConflictReason, "taken"), metav1.ConditionFalse, lxcv1.VMIDConflictReason, false, true, 3, time.Minute, false},
		{"wait", Wait(5*time.Second, lxcv1.CreatingReason, "creating"), metav1.ConditionFalse, lxcv1.CreatingReason, true, false, 1, 5 * time.Second, false},
		{"failure", Failed(lxcv1.TaskFailedReason, errors.New("boom")), metav1.ConditionFalse, lxcv1.TaskFailedReason, true, false, 1, 0, true},
		{"plain error", errors.New("boom"), metav1.ConditionFalse, FailedReason, true, false, 1, 0, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			obj := &lxcv1.LXCContainer{ObjectMeta: metav1.ObjectMeta{Generation: 3}}
			obj.Status.ObservedGeneration = 1
			// A previous outcome must not linger.
			conditions.MarkStalled(obj, "Old", "old")
			conditions.MarkReconciling(obj, "Old", "old")
			res, err := summarize(obj, "all good", tc.err, time.Minute)
			if (err != nil) != tc.returnsErr {
				t.Errorf("returned error %v", err)
			}
			if res.RequeueAfter != tc.requeueAfter {
				t.Errorf("requeueAfter %s, want %s", res.RequeueAfter, tc.requeueAfter)
			}
			c := conditions.Get(obj, lxcv1.ReadyCondition)
			if c == nil || c.Status != tc.ready || c.Reason != tc.reason {
				t.Errorf("Ready = %+v, want %s/%s", c, tc.ready, tc.reason)
			}
			if conditions.Has(obj, lxcv1.ReconcilingCondition) != tc.reconciling || conditions.Has(obj, lxcv1.StalledCondition) != tc.stalled {
				t.Errorf("Reconciling present %v, Stalled present %v", conditions.Has(obj, lxcv1.ReconcilingCondition), conditions.Has(obj, lxcv1.StalledCondition))
			}
			if obj.Status.ObservedGeneration != tc.observed {
				t.Errorf("observedGeneration %d, want %d", obj.Status.ObservedGeneration, tc.observed)
			}
		})
	}
}

func TestEventNoteFitsTheEventsAPI(t *testing.T) {
	short := "CT 100 created"
	if eventNote(short) != short {
		t.Errorf("a short note changed: %q", eventNote(short))
	}
	long := strings.Repeat("é", 2000) // two bytes each: a cut in the middle would break a rune
	got := eventNote(long)
	if len(got) > maxEventNote || !utf8.ValidString(got) || !strings.HasSuffix(got, "…") {
		t.Errorf("note of %d bytes, valid UTF-8 %v", len(got), utf8.ValidString(got))
	}
}

func TestPickNode(t *testing.T) {
	nodes := []proxmox.Node{
		{Name: "pve1", Status: "online", FreeMemory: 4 << 30},
		{Name: "pve2", Status: "online", FreeMemory: 8 << 30},
		{Name: "pve3", Status: "offline", FreeMemory: 64 << 30},
		{Name: "pve4", Status: "online", FreeMemory: 8 << 30},
	}
	if got, err := pickNode(nodes, ""); err != nil || got != "pve2" {
		t.Errorf("placement = %s, %v; want pve2 (most free memory among online, ties by name)", got, err)
	}
	if got, err := pickNode(nodes, "pve1"); err != nil || got != "pve1" {
		t.Errorf("requested node = %s, %v", got, err)
	}
	var wait *WaitError
	if _, err := pickNode(nodes, "pve3"); !errors.As(err, &wait) || wait.Reason != lxcv1.NoNodeAvailableReason {
		t.Errorf("an offline requested node: %v", err)
	}
	var stall *StallError
	if _, err := pickNode(nodes, "pve9"); !errors.As(err, &stall) {
		t.Errorf("an unknown node: %v", err)
	}
	if _, err := pickNode(nodes[2:3], ""); !errors.As(err, &wait) {
		t.Errorf("no online node: %v", err)
	}
}

func TestOwnedBy(t *testing.T) {
	obj := &lxcv1.LXCContainer{ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "web", UID: "1234"}}
	for desc, want := range map[string]bool{
		"lxctm-owner: team/web uid=1234":                         true,
		"notes\nlxctm-owner: team/web uid=1234\nmore":            true,
		"lxctm-owner: team/web uid=9999":                         false, // an earlier object of the same name
		"lxctm-owner: team/web uid=12345":                        false,
		"someone wrote lxctm-owner: team/web uid=1234 in a note": false,
		"": false,
	} {
		if got := ownedBy(desc, obj); got != want {
			t.Errorf("ownedBy(%q) = %v, want %v", desc, got, want)
		}
	}
}
