package pvesim_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"templatemanager.dev/lxc-template-manager/internal/pvesim/pvesimtest"
	"templatemanager.dev/lxc-template-manager/internal/testkit"
)

// TestHAResources: resources.cfg through /cluster/ha/resources as pve-ha-manager's
// API2/HA/Resources.pm keeps it, the CRM starting a CT HA manages, a migrate of an HA-managed
// CT handed to HA (hamigrate), relocate, the hastate of /cluster/resources, and destroy
// needing purge (pve-container API2/LXC.pm destroy_vm).
func TestHAResources(t *testing.T) {
	sim := pvesimtest.Start(t, pvesimtest.WithNodes("pve1", "pve2"), pvesimtest.WithTaskDuration(10*time.Millisecond))
	createCT(t, sim, "pve1", 100, nil)

	expectError(t, call(t, sim, "POST", "/cluster/ha/resources", map[string]any{"sid": "101"}), 500,
		"unable to detect SID from VMID - VM/CT 101 does not exist")
	expectError(t, call(t, sim, "POST", "/cluster/ha/resources", map[string]any{"sid": "ct:101"}), 500,
		"resource 'ct:101' does not exist in cluster")
	expectError(t, call(t, sim, "POST", "/cluster/ha/resources", map[string]any{"sid": "ct:100", "type": "vm"}), 500, "types does not match")
	if res := call(t, sim, "POST", "/cluster/ha/resources", map[string]any{"sid": "not a sid"}); res.Code != 400 || res.errors(t)["sid"] != "invalid format - value does not look like a valid ha resource id\n" {
		t.Fatalf("bad sid: %d %s", res.Code, res.Raw)
	}
	if res := call(t, sim, "POST", "/cluster/ha/resources", map[string]any{"sid": "100", "comment": "web", "max_relocate": 2}); res.Code != 200 {
		t.Fatalf("create: %d %s", res.Code, res.Raw)
	}
	expectError(t, call(t, sim, "POST", "/cluster/ha/resources", map[string]any{"sid": "ct:100"}), 500, "resource ID 'ct:100' already defined")

	var list []map[string]any
	call(t, sim, "GET", "/cluster/ha/resources", nil).data(t, &list)
	if len(list) != 1 || list[0]["sid"] != "ct:100" || list[0]["type"] != "ct" || list[0]["comment"] != "web" || list[0]["max_relocate"] != float64(2) || list[0]["digest"] == "" {
		t.Fatalf("list: %v", list)
	}
	call(t, sim, "GET", "/cluster/ha/resources?type=vm", nil).data(t, &list)
	if len(list) != 0 {
		t.Fatalf("vm list: %v", list)
	}

	// The CRM starts the CT, whose requested state defaults to started.
	hastate := func() (node, state, status string) {
		var res []map[string]any
		call(t, sim, "GET", "/cluster/resources?type=vm", nil).data(t, &res)
		if len(res) != 1 {
			t.Fatalf("resources: %v", res)
		}
		s, _ := res[0]["hastate"].(string)
		return res[0]["node"].(string), s, res[0]["status"].(string)
	}
	testkit.Eventually(t, 30*time.Second, func() error {
		if node, state, status := hastate(); node != "pve1" || state != "started" || status != "running" {
			return fmt.Errorf("node %s, hastate %s, status %s", node, state, status)
		}
		return nil
	})

	// migrate_vm of an HA-managed CT hands it to HA.
	upid := waitTask(t, sim, "pve1", call(t, sim, "POST", "/nodes/pve1/lxc/100/migrate", map[string]any{"target": "pve2", "restart": 1}), "OK")
	if !strings.Contains(upid, ":hamigrate:100:") {
		t.Fatalf("not a hamigrate task: %s", upid)
	}
	if lines := taskLines(t, sim, "pve1", upid); lines[0] != "Requesting HA migration for CT 100 to node pve2" {
		t.Fatalf("hamigrate log: %q", lines)
	}
	testkit.Eventually(t, 30*time.Second, func() error {
		if node, state, status := hastate(); node != "pve2" || state != "started" || status != "running" {
			return fmt.Errorf("node %s, hastate %s, status %s", node, state, status)
		}
		return nil
	})

	var moved map[string]any
	call(t, sim, "POST", "/cluster/ha/resources/ct:100/relocate", map[string]any{"node": "pve1"}).data(t, &moved)
	if moved["sid"] != "ct:100" || moved["requested-node"] != "pve1" {
		t.Fatalf("relocate answer: %v", moved)
	}
	testkit.Eventually(t, 30*time.Second, func() error {
		if node, state, status := hastate(); node != "pve1" || state != "started" || status != "running" {
			return fmt.Errorf("node %s, hastate %s, status %s", node, state, status)
		}
		return nil
	})
	expectError(t, call(t, sim, "POST", "/cluster/ha/resources/ct:101/migrate", map[string]any{"node": "pve2"}), 500, "resource 'ct:101' is not HA managed")

	// Destroying an HA-managed CT needs purge, which drops the resource.
	expectError(t, call(t, sim, "DELETE", "/nodes/pve1/lxc/100?force=1", nil), 500,
		"unable to remove CT 100 - used in HA resources and purge parameter not set.")
	upid = waitTask(t, sim, "pve1", call(t, sim, "DELETE", "/nodes/pve1/lxc/100?purge=1&force=1", nil), "OK")
	if lines := taskLines(t, sim, "pve1", upid); !strings.Contains(strings.Join(lines, "\n"), "NOTE: removed CT 100 from HA resource configuration.") {
		t.Fatalf("destroy log: %q", lines)
	}
	call(t, sim, "GET", "/cluster/ha/resources", nil).data(t, &list)
	if len(list) != 0 {
		t.Fatalf("after destroy: %v", list)
	}
	expectError(t, call(t, sim, "DELETE", "/cluster/ha/resources/ct:100", nil), 500, "cannot delete service 'ct:100', not HA managed!")
}
