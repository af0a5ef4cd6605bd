package pvesim_test

import (
	"crypto/tls"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"templatemanager.dev/lxc-template-manager/internal/pvesim/pvesimtest"
	"templatemanager.dev/lxc-template-manager/internal/testkit"
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

// TestRestartAPI restarts the API alone while a start task runs, as restarting pveproxy and
// pvedaemon does: the API is unreachable meanwhile, the task's UPID resolves afterwards with
// its result, and the container and its guest (files, runs, SSH server) never noticed.
func TestRestartAPI(t *testing.T) {
	port := testkit.ReservePort(t)
	sim := pvesimtest.Start(t, pvesimtest.WithGuests(port), pvesimtest.WithTaskDurationOf("vzstart", 500*time.Millisecond))
	createCT(t, sim, "pve1", 100, map[string]any{"net0": "name=eth0,bridge=vmbr0,ip=169.254.81.9/24"})
	guest := sim.Guest(100)
	guest.WriteFile("/etc/app/app.conf", []byte("port=8080\n"), 0o644)
	upid := call(t, sim, "POST", "/nodes/pve1/lxc/100/status/start", nil).upid(t)

	down := make(chan struct{})
	go func() {
		defer close(down)
		sim.RestartAPI(t, 300*time.Millisecond)
	}()
	// While the API is down, its address refuses connections.
	refused := false
	for deadline := time.Now().Add(5 * time.Second); !refused && time.Now().Before(deadline); {
		if c, err := net.DialTimeout("tcp", sim.Addr, time.Second); err != nil {
			refused = true
		} else {
			c.Close()
			time.Sleep(10 * time.Millisecond)
		}
	}
	<-down
	if !refused {
		t.Error("the API answered all through its restart")
	}

	if status, exit := taskStatus(t, sim, "pve1", upid); status != "stopped" || exit != "OK" {
		t.Fatalf("start task after the restart: %s %s", status, exit)
	}
	if st := currentStatus(t, sim, "pve1", 100); st.Status != "running" {
		t.Fatalf("CT 100 after the restart: %+v", st)
	}
	if sim.Guest(100) != guest {
		t.Fatal("the guest was replaced by the restart of the API")
	}
	if data, ok := guest.ReadFile("/etc/app/app.conf"); !ok || string(data) != "port=8080\n" {
		t.Fatalf("the guest's file after the restart: %q %v", data, ok)
	}
	if !strings.HasPrefix(guest.Address(), "127.254.81.9:") {
		t.Fatalf("the guest's SSH server after the restart: %q", guest.Address())
	}
	// The restarted API still drives the container.
	waitTask(t, sim, "pve1", call(t, sim, "POST", "/nodes/pve1/lxc/100/status/stop", nil), "OK")
	if guest.Address() != "" {
		t.Fatal("the guest still listens after its container stopped")
	}
}

// TestServeAfterStopAPIReturns: a simulator stopped before its Serve began (a test that ends
// at once) does not serve, and its Serve returns rather than serving forever.
func TestServeAfterStopAPIReturns(t *testing.T) {
	sim := pvesimtest.Start(t)
	if err := sim.StopAPI(testContext(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- sim.Server.Serve(testkit.Listen(t), tls.Certificate{}) }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve after StopAPI: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve after StopAPI did not return")
	}
}
