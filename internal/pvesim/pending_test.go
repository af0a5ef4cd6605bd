package pvesim_test

import (
	"strings"
	"testing"

	"templatemanager.dev/lxc-template-manager/internal/pvesim/pvesimtest"
)

// TestPendingChanges follows update_pct_config on a running container: fastplug options and
// hot-pluggable ones take effect at once, the rest waits in [pve:pending] (shown by GET
// …/pending and by GET …/config unless current=1) until the next start applies it.
func TestPendingChanges(t *testing.T) {
	sim := pvesimtest.Start(t)
	createCT(t, sim, "pve1", 100, nil)
	waitTask(t, sim, "pve1", call(t, sim, "POST", "/nodes/pve1/lxc/100/status/start", nil), "OK")
	config := func(current bool) map[string]any {
		var conf map[string]any
		path := "/nodes/pve1/lxc/100/config"
		if current {
			path += "?current=1"
		}
		call(t, sim, "GET", path, nil).data(t, &conf)
		return conf
	}
	before := config(true)

	res := call(t, sim, "PUT", "/nodes/pve1/lxc/100/config", map[string]any{
		"hostname": "renamed", "memory": 1024, "cores": 2, "nameserver": "169.254.0.53",
		"features": "nesting=1", "mp0": "local-lvm:2,mp=/srv/data",
	})
	if res.Code != 200 {
		t.Fatalf("update: %d %s", res.Code, res.Status)
	}
	cur := config(true)
	for k, want := range map[string]any{"hostname": "renamed", "memory": float64(1024), "cores": float64(2)} {
		if cur[k] != want {
			t.Errorf("current %s = %v, want %v (applied live)", k, cur[k], want)
		}
	}
	if mp, _ := cur["mp0"].(string); !strings.HasPrefix(mp, "local-lvm:vm-100-disk-1,mp=/srv/data") {
		t.Errorf("current mp0 = %q, want the new mount point hot-plugged", mp)
	}
	if _, ok := cur["nameserver"]; ok {
		t.Errorf("current nameserver = %v, want it pending", cur["nameserver"])
	}
	if cur["features"] != before["features"] {
		t.Errorf("current features = %v, want %v until a restart", cur["features"], before["features"])
	}
	if cur["digest"] == before["digest"] {
		t.Error("the digest did not change with the config")
	}
	if got := config(false); got["nameserver"] != "169.254.0.53" || got["features"] != "nesting=1" {
		t.Errorf("config with pending values: nameserver %v, features %v", got["nameserver"], got["features"])
	}

	var pending []map[string]any
	call(t, sim, "GET", "/nodes/pve1/lxc/100/pending", nil).data(t, &pending)
	byKey := map[string]map[string]any{}
	for _, p := range pending {
		byKey[p["key"].(string)] = p
	}
	if p := byKey["nameserver"]; p == nil || p["pending"] != "169.254.0.53" || p["value"] != nil {
		t.Errorf("pending nameserver: %v", p)
	}
	if p := byKey["features"]; p == nil || p["pending"] != "nesting=1" {
		t.Errorf("pending features: %v", p)
	}
	if p := byKey["memory"]; p == nil || p["value"] != "1024" || p["pending"] != nil {
		t.Errorf("memory: %v, want applied", p)
	}
	if p := byKey["digest"]; p == nil || p["value"] != cur["digest"] {
		t.Errorf("digest in the pending list: %v, want %v", p, cur["digest"])
	}

	// A pending delete, then a revert of it.
	if res := call(t, sim, "PUT", "/nodes/pve1/lxc/100/config", map[string]any{"delete": "arch"}); res.Code != 200 {
		t.Fatalf("delete: %d %s", res.Code, res.Status)
	}
	marked := func() bool {
		pending = nil
		call(t, sim, "GET", "/nodes/pve1/lxc/100/pending", nil).data(t, &pending)
		for _, p := range pending {
			if p["key"] == "arch" && p["delete"] == float64(1) {
				return true
			}
		}
		return false
	}
	if !marked() {
		t.Errorf("arch is not marked for deletion: %v", pending)
	}
	if res := call(t, sim, "PUT", "/nodes/pve1/lxc/100/config", map[string]any{"revert": "arch", "arch": "amd64"}); res.Code != 400 {
		t.Errorf("revert and set together: %d, want 400", res.Code)
	}
	if res := call(t, sim, "PUT", "/nodes/pve1/lxc/100/config", map[string]any{"revert": "arch"}); res.Code != 200 || marked() {
		t.Fatalf("revert: %d %s; still marked: %v", res.Code, res.Status, pending)
	}

	// A restart applies what was pending.
	waitTask(t, sim, "pve1", call(t, sim, "POST", "/nodes/pve1/lxc/100/status/reboot", nil), "OK")
	cur = config(true)
	if cur["nameserver"] != "169.254.0.53" || cur["features"] != "nesting=1" {
		t.Errorf("after a reboot: nameserver %v, features %v", cur["nameserver"], cur["features"])
	}
	pending = nil
	call(t, sim, "GET", "/nodes/pve1/lxc/100/pending", nil).data(t, &pending)
	for _, p := range pending {
		if p["pending"] != nil || p["delete"] != nil {
			t.Errorf("still pending after a reboot: %v", p)
		}
	}

	// A stopped container takes every change at once.
	waitTask(t, sim, "pve1", call(t, sim, "POST", "/nodes/pve1/lxc/100/status/stop", nil), "OK")
	call(t, sim, "PUT", "/nodes/pve1/lxc/100/config", map[string]any{"searchdomain": "example.test", "delete": "mp0"})
	cur = config(true)
	if cur["searchdomain"] != "example.test" || cur["mp0"] != nil {
		t.Errorf("stopped: searchdomain %v, mp0 %v", cur["searchdomain"], cur["mp0"])
	}
	if u, _ := cur["unused0"].(string); u != "local-lvm:vm-100-disk-1" {
		t.Errorf("a deleted mount point's volume: unused0 = %q, want it kept", u)
	}
}

// TestProtection refuses to destroy a protected container and to change its disks.
func TestProtection(t *testing.T) {
	sim := pvesimtest.Start(t)
	createCT(t, sim, "pve1", 100, nil)
	call(t, sim, "PUT", "/nodes/pve1/lxc/100/config", map[string]any{"protection": 1})
	if res := call(t, sim, "DELETE", "/nodes/pve1/lxc/100", nil); res.Code != 500 || !strings.Contains(res.Status, "protection mode enabled") {
		t.Errorf("destroying a protected CT: %d %q", res.Code, res.Status)
	}
	if res := call(t, sim, "PUT", "/nodes/pve1/lxc/100/config", map[string]any{"mp0": "local-lvm:1,mp=/x"}); res.Code != 500 || !strings.Contains(res.Status, "protection mode enabled") {
		t.Errorf("adding a disk to a protected CT: %d %q", res.Code, res.Status)
	}
	call(t, sim, "PUT", "/nodes/pve1/lxc/100/config", map[string]any{"delete": "protection"})
	waitTask(t, sim, "pve1", call(t, sim, "DELETE", "/nodes/pve1/lxc/100", nil), "OK")
}
