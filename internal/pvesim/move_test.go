package pvesim_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"templatemanager.dev/lxc-template-manager/internal/pvesim"
	"templatemanager.dev/lxc-template-manager/internal/pvesim/fake"
	"templatemanager.dev/lxc-template-manager/internal/pvesim/pvesimtest"
)

// movingBackend is the fake backend with volumes per node: it records what the simulator asks
// of a Mover, and fails a copy when told to.
type movingBackend struct {
	*fake.Backend
	mu       sync.Mutex
	calls    []string
	failCopy bool
}

func (b *movingBackend) CopyVolumes(_ context.Context, vmid int, target string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.calls = append(b.calls, fmt.Sprintf("copy %d to %s", vmid, target))
	if b.failCopy {
		return errors.New("no space left on device")
	}
	return nil
}

func (b *movingBackend) FreeVolumes(_ context.Context, vmid int, node string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.calls = append(b.calls, fmt.Sprintf("free %d on %s", vmid, node))
	return nil
}

func (b *movingBackend) Reconfigure(ctx context.Context, spec pvesim.ContainerSpec) error {
	b.mu.Lock()
	b.calls = append(b.calls, fmt.Sprintf("reconfigure %d on %s", spec.VMID, spec.Node))
	b.mu.Unlock()
	return b.Backend.Reconfigure(ctx, spec)
}

func (b *movingBackend) taken() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := b.calls
	b.calls = nil
	return out
}

// TestMigrateMovesVolumes: with a backend that keeps volumes per node, a migration copies them
// to the target before the config moves and frees the source's after (pve-container
// src/PVE/LXC/Migrate.pm phase1 and phase3); a failed copy aborts the migration with PVE's
// message, and the CT stays, running again, on the source with its volumes untouched.
func TestMigrateMovesVolumes(t *testing.T) {
	b := &movingBackend{}
	sim := pvesimtest.Start(t, pvesimtest.WithNodes("pve1", "pve2"), pvesimtest.WithTaskDuration(10*time.Millisecond),
		pvesimtest.WithBackendFunc(func(string) (pvesim.Backend, error) {
			fb, err := fake.New(fake.Options{})
			b.Backend = fb
			return b, err
		}))
	createCT(t, sim, "pve1", 100, nil)
	waitTask(t, sim, "pve1", call(t, sim, "POST", "/nodes/pve1/lxc/100/status/start", nil), "OK")
	b.taken()

	b.failCopy = true
	upid := waitTask(t, sim, "pve1", call(t, sim, "POST", "/nodes/pve1/lxc/100/migrate", map[string]any{"target": "pve2", "restart": 1}),
		"migration aborted: storage migration for 'local-lvm:vm-100-disk-0' to storage 'local-lvm' failed - no space left on device")
	if calls := b.taken(); len(calls) == 0 || calls[0] != "copy 100 to pve2" ||
		slices.ContainsFunc(calls, func(c string) bool { return c == "reconfigure 100 on pve2" || c == "free 100 on pve1" }) {
		t.Errorf("a failed copy: backend calls %q; want the copy, and neither the move nor a free", calls)
	}
	lines := taskLines(t, sim, "pve1", upid)
	for _, w := range []string{"aborting phase 1 - cleanup resources", "start final cleanup", "start container on source node"} {
		if !slices.Contains(lines, w) {
			t.Errorf("task log of the failed copy lacks %q:\n%q", w, lines)
		}
	}
	var st struct {
		Status string `json:"status"`
	}
	call(t, sim, "GET", "/nodes/pve1/lxc/100/status/current", nil).data(t, &st)
	if conf := configOf(t, sim, "pve1", 100); st.Status != "running" || conf["lock"] != nil {
		t.Fatalf("after a failed copy the CT on pve1 is %s with lock %v", st.Status, conf["lock"])
	}

	b.failCopy = false
	waitTask(t, sim, "pve1", call(t, sim, "POST", "/nodes/pve1/lxc/100/migrate", map[string]any{"target": "pve2", "restart": 1}), "OK")
	want := []string{"copy 100 to pve2", "reconfigure 100 on pve2", "free 100 on pve1"}
	if calls := b.taken(); len(calls) < 3 || !slices.Equal(calls[:3], want) {
		t.Errorf("a migration: backend calls %q, want %q first", calls, want)
	}
}

// TestMigrateRefusesSnapshots: a CT with a snapshot on lvmthin storage does not migrate
// (Migrate.pm phase1: "non-migratable snapshot exists" for any storage but zfspool and btrfs).
func TestMigrateRefusesSnapshots(t *testing.T) {
	sim := pvesimtest.Start(t, pvesimtest.WithNodes("pve1", "pve2"), pvesimtest.WithTaskDuration(10*time.Millisecond))
	createCT(t, sim, "pve1", 100, nil)
	waitTask(t, sim, "pve1", call(t, sim, "POST", "/nodes/pve1/lxc/100/snapshot", map[string]any{"snapname": "before"}), "OK")
	upid := waitTask(t, sim, "pve1", call(t, sim, "POST", "/nodes/pve1/lxc/100/migrate", map[string]any{"target": "pve2"}),
		"migration aborted: can't migrate CT - check log")
	if lines := taskLines(t, sim, "pve1", upid); !slices.Contains(lines, "can't migrate local volume 'local-lvm:vm-100-disk-0': non-migratable snapshot exists") {
		t.Errorf("task log: %q", lines)
	}
	if conf := configOf(t, sim, "pve1", 100); conf["lock"] != nil {
		t.Errorf("the CT keeps the lock %v", conf["lock"])
	}
}
