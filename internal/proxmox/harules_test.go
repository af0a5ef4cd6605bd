package proxmox

import (
	"errors"
	"testing"
	"time"

	"templatemanager.dev/lxc-template-manager/internal/pvesim/pvesimtest"
)

// TestSimulatorHARules: a node-affinity rule made, read back with its nodes and priorities,
// updated with its digest (a stale one is ErrConflict) and enabled again, deleted (twice is no
// error); a rule for a guest that is not an HA resource is refused.
func TestSimulatorHARules(t *testing.T) {
	sim := pvesimtest.Start(t, pvesimtest.WithNodes("pve1", "pve2"), pvesimtest.WithTaskDuration(10*time.Millisecond))
	ctx := testContext(t, time.Minute)
	c := newSimClient(t, sim, nil)
	upid, err := c.CreateContainer(ctx, "pve1", createSpec(100))
	waitTaskOK(t, ctx, c, upid, err, "create")

	want := HARule{ID: "lxctm-100", Resources: []string{"ct:100"}, Nodes: map[string]int{"pve1": 0, "pve2": 3}, Comment: "test"}
	if err := c.CreateHARule(ctx, want); err == nil {
		t.Fatal("a rule for a guest that is not an HA resource was made")
	}
	if err := c.CreateHAResource(ctx, 100, HAResource{State: "stopped"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.HARule(ctx, want.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("rule before create: %v, want ErrNotFound", err)
	}
	if err := c.CreateHARule(ctx, want); err != nil {
		t.Fatal(err)
	}
	r, err := c.HARule(ctx, want.ID)
	if err != nil || len(r.Resources) != 1 || r.Resources[0] != "ct:100" || r.Nodes["pve1"] != 0 || r.Nodes["pve2"] != 3 ||
		len(r.Nodes) != 2 || r.Strict || r.Disabled || r.Comment != "test" || r.Digest == "" {
		t.Fatalf("rule: %+v, %v", r, err)
	}
	stale := r
	r.Strict, r.Nodes = true, map[string]int{"pve2": 1}
	if err := c.UpdateHARule(ctx, r); err != nil {
		t.Fatal(err)
	}
	if err := c.UpdateHARule(ctx, stale); !errors.Is(err, ErrConflict) {
		t.Fatalf("update with a stale digest: %v, want ErrConflict", err)
	}
	if r, err = c.HARule(ctx, want.ID); err != nil || !r.Strict || len(r.Nodes) != 1 || r.Nodes["pve2"] != 1 {
		t.Fatalf("rule after update: %+v, %v", r, err)
	}
	for range 2 {
		if err := c.DeleteHARule(ctx, want.ID); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.HARule(ctx, want.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("rule after delete: %v, want ErrNotFound", err)
	}
}
