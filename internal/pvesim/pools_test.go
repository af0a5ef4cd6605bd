package pvesim_test

import (
	"fmt"
	"testing"
	"time"

	"templatemanager.dev/lxc-template-manager/internal/pvesim/pvesimtest"
	"templatemanager.dev/lxc-template-manager/internal/testkit"
)

// TestPools: pools as pve-manager's API2/Pool.pm keeps them — /pools with the poolid in the
// query (PVE 8.1+) and the deprecated /pools/{poolid}, one pool per guest, the pool of a
// create, and a destroyed guest leaving its pool.
func TestPools(t *testing.T) {
	sim := pvesimtest.Start(t, pvesimtest.WithTaskDuration(10*time.Millisecond))
	node := sim.Nodes[0]
	expectError(t, call(t, sim, "POST", "/nodes/"+node+"/lxc", map[string]any{"vmid": 100, "ostemplate": "local:vztmpl/x.tar.zst", "pool": "web"}),
		500, "pool 'web' does not exist")
	if res := call(t, sim, "POST", "/pools", map[string]any{"poolid": "bad pool"}); res.Code != 400 || res.errors(t)["poolid"] == "" {
		t.Fatalf("bad poolid: %d %s", res.Code, res.Raw)
	}
	for _, id := range []string{"web", "db"} {
		if res := call(t, sim, "POST", "/pools", map[string]any{"poolid": id, "comment": id + " guests"}); res.Code != 200 {
			t.Fatalf("create %s: %d %s", id, res.Code, res.Raw)
		}
	}
	expectError(t, call(t, sim, "POST", "/pools", map[string]any{"poolid": "web"}), 500, "create pool failed: pool 'web' already exists")

	createCT(t, sim, node, 100, map[string]any{"pool": "web"})
	createCT(t, sim, node, 101, nil)
	members := func(id string) []string {
		var pools []struct {
			PoolID  string           `json:"poolid"`
			Members []map[string]any `json:"members"`
		}
		call(t, sim, "GET", "/pools?poolid="+id, nil).data(t, &pools)
		var out []string
		for _, m := range pools[0].Members {
			out = append(out, m["id"].(string))
		}
		return out
	}
	if got := fmt.Sprint(members("web")); got != "[lxc/100]" {
		t.Fatalf("web after create: %s", got)
	}
	expectError(t, call(t, sim, "PUT", "/pools", map[string]any{"poolid": "db", "vms": "100"}), 500, "update pools failed: VM 100 belongs already to pool 'web'")
	expectError(t, call(t, sim, "PUT", "/pools", map[string]any{"poolid": "web", "vms": "100"}), 500, "update pools failed: VM 100 is already a pool member")
	expectError(t, call(t, sim, "PUT", "/pools", map[string]any{"poolid": "db", "vms": "102"}), 500, "update pools failed: VM 102 does not exist")
	expectError(t, call(t, sim, "PUT", "/pools", map[string]any{"poolid": "nope", "vms": "101"}), 500, "update pools failed: pool 'nope' does not exist")
	if res := call(t, sim, "PUT", "/pools", map[string]any{"poolid": "db", "vms": "100", "allow-move": 1}); res.Code != 200 {
		t.Fatalf("move: %d %s", res.Code, res.Raw)
	}
	if res := call(t, sim, "PUT", "/pools/db", map[string]any{"vms": "101"}); res.Code != 200 {
		t.Fatalf("add through /pools/{poolid}: %d %s", res.Code, res.Raw)
	}
	if w, d := fmt.Sprint(members("web")), fmt.Sprint(members("db")); w != "[]" || d != "[lxc/100 lxc/101]" {
		t.Fatalf("after move: web %s, db %s", w, d)
	}
	var res []map[string]any
	call(t, sim, "GET", "/cluster/resources?type=vm", nil).data(t, &res)
	if len(res) != 2 || res[0]["pool"] != "db" {
		t.Fatalf("resources: %v", res)
	}
	expectError(t, call(t, sim, "PUT", "/pools", map[string]any{"poolid": "web", "vms": "101", "delete": 1}), 500, "update pools failed: VM 101 is not a pool member")
	if res := call(t, sim, "PUT", "/pools", map[string]any{"poolid": "db", "vms": "101", "delete": 1}); res.Code != 200 {
		t.Fatalf("delete member: %d %s", res.Code, res.Raw)
	}
	expectError(t, call(t, sim, "DELETE", "/pools?poolid=db", nil), 500, "delete pool failed: pool 'db' is not empty (contains VM 100)")
	waitTask(t, sim, node, call(t, sim, "DELETE", "/nodes/"+node+"/lxc/100", nil), "OK")
	if got := fmt.Sprint(members("db")); got != "[]" {
		t.Fatalf("db after destroy: %s", got)
	}
	if res := call(t, sim, "DELETE", "/pools?poolid=db", nil); res.Code != 200 {
		t.Fatalf("delete pool: %d %s", res.Code, res.Raw)
	}
	var pools []map[string]any
	call(t, sim, "GET", "/pools", nil).data(t, &pools)
	if len(pools) != 1 || pools[0]["poolid"] != "web" || pools[0]["comment"] != "web guests" {
		t.Fatalf("pools: %v", pools)
	}
}

// TestHAResourceUpdate: PUT /cluster/ha/resources/{sid} against the digest, and the CRM
// stopping and starting the CT when its requested state changes.
func TestHAResourceUpdate(t *testing.T) {
	sim := pvesimtest.Start(t, pvesimtest.WithTaskDuration(10*time.Millisecond))
	node := sim.Nodes[0]
	createCT(t, sim, node, 100, nil)
	expectError(t, call(t, sim, "PUT", "/cluster/ha/resources/ct:100", map[string]any{"state": "stopped"}), 500, "no such resource 'ct:100'")
	if res := call(t, sim, "POST", "/cluster/ha/resources", map[string]any{"sid": "ct:100", "state": "started", "max_restart": 2}); res.Code != 200 {
		t.Fatalf("create: %d %s", res.Code, res.Raw)
	}
	status := func(want string) {
		testkit.Eventually(t, 30*time.Second, func() error {
			var st map[string]any
			call(t, sim, "GET", "/nodes/"+node+"/lxc/100/status/current", nil).data(t, &st)
			if st["status"] != want {
				return fmt.Errorf("status %v, want %s", st["status"], want)
			}
			return nil
		})
	}
	status("running")
	var h map[string]any
	call(t, sim, "GET", "/cluster/ha/resources/ct:100", nil).data(t, &h)
	expectError(t, call(t, sim, "PUT", "/cluster/ha/resources/ct:100", map[string]any{"state": "stopped", "digest": "0000"}), 500,
		"detected modified configuration - file changed by other user? Try again.")
	if res := call(t, sim, "PUT", "/cluster/ha/resources/ct:100", map[string]any{"state": "stopped", "delete": "max_restart", "digest": h["digest"]}); res.Code != 200 {
		t.Fatalf("update: %d %s", res.Code, res.Raw)
	}
	status("stopped")
	h = nil
	call(t, sim, "GET", "/cluster/ha/resources/100", nil).data(t, &h)
	if h["state"] != "stopped" || h["max_restart"] != nil {
		t.Fatalf("after update: %v", h)
	}
	if res := call(t, sim, "PUT", "/cluster/ha/resources/100", map[string]any{"state": "started"}); res.Code != 200 {
		t.Fatalf("update: %d %s", res.Code, res.Raw)
	}
	status("running")
	if res := call(t, sim, "PUT", "/cluster/ha/resources/ct:100", map[string]any{"state": "running"}); res.Code != 400 {
		t.Fatalf("state running: %d %s", res.Code, res.Raw)
	}
}
