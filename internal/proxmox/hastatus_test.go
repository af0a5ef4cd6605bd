package proxmox

import (
	"slices"
	"testing"
	"time"

	"templatemanager.dev/lxc-template-manager/internal/pvesim/pvesimtest"
)

// TestMaintenanceNodes reads the LRM entries as pve-ha-manager's API2/HA/Status.pm writes them.
func TestMaintenanceNodes(t *testing.T) {
	entries := []haStatusEntry{
		{ID: "quorum", Type: "quorum", Node: "pve1", Status: "OK"},
		{ID: "master", Type: "master", Node: "pve1", Status: "pve1 (active, Tue Jun 16 12:15:39 2026)"},
		{ID: "lrm:pve1", Type: "lrm", Node: "pve1", Status: "pve1 (active, watchdog active, Tue Jun 16 12:15:39 2026)"},
		{ID: "lrm:pve2", Type: "lrm", Node: "pve2", Status: "pve2 (maintenance mode, watchdog active, Tue Jun 16 12:15:39 2026)"},
		// An LRM whose status is old but whose mode is maintenance (a node shut down for it).
		{ID: "lrm:pve3", Type: "lrm", Node: "pve3", Status: "pve3 (maintenance mode, watchdog standby, Tue Jun 16 11:02:01 2026)"},
		{ID: "lrm:pve4", Type: "lrm", Node: "pve4", Status: "pve4 (unable to read lrm status)"},
		{ID: "lrm:pve5", Type: "lrm", Node: "pve5", Status: "pve5 (idle, watchdog standby, Tue Jun 16 12:15:39 2026)"},
		{ID: "service:ct:100", Type: "service", Node: "pve6", Status: "ct:100 (pve6, started)"},
	}
	if got := maintenanceNodes(entries); !slices.Equal(got, []string{"pve2", "pve3"}) {
		t.Errorf("maintenanceNodes = %v, want [pve2 pve3]", got)
	}
	if got := maintenanceNodes(entries[:1]); len(got) != 0 {
		t.Errorf("a cluster without a CRM: %v", got)
	}
}

// TestSimulatorMaintenanceNodes reads the nodes pvesim has in maintenance.
func TestSimulatorMaintenanceNodes(t *testing.T) {
	sim := pvesimtest.Start(t, pvesimtest.WithNodes("pve1", "pve2", "pve3"))
	c := newSimClient(t, sim, nil)
	ctx := testContext(t, 30*time.Second)
	if got, err := c.MaintenanceNodes(ctx); err != nil || len(got) != 0 {
		t.Fatalf("before maintenance: %v, %v", got, err)
	}
	for _, n := range []string{"pve3", "pve2"} {
		if err := sim.SetNodeMaintenance(n, true); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := c.MaintenanceNodes(ctx); err != nil || !slices.Equal(got, []string{"pve2", "pve3"}) {
		t.Fatalf("in maintenance: %v, %v; want [pve2 pve3]", got, err)
	}
	if err := sim.SetNodeMaintenance("pve3", false); err != nil {
		t.Fatal(err)
	}
	if got, err := c.MaintenanceNodes(ctx); err != nil || !slices.Equal(got, []string{"pve2"}) {
		t.Fatalf("after pve3 left maintenance: %v, %v; want [pve2]", got, err)
	}
	if n := c.requests("/cluster/ha/status/current", "GET", "200"); n != 3 {
		t.Errorf("%d requests counted for the HA status, want 3", n)
	}
}
