package pvesim_test

import (
	"strings"
	"testing"

	"templatemanager.dev/lxc-template-manager/internal/pvesim/pvesimtest"
)

// TestTemplateAndClone: POST …/template as pve-container's API2/LXC.pm template does it —
// refused for a running container and for a template, synchronous, leaving template: 1 in the
// config, the container list and /cluster/resources; a template cannot start; a clone of it is
// a vzclone task of the source that makes a container without the template flag, with the
// hostname and pool asked for.
func TestTemplateAndClone(t *testing.T) {
	sim := pvesimtest.Start(t)
	createCT(t, sim, "pve1", 100, map[string]any{"hostname": "bake", "memory": 256})
	waitTask(t, sim, "pve1", call(t, sim, "POST", "/nodes/pve1/lxc/100/status/start", nil), "OK")
	expectError(t, call(t, sim, "POST", "/nodes/pve1/lxc/100/template", nil), 500, "you can't convert a CT to template if the CT is running")
	waitTask(t, sim, "pve1", call(t, sim, "POST", "/nodes/pve1/lxc/100/status/stop", nil), "OK")

	res := call(t, sim, "POST", "/nodes/pve1/lxc/100/template", nil)
	if res.Code != 200 || strings.TrimSpace(string(res.Raw)) != `{"data":null}` {
		t.Fatalf("template: %d %s", res.Code, res.Raw)
	}
	expectError(t, call(t, sim, "POST", "/nodes/pve1/lxc/100/template", nil), 500, "you can't convert a template to a template")
	if conf := configOf(t, sim, "pve1", 100); conf["template"] != float64(1) {
		t.Fatalf("config after template: %v", conf)
	}
	var list []map[string]any
	call(t, sim, "GET", "/nodes/pve1/lxc", nil).data(t, &list)
	if len(list) != 1 || list[0]["template"] != float64(1) {
		t.Fatalf("container list: %v", list)
	}
	var resources []map[string]any
	call(t, sim, "GET", "/cluster/resources?type=vm", nil).data(t, &resources)
	if len(resources) != 1 || resources[0]["template"] != float64(1) {
		t.Fatalf("cluster resources: %v", resources)
	}
	waitTask(t, sim, "pve1", call(t, sim, "POST", "/nodes/pve1/lxc/100/status/start", nil), "you can't start a CT if it's a template")

	expectError(t, call(t, sim, "POST", "/nodes/pve1/lxc/100/clone", map[string]any{"newid": 101, "pool": "nowhere"}), 500, "pool 'nowhere' does not exist")
	if res := call(t, sim, "POST", "/pools", map[string]any{"poolid": "web"}); res.Code != 200 {
		t.Fatalf("create pool: %s", res.Raw)
	}
	res = call(t, sim, "POST", "/nodes/pve1/lxc/100/clone", map[string]any{"newid": 101, "hostname": "web-1", "pool": "web", "description": "lxctm-owner: ns/web-1"})
	upid := res.upid(t)
	if !strings.Contains(upid, ":vzclone:100:") {
		t.Fatalf("clone task %s is not a vzclone of CT 100", upid)
	}
	waitTask(t, sim, "pve1", res, "OK")
	conf := configOf(t, sim, "pve1", 101)
	if conf["template"] != nil || conf["hostname"] != "web-1" || conf["memory"] != float64(256) || conf["description"] != "lxctm-owner: ns/web-1\n" && conf["description"] != "lxctm-owner: ns/web-1" {
		t.Fatalf("clone config: %v", conf)
	}
	var pool map[string]any
	call(t, sim, "GET", "/pools/web", nil).data(t, &pool)
	members, _ := pool["members"].([]any)
	if len(members) != 1 || members[0].(map[string]any)["vmid"] != float64(101) {
		t.Fatalf("pool web: %v", pool)
	}
	// The clone is an ordinary container: it starts.
	waitTask(t, sim, "pve1", call(t, sim, "POST", "/nodes/pve1/lxc/101/status/start", nil), "OK")
}
