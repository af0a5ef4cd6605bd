package pvesim_test

import (
	"strings"
	"testing"

	"templatemanager.dev/lxc-template-manager/internal/pvesim"
	"templatemanager.dev/lxc-template-manager/internal/pvesim/pvesimtest"
)

// TestPendingChangeThatFailsAtStartStaysPending: with an apply fault, the start applies the
// other pending changes, warns "unable to apply pending change mp0 : …" (the task ends with
// WARNINGS) and keeps mp0 pending, as vmconfig_apply_pending does; the next start without the
// fault applies it.
func TestPendingChangeThatFailsAtStartStaysPending(t *testing.T) {
	sim := pvesimtest.Start(t, pvesimtest.WithFaults(pvesim.FaultRule{Kind: pvesim.FaultApply, Option: "mp0", Count: 1, Message: "no space"}))
	createCT(t, sim, "pve1", 100, map[string]any{"mp0": "local-lvm:1,mp=/srv/a"})
	waitTask(t, sim, "pve1", call(t, sim, "POST", "/nodes/pve1/lxc/100/status/start", nil), "OK")
	var conf map[string]any
	call(t, sim, "GET", "/nodes/pve1/lxc/100/config", nil).data(t, &conf)
	mp0 := strings.Replace(conf["mp0"].(string), "mp=/srv/a", "mp=/srv/b", 1)
	if res := call(t, sim, "PUT", "/nodes/pve1/lxc/100/config", map[string]any{"mp0": mp0, "nameserver": "169.254.0.53"}); res.Code != 200 {
		t.Fatalf("update: %d %s", res.Code, res.Status)
	}
	pendingKeys := func() string {
		var pending []map[string]any
		call(t, sim, "GET", "/nodes/pve1/lxc/100/pending", nil).data(t, &pending)
		var keys []string
		for _, p := range pending {
			if _, ok := p["pending"]; ok {
				keys = append(keys, p["key"].(string))
			}
		}
		return strings.Join(keys, ",")
	}
	if got := pendingKeys(); got != "mp0,nameserver" {
		t.Fatalf("pending before the restart: %q", got)
	}
	waitTask(t, sim, "pve1", call(t, sim, "POST", "/nodes/pve1/lxc/100/status/stop", nil), "OK")
	waitTask(t, sim, "pve1", call(t, sim, "POST", "/nodes/pve1/lxc/100/status/start", nil), "WARNINGS: 1")
	if got := pendingKeys(); got != "mp0" {
		t.Errorf("pending after a start whose apply of mp0 failed: %q, want mp0", got)
	}
	waitTask(t, sim, "pve1", call(t, sim, "POST", "/nodes/pve1/lxc/100/status/stop", nil), "OK")
	waitTask(t, sim, "pve1", call(t, sim, "POST", "/nodes/pve1/lxc/100/status/start", nil), "OK")
	call(t, sim, "GET", "/nodes/pve1/lxc/100/config", nil).data(t, &conf)
	if got := pendingKeys(); got != "" || !strings.Contains(conf["mp0"].(string), "mp=/srv/b") {
		t.Errorf("after a start without the fault: pending %q, mp0 %v", got, conf["mp0"])
	}
}
