package pvesim_test

import (
	"slices"
	"testing"
	"time"

	"templatemanager.dev/lxc-template-manager/internal/pvesim/pvesimtest"
)

// taskLines is the text of a task's log (up to 1000 lines).
func taskLines(t *testing.T, sim *pvesimtest.Simulator, node, upid string) []string {
	t.Helper()
	var log []struct {
		T string `json:"t"`
	}
	call(t, sim, "GET", "/nodes/"+node+"/tasks/"+upid+"/log?limit=1000", nil).data(t, &log)
	out := make([]string, len(log))
	for i, l := range log {
		out[i] = l.T
	}
	return out
}

// TestMigrate moves a container between nodes as pve-container's migrate_vm does: a running
// CT needs restart, the config then lives on the target, the task logs PVE's lines and the
// CT runs again on the target.
func TestMigrate(t *testing.T) {
	sim := pvesimtest.Start(t, pvesimtest.WithNodes("pve1", "pve2", "pve3"), pvesimtest.WithTaskDuration(10*time.Millisecond))
	createCT(t, sim, "pve1", 100, map[string]any{"hostname": "web", "mp0": "local-lvm:1,mp=/data"})

	var pre struct {
		Running    int            `json:"running"`
		Allowed    []string       `json:"allowed-nodes"`
		NotAllowed map[string]any `json:"not-allowed-nodes"`
	}
	call(t, sim, "GET", "/nodes/pve1/lxc/100/migrate", nil).data(t, &pre)
	if pre.Running != 0 || !slices.Equal(pre.Allowed, []string{"pve2", "pve3"}) || len(pre.NotAllowed) != 0 {
		t.Fatalf("precondition: %+v", pre)
	}

	waitTask(t, sim, "pve1", call(t, sim, "POST", "/nodes/pve1/lxc/100/status/start", nil), "OK")
	call(t, sim, "GET", "/nodes/pve1/lxc/100/migrate?target=pve2", nil).data(t, &pre)
	if pre.Running != 1 {
		t.Fatalf("precondition of a running CT: %+v", pre)
	}

	expectError(t, call(t, sim, "POST", "/nodes/pve1/lxc/100/migrate", map[string]any{"target": "pve2"}), 500,
		"can't migrate running container without --online or --restart")
	if res := call(t, sim, "POST", "/nodes/pve1/lxc/100/migrate", map[string]any{"target": "pve1", "restart": 1}); res.Code != 400 || res.errors(t)["target"] != "target is local node." {
		t.Fatalf("migrate to the local node: %d %s", res.Code, res.Raw)
	}
	expectError(t, call(t, sim, "POST", "/nodes/pve1/lxc/100/migrate", map[string]any{"target": "pve9", "restart": 1}), 500,
		"no such cluster node 'pve9'")
	expectError(t, call(t, sim, "POST", "/nodes/pve1/lxc/100/migrate", map[string]any{"target": "pve2", "restart": 1, "target-storage": "nosuch"}), 500,
		"storage 'nosuch' does not exist")

	upid := waitTask(t, sim, "pve1", call(t, sim, "POST", "/nodes/pve1/lxc/100/migrate",
		map[string]any{"target": "pve2", "restart": 1, "target-storage": "local-lvm"}), "OK")
	lines := taskLines(t, sim, "pve1", upid)
	want := []string{
		"shutdown CT 100",
		"starting migration of CT 100 to node 'pve2' (127.0.0.1)",
		"found local volume 'local-lvm:vm-100-disk-0' (in current VM config)",
		"found local volume 'local-lvm:vm-100-disk-1' (in current VM config)",
		"volume 'local-lvm:vm-100-disk-0' is 'local-lvm:vm-100-disk-0' on the target",
		"volume 'local-lvm:vm-100-disk-1' is 'local-lvm:vm-100-disk-1' on the target",
		"start final cleanup",
		"start container on target node",
	}
	for _, w := range want {
		if !slices.Contains(lines, w) {
			t.Fatalf("task log lacks %q:\n%q", w, lines)
		}
	}
	if lines[len(lines)-1] != "TASK OK" {
		t.Fatalf("task log ends %q", lines[len(lines)-1])
	}

	if res := call(t, sim, "GET", "/nodes/pve1/lxc/100/config", nil); res.Code != 500 {
		t.Fatalf("config still on pve1: %d %s", res.Code, res.Raw)
	}
	if conf := configOf(t, sim, "pve2", 100); conf["hostname"] != "web" || conf["lock"] != nil {
		t.Fatalf("config on pve2: %v", conf)
	}
	var st struct {
		Status string `json:"status"`
	}
	call(t, sim, "GET", "/nodes/pve2/lxc/100/status/current", nil).data(t, &st)
	if st.Status != "running" {
		t.Fatalf("status on pve2: %s", st.Status)
	}
	var res []map[string]any
	call(t, sim, "GET", "/cluster/resources?type=vm", nil).data(t, &res)
	if len(res) != 1 || res[0]["node"] != "pve2" || res[0]["id"] != "lxc/100" {
		t.Fatalf("cluster resources: %v", res)
	}

	// A stopped CT moves without restart and stays stopped.
	waitTask(t, sim, "pve2", call(t, sim, "POST", "/nodes/pve2/lxc/100/status/stop", nil), "OK")
	upid = waitTask(t, sim, "pve2", call(t, sim, "POST", "/nodes/pve2/lxc/100/migrate", map[string]any{"target": "pve3"}), "OK")
	if lines := taskLines(t, sim, "pve2", upid); slices.Contains(lines, "shutdown CT 100") || slices.Contains(lines, "start container on target node") {
		t.Fatalf("offline migration log: %q", lines)
	}
	call(t, sim, "GET", "/nodes/pve3/lxc/100/status/current", nil).data(t, &st)
	if st.Status != "stopped" {
		t.Fatalf("status on pve3: %s", st.Status)
	}
}
