package pvesim_test

import (
	"net/netip"
	"testing"
	"time"

	"templatemanager.dev/lxc-template-manager/internal/pvesim/pvesimtest"
)

// ctAddress waits until a running CT's eth0 shows an IPv4 address.
func ctAddress(t *testing.T, sim *pvesimtest.Simulator, node string, vmid int) netip.Prefix {
	t.Helper()
	ct, err := nodeOf(t, sim, node).Container(testContext(t, time.Minute), vmid)
	if err != nil {
		t.Fatal(err)
	}
	return waitForAddress(t, testContext(t, time.Minute), ct, "eth0")
}

type ctState struct {
	Status string `json:"status"`
	Lock   string `json:"lock"`
	Tags   string `json:"tags"`
	Name   string `json:"name"`
}

func currentStatus(t *testing.T, sim *pvesimtest.Simulator, node string, vmid int) ctState {
	t.Helper()
	var st ctState
	res := call(t, sim, "GET", "/nodes/"+node+"/lxc/"+itoa(vmid)+"/status/current", nil)
	if res.Code != 200 {
		t.Fatalf("status of %d: %d %s", vmid, res.Code, res.Status)
	}
	res.data(t, &st)
	return st
}

func configOf(t *testing.T, sim *pvesimtest.Simulator, node string, vmid int) map[string]any {
	t.Helper()
	var conf map[string]any
	res := call(t, sim, "GET", "/nodes/"+node+"/lxc/"+itoa(vmid)+"/config", nil)
	if res.Code != 200 {
		t.Fatalf("config of %d: %d %s", vmid, res.Code, res.Status)
	}
	res.data(t, &conf)
	return conf
}

// TestRestart shows that a restarted simulator on the same state directory still knows and
// serves its containers: configs, power state, addresses, snapshots, leases and past tasks.
func TestRestart(t *testing.T) {
	sim := pvesimtest.Start(t, pvesimtest.WithStateDir(t.TempDir()), pvesimtest.WithNodes("pve1", "pve2"))
	createCT(t, sim, "pve1", 100, map[string]any{"hostname": "web", "tags": "lxctm"})
	started := waitTask(t, sim, "pve1", call(t, sim, "POST", "/nodes/pve1/lxc/100/status/start", nil), "OK")
	addr := ctAddress(t, sim, "pve1", 100)
	createCT(t, sim, "pve2", 200, map[string]any{"net0": "name=eth0,bridge=vmbr0,ip=169.254.7.9/24"})
	waitTask(t, sim, "pve2", call(t, sim, "POST", "/nodes/pve2/lxc/200/snapshot", map[string]any{"snapname": "before"}), "OK")
	before100, before200 := configOf(t, sim, "pve1", 100), configOf(t, sim, "pve2", 200)

	sim.Restart(t)

	if st := currentStatus(t, sim, "pve1", 100); st.Status != "running" || st.Name != "web" || st.Tags != "lxctm" {
		t.Fatalf("CT 100 after restart: %+v", st)
	}
	if st := currentStatus(t, sim, "pve2", 200); st.Status != "stopped" {
		t.Fatalf("CT 200 after restart: %+v", st)
	}
	if after := configOf(t, sim, "pve1", 100); after["digest"] != before100["digest"] || after["net0"] != before100["net0"] {
		t.Fatalf("CT 100 config changed:\n%v\n%v", before100, after)
	}
	if after := configOf(t, sim, "pve2", 200); after["digest"] != before200["digest"] || after["parent"] != "before" {
		t.Fatalf("CT 200 config changed:\n%v\n%v", before200, after)
	}
	if got := ctAddress(t, sim, "pve1", 100); got != addr {
		t.Fatalf("address after restart %s, before %s", got, addr)
	}
	if status, exit := taskStatus(t, sim, "pve1", started); status != "stopped" || exit != "OK" {
		t.Fatalf("start task after restart: %s %s", status, exit)
	}
	var next string
	call(t, sim, "GET", "/cluster/nextid", nil).data(t, &next)
	if next != "101" {
		t.Fatalf("nextid after restart: %s", next)
	}
	// Leases survive too: a new DHCP container gets another address.
	createCT(t, sim, "pve1", 101, nil)
	waitTask(t, sim, "pve1", call(t, sim, "POST", "/nodes/pve1/lxc/101/status/start", nil), "OK")
	if other := ctAddress(t, sim, "pve1", 101); other == addr {
		t.Fatalf("CT 101 got CT 100's address %s", addr)
	}
	// And the containers are still driven as before.
	waitTask(t, sim, "pve1", call(t, sim, "POST", "/nodes/pve1/lxc/100/status/stop", nil), "OK")
	waitTask(t, sim, "pve2", call(t, sim, "POST", "/nodes/pve2/lxc/200/snapshot/before/rollback", nil), "OK")
}
