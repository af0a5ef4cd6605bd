package pvesim_test

import (
	"fmt"
	"testing"
	"time"

	"templatemanager.dev/lxc-template-manager/internal/pvesim"
	"templatemanager.dev/lxc-template-manager/internal/pvesim/fake"
	"templatemanager.dev/lxc-template-manager/internal/pvesim/pvesimtest"
	"templatemanager.dev/lxc-template-manager/internal/testkit"
)

// TestRebootAsPVEDoes: a reboot task shuts the container down and boots it again under the
// config flock, as pve-container's vm_reboot does. It leaves a container that stopped before
// the worker had the flock stopped, and succeeds; a config lock (a running backup's) is met by
// the pre-start hook after the shutdown, so the task fails and the container stays stopped.
func TestRebootAsPVEDoes(t *testing.T) {
	sim := pvesimtest.Start(t, pvesimtest.WithTaskDurationOf("vzdump", 4*time.Second),
		pvesimtest.WithOptions(func(o *pvesim.Options) { o.LockTimeout = 5 * time.Second }))
	createCT(t, sim, "pve1", 100, nil)
	waitTask(t, sim, "pve1", call(t, sim, "POST", "/nodes/pve1/lxc/100/status/start", nil), "OK")
	backend := sim.Backend.(*fake.Backend)
	guest := backend.Guest(100)
	status := func() string {
		t.Helper()
		var st map[string]any
		call(t, sim, "GET", "/nodes/pve1/lxc/100/status/current", nil).data(t, &st)
		s, _ := st["status"].(string)
		return s
	}

	boots := guest.Boots()
	upid := waitTask(t, sim, "pve1", call(t, sim, "POST", "/nodes/pve1/lxc/100/status/reboot", map[string]any{"timeout": 10}), "OK")
	if got := guest.Boots(); got != boots+1 || status() != "running" {
		t.Fatalf("after reboot task %s: %d boots (want %d), status %s", upid, got, boots+1, status())
	}

	// Stopped while the worker waits for the flock: nothing to reboot.
	boots = guest.Boots()
	sim.Fault(t, pvesim.FaultRule{Kind: pvesim.FaultLock, Endpoint: "POST /nodes/{node}/lxc/{vmid}/status/reboot", Count: 1,
		Delay: pvesim.Duration(500 * time.Millisecond)})
	res := call(t, sim, "POST", "/nodes/pve1/lxc/100/status/reboot", nil)
	if err := backend.Stop(testContext(t, time.Minute), 100); err != nil {
		t.Fatal(err)
	}
	waitTask(t, sim, "pve1", res, "OK")
	if got := guest.Boots(); got != boots || status() != "stopped" {
		t.Fatalf("a container stopped before the reboot's worker ran: %d boots (want %d), status %s", got, boots, status())
	}

	// A backup holds the config lock: the shutdown goes ahead, the start is refused.
	waitTask(t, sim, "pve1", call(t, sim, "POST", "/nodes/pve1/lxc/100/status/start", nil), "OK")
	backup := call(t, sim, "POST", "/nodes/pve1/vzdump", map[string]any{"vmid": "100", "storage": "local", "compress": "zstd"})
	testkit.Eventually(t, 3*time.Second, func() error {
		if l := configOf(t, sim, "pve1", 100)["lock"]; l != "backup" {
			return fmt.Errorf("lock %v while the backup runs", l)
		}
		return nil
	})
	waitTask(t, sim, "pve1", call(t, sim, "POST", "/nodes/pve1/lxc/100/status/reboot", nil),
		"command 'systemctl start pve-container@100' failed: exit code 1")
	if st := status(); st != "stopped" {
		t.Errorf("a reboot refused at the start left the container %s, want stopped", st)
	}
	upid = backup.upid(t)
	testkit.Eventually(t, time.Minute, func() error {
		if st, _ := taskStatus(t, sim, "pve1", upid); st != "stopped" {
			return fmt.Errorf("backup task %s", st)
		}
		return nil
	})
}
