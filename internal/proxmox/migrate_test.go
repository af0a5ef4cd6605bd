package proxmox

import (
	"testing"
	"time"

	"templatemanager.dev/lxc-template-manager/internal/pvesim/pvesimtest"
)

// TestSimulatorMigrate moves a running container to another node by a restart migration: the
// task succeeds, the cluster-wide list and the config show it on the target, running.
func TestSimulatorMigrate(t *testing.T) {
	sim := pvesimtest.Start(t, pvesimtest.WithNodes("pve1", "pve2"), pvesimtest.WithTaskDuration(10*time.Millisecond))
	c := newSimClient(t, sim, nil)
	ctx := testContext(t, time.Minute)
	upid, err := c.CreateContainer(ctx, "pve1", createSpec(100))
	waitTaskOK(t, ctx, c, upid, err, "create")
	upid, err = c.StartContainer(ctx, "pve1", 100)
	waitTaskOK(t, ctx, c, upid, err, "start")

	upid, err = c.MigrateContainer(ctx, "pve1", 100, MigrateOptions{Target: "pve2", Restart: true, TargetStorage: "local-lvm", Timeout: 30 * time.Second})
	waitTaskOK(t, ctx, c, upid, err, "migrate")
	if _, err := c.ContainerConfig(ctx, "pve1", 100); err == nil {
		t.Fatal("the config is still on pve1")
	}
	st, err := c.ContainerStatus(ctx, "pve2", 100)
	if err != nil || !st.Running() {
		t.Fatalf("on pve2: %+v, %v", st, err)
	}
	guests, err := c.Guests(ctx)
	if err != nil || len(guests) != 1 || guests[0].Node != "pve2" {
		t.Fatalf("guests: %+v, %v", guests, err)
	}
	// A running container without restart is refused before any task starts.
	if _, err := c.MigrateContainer(ctx, "pve2", 100, MigrateOptions{Target: "pve1"}); err == nil {
		t.Fatal("migrating a running container without restart was accepted")
	}
}
