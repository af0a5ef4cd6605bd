package proxmox

import (
	"errors"
	"net/http"
	"net/url"
	"testing"
	"time"

	"templatemanager.dev/lxc-template-manager/internal/pvesim/pvesimtest"
)

// TestSimulatorHAAndPools: a container's HA resource created, read, updated with its digest
// (a stale one is ErrConflict) and deleted; pool membership joined at create, moved and left.
func TestSimulatorHAAndPools(t *testing.T) {
	sim := pvesimtest.Start(t, pvesimtest.WithTaskDuration(10*time.Millisecond))
	ctx := testContext(t, time.Minute)
	c := newSimClient(t, sim, nil)
	for _, p := range []string{"web", "db"} {
		if code, body := sim.Call(t, http.MethodPost, "/pools", url.Values{"poolid": {p}}); code != http.StatusOK {
			t.Fatalf("create pool %s: %d %s", p, code, body)
		}
	}
	spec := createSpec(100)
	spec.Pool = "web"
	upid, err := c.CreateContainer(ctx, "pve1", spec)
	waitTaskOK(t, ctx, c, upid, err, "create")

	if _, err := c.HAResource(ctx, 100); !errors.Is(err, ErrNotFound) {
		t.Fatalf("HA resource before create: %v, want ErrNotFound", err)
	}
	two := 2
	if err := c.CreateHAResource(ctx, 100, HAResource{State: "stopped", MaxRestart: &two}); err != nil {
		t.Fatal(err)
	}
	h, err := c.HAResource(ctx, 100)
	if err != nil || h.State != "stopped" || h.MaxRestart == nil || *h.MaxRestart != 2 || h.MaxRelocate != nil || h.Digest == "" {
		t.Fatalf("HA resource: %+v, %v", h, err)
	}
	stale := h
	h.State, h.MaxRestart = "started", nil
	if err := c.UpdateHAResource(ctx, 100, h); err != nil {
		t.Fatal(err)
	}
	if err := c.UpdateHAResource(ctx, 100, stale); !errors.Is(err, ErrConflict) {
		t.Fatalf("update with a stale digest: %v, want ErrConflict", err)
	}
	if h, err = c.HAResource(ctx, 100); err != nil || h.State != "started" || h.MaxRestart != nil {
		t.Fatalf("HA resource after update: %+v, %v", h, err)
	}
	if err := c.DeleteHAResource(ctx, 100); err != nil {
		t.Fatal(err)
	}

	if _, ok, err := c.PoolMembers(ctx, "nope"); ok || err != nil {
		t.Fatalf("missing pool: %v, %v", ok, err)
	}
	if m, ok, err := c.PoolMembers(ctx, "web"); !ok || err != nil || len(m) != 1 || m[0] != 100 {
		t.Fatalf("pool web: %v, %v, %v", m, ok, err)
	}
	pool := func() string {
		guests, err := c.Guests(ctx)
		if err != nil || len(guests) != 1 {
			t.Fatalf("guests: %v, %v", guests, err)
		}
		return guests[0].Pool
	}
	if p := pool(); p != "web" {
		t.Fatalf("pool after create: %q", p)
	}
	if err := c.AddToPool(ctx, "db", 100); err != nil || pool() != "db" {
		t.Fatalf("move to db: %v, pool %q", err, pool())
	}
	if err := c.RemoveFromPool(ctx, "db", 100); err != nil || pool() != "" {
		t.Fatalf("leave db: %v, pool %q", err, pool())
	}
}
