package proxmox

import (
	"errors"
	"testing"
	"time"

	"templatemanager.dev/lxc-template-manager/internal/pvesim"
	"templatemanager.dev/lxc-template-manager/internal/pvesim/pvesimtest"
	"templatemanager.dev/lxc-template-manager/internal/testkit"
)

// TestSimulatorSnapshots takes, lists, rolls back and deletes snapshots, and checks the
// snapshot feature: a root filesystem on local-lvm has it, one on local (raw files in a
// directory) has not, and its snapshot fails in the task.
func TestSimulatorSnapshots(t *testing.T) {
	sim := pvesimtest.Start(t)
	c := newSimClient(t, sim, nil)
	ctx := testContext(t, time.Minute)
	upid, err := c.CreateContainer(ctx, "pve1", createSpec(100))
	waitTaskOK(t, ctx, c, upid, err, "create on local-lvm")
	onDir := createSpec(101)
	onDir.Storage = "local"
	upid, err = c.CreateContainer(ctx, "pve1", onDir)
	waitTaskOK(t, ctx, c, upid, err, "create on local")

	for vmid, want := range map[int]bool{100: true, 101: false} {
		if got, err := c.HasFeature(ctx, "pve1", vmid, "snapshot"); err != nil || got != want {
			t.Errorf("HasFeature(%d, snapshot) = %v, %v; want %v", vmid, got, err, want)
		}
	}
	if got, err := c.HasFeature(ctx, "pve1", 100, "copy"); err != nil || !got {
		t.Errorf("HasFeature(100, copy) = %v, %v", got, err)
	}

	upid, err = c.CreateSnapshot(ctx, "pve1", 100, "first", "before the upgrade")
	waitTaskOK(t, ctx, c, upid, err, "snapshot first")
	upid, err = c.CreateSnapshot(ctx, "pve1", 100, "second", "")
	waitTaskOK(t, ctx, c, upid, err, "snapshot second")
	snaps, err := c.Snapshots(ctx, "pve1", 100)
	if err != nil || len(snaps) != 2 {
		t.Fatalf("snapshots: %+v, %v", snaps, err)
	}
	if s := snaps[0]; s.Name != "first" || s.Description != "before the upgrade" || s.Parent != "" || time.Since(s.Time) > time.Minute {
		t.Errorf("first: %+v", s)
	}
	if s := snaps[1]; s.Name != "second" || s.Parent != "first" {
		t.Errorf("second: %+v", s)
	}

	upid, err = c.RollbackSnapshot(ctx, "pve1", 100, "first", true)
	waitTaskOK(t, ctx, c, upid, err, "rollback")
	if st, err := c.ContainerStatus(ctx, "pve1", 100); err != nil || !st.Running() {
		t.Errorf("after rollback with start: %+v, %v", st, err)
	}
	upid, err = c.DeleteSnapshot(ctx, "pve1", 100, "second")
	waitTaskOK(t, ctx, c, upid, err, "delete second")
	resetCounters(sim)
	if upid, err := c.DeleteSnapshot(ctx, "pve1", 100, "second"); !errors.Is(err, ErrNotFound) || upid != "" {
		t.Errorf("deleting a missing snapshot: %q, %v", upid, err)
	}
	simCount(t, sim, "DELETE /nodes/{node}/lxc/{vmid}/snapshot/{snapname}", 0)
	if snaps, err := c.Snapshots(ctx, "pve1", 100); err != nil || len(snaps) != 1 || snaps[0].Name != "first" {
		t.Errorf("after delete: %+v, %v", snaps, err)
	}

	upid, err = c.CreateSnapshot(ctx, "pve1", 101, "first", "")
	if err != nil {
		t.Fatal(err)
	}
	st := testkit.WaitTask(t, ctx, c, upid)
	if st.Succeeded() || st.ExitStatus != "snapshot feature is not available" || !errors.Is(st.Err(), ErrTaskFailed) {
		t.Errorf("snapshot on local: %+v", st)
	}

	// Taking a snapshot twice would fail the second time: a dropped request is not resent.
	resetCounters(sim)
	sim.Fault(t, pvesim.FaultRule{Kind: pvesim.FaultDrop, Endpoint: "POST /nodes/{node}/lxc/{vmid}/snapshot", Count: 1})
	if _, err := c.CreateSnapshot(ctx, "pve1", 100, "third", ""); !errors.Is(err, ErrUnreachable) || !IsOutcomeUnknown(err) {
		t.Errorf("snapshot with a dropped connection: %v", err)
	}
	simCount(t, sim, "POST /nodes/{node}/lxc/{vmid}/snapshot", 1)
}
