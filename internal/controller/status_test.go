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
	backoff := [2]time.Duration{retryBase, retryBase + time.Duration(retryJitter*float64(retryBase))}
	cases := []struct {
		name                 string
		obj                  conditionedObject
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
			res, err := summarize(obj, "all good", tc.err, time.Minute)
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
			if ro, ok := obj.(retrying); ok {
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

func observedGeneration(obj conditionedObject) int64 {
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
	if got, err := pickNode(nodes, "", nil); err != nil || got != "pve2" {
		t.Errorf("placement = %s, %v; want pve2 (most free memory among online, ties by name)", got, err)
	}
	if got, err := pickNode(nodes, "", map[string]string{"pve2": "no storage local-lvm"}); err != nil || got != "pve4" {
		t.Errorf("placement = %s, %v; want pve4 (pve2 is refused)", got, err)
	}
	if got, err := pickNode(nodes, "pve1", nil); err != nil || got != "pve1" {
		t.Errorf("requested node = %s, %v", got, err)
	}
	var wait *WaitError
	if _, err := pickNode(nodes, "pve3", nil); !errors.As(err, &wait) || wait.Reason != lxcv1.NoNodeAvailableReason {
		t.Errorf("an offline requested node: %v", err)
	}
	var stall *StallError
	if _, err := pickNode(nodes, "pve9", nil); !errors.As(err, &stall) {
		t.Errorf("an unknown node: %v", err)
	}
	if _, err := pickNode(nodes, "pve1", map[string]string{"pve1": "no OS template local:vztmpl/x.tar.zst"}); !errors.As(err, &stall) ||
		!strings.Contains(stall.Message, "node pve1 cannot take the container: no OS template") {
		t.Errorf("a refused requested node: %v", err)
	}
	if _, err := pickNode(nodes[2:3], "", nil); !errors.As(err, &wait) {
		t.Errorf("no online node: %v", err)
	}
	refused := map[string]string{"pve1": "storage local-lvm has 1 GiB free, the container needs 8 GiB", "pve2": "no storage local-lvm", "pve4": "3 MiB of memory free, the container needs 512 MiB"}
	_, err := pickNode(nodes, "", refused)
	if !errors.As(err, &stall) || stall.Reason != lxcv1.NoNodeAvailableReason {
		t.Fatalf("every node refused: %v", err)
	}
	for node, why := range refused {
		if !strings.Contains(stall.Message, node+": "+why) {
			t.Errorf("the stall does not say why %s was refused: %s", node, stall.Message)
		}
	}
}

func TestStorageRefusal(t *testing.T) {
	storages := []proxmox.Storage{
		{Name: "local", Content: []string{"vztmpl", "iso"}, Active: true, Enabled: true},
		{Name: "local-lvm", Content: []string{"rootdir", "images"}, Active: true, Enabled: true, Total: 100 << 30, Avail: 5 << 30},
		{Name: "nfs", Content: []string{"rootdir"}, Active: false, Enabled: true},
	}
	for _, c := range []struct {
		name, content string
		size          uint64
		want          string
	}{
		{"local-lvm", "rootdir", 4 << 30, ""},
		{"local-lvm", "rootdir", 8 << 30, "storage local-lvm has 5 GiB free, the container needs 8 GiB"},
		{"local", "vztmpl", 0, ""},
		{"local", "rootdir", 1 << 30, "storage local does not hold rootdir content"},
		{"nfs", "rootdir", 1 << 30, "storage nfs is not active"},
		{"ceph", "rootdir", 1 << 30, "no storage ceph"},
	} {
		if got := storageRefusal(storages, c.name, c.content, c.size); got != c.want {
			t.Errorf("storageRefusal(%s, %s, %d) = %q, want %q", c.name, c.content, c.size, got, c.want)
		}
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

func TestAdoptable(t *testing.T) {
	obj := &lxcv1.LXCContainer{ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "web", UID: "new",
		Annotations: map[string]string{lxcv1.AdoptAnnotation: "true"}}}
	obj.Spec.VMID = ptr(int32(120))
	for desc, want := range map[string]bool{
		"":           true, // made by hand: no marker
		"notes only": true,
		"lxctm-owner: team/web uid=old\nrestored":                      true,  // an earlier incarnation of this object
		"lxctm-owner: team/other uid=1":                                false, // another LXCContainer's
		"lxctm-owner: prod/web uid=old":                                false,
		"x\nlxctm-owner: team/web uid=old\nlxctm-owner: team/db uid=2": false,
	} {
		if got := adoptable(desc, obj); got != want {
			t.Errorf("adoptable(%q) = %v, want %v", desc, got, want)
		}
	}
	if adoptable("", &lxcv1.LXCContainer{ObjectMeta: obj.ObjectMeta}) {
		t.Error("adoptable without spec.vmid")
	}
	plain := obj.DeepCopy()
	plain.Annotations = nil
	if adoptable("", plain) {
		t.Error("adoptable without the annotation")
	}
}
