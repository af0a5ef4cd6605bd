package pvesim_test

import (
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	proxmox "github.com/luthermonson/go-proxmox"

	"templatemanager.dev/lxc-template-manager/internal/pvesim"
	"templatemanager.dev/lxc-template-manager/internal/pvesim/fake"
	"templatemanager.dev/lxc-template-manager/internal/pvesim/pvesimtest"
)

// createCT creates a stopped container and waits for it.
func createCT(t *testing.T, sim *pvesimtest.Simulator, node string, vmid int, extra map[string]any) {
	t.Helper()
	body := map[string]any{
		"vmid": vmid, "ostemplate": "local:vztmpl/" + fake.Template, "rootfs": "local-lvm:4",
		"net0": "name=eth0,bridge=vmbr0,ip=dhcp",
	}
	for k, v := range extra {
		body[k] = v
	}
	waitTask(t, sim, node, call(t, sim, "POST", "/nodes/"+node+"/lxc", body), "OK")
}

func TestFaultError(t *testing.T) {
	sim := pvesimtest.Start(t)
	sim.Fault(t, pvesim.FaultRule{Kind: pvesim.FaultError, Endpoint: "GET /cluster/resources", Count: 2, Status: 503})

	res := call(t, sim, "GET", "/cluster/resources", nil)
	if res.Code != 503 || res.Status != "Service Unavailable" {
		t.Fatalf("first request: %d %q", res.Code, res.Status)
	}
	if res := call(t, sim, "GET", "/version", nil); res.Code != 200 {
		t.Fatalf("other endpoint hit: %d", res.Code)
	}
	// go-proxmox's retry rides over the second injected 503.
	client := proxmox.NewClient(sim.URL, proxmox.WithAPIToken(sim.TokenID, sim.Secret), proxmox.WithHTTPClient(sim.HTTPClient()),
		proxmox.WithRetry(proxmox.WithRetryMax(3), proxmox.WithRetryBackoff(time.Millisecond, 5*time.Millisecond)))
	cl, err := client.Cluster(testContext(t, time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Resources(testContext(t, time.Minute)); err != nil {
		t.Fatalf("resources with retry: %v", err)
	}
	c := sim.Counters()
	if n := c.Total("GET /cluster/resources", 503); n != 2 {
		t.Fatalf("503s counted: %d", n)
	}
	if n := c.Total("GET /cluster/resources", 200); n != 1 {
		t.Fatalf("200s counted: %d", n)
	}
	if c.Faults[pvesim.FaultError] != 2 {
		t.Fatalf("fault counter: %v", c.Faults)
	}

	// A 500 with a message reaches go-proxmox as the error text, like PVE's own errors.
	sim.Fault(t, pvesim.FaultRule{Kind: pvesim.FaultError, Endpoint: "/version", Count: 1, Message: "proxy died"})
	if _, err := newClient(sim).Version(testContext(t, time.Minute)); err == nil || err.Error() != "500 proxy died" {
		t.Fatalf("go-proxmox error: %v", err)
	}

	// A rate lets about that share of requests fail.
	sim.ClearFaults()
	sim.Fault(t, pvesim.FaultRule{Kind: pvesim.FaultError, Endpoint: "GET /nodes", Rate: 0.5})
	failed := 0
	for range 200 {
		if call(t, sim, "GET", "/nodes", nil).Code == 500 {
			failed++
		}
	}
	if failed < 50 || failed > 150 {
		t.Fatalf("rate 0.5 failed %d of 200", failed)
	}
}

func TestFaultLatency(t *testing.T) {
	sim := pvesimtest.Start(t)
	sim.Fault(t, pvesim.FaultRule{Kind: pvesim.FaultLatency, Endpoint: "GET /version", Delay: pvesim.Duration(500 * time.Millisecond)})
	start := time.Now()
	if res := call(t, sim, "GET", "/version", nil); res.Code != 200 {
		t.Fatalf("%d %s", res.Code, res.Status)
	}
	if d := time.Since(start); d < 500*time.Millisecond {
		t.Fatalf("delayed request took %s", d)
	}
	start = time.Now()
	call(t, sim, "GET", "/nodes", nil)
	if d := time.Since(start); d >= 500*time.Millisecond {
		t.Fatalf("undelayed request took %s", d)
	}
}

func TestFaultLockContention(t *testing.T) {
	sim := pvesimtest.Start(t, pvesimtest.WithOptions(func(o *pvesim.Options) { o.LockTimeout = 300 * time.Millisecond }))
	createCT(t, sim, "pve1", 100, nil)

	// Held past the lock timeout: the synchronous config update fails as PVE's flock does.
	sim.Fault(t, pvesim.FaultRule{Kind: pvesim.FaultLock, Endpoint: "PUT /nodes/{node}/lxc/{vmid}/config", Count: 1})
	start := time.Now()
	res := call(t, sim, "PUT", "/nodes/pve1/lxc/100/config", map[string]any{"memory": 1024})
	want := "can't lock file '/run/lock/lxc/pve-config-100.lock' - got timeout"
	if res.Code != 500 || res.Status != want {
		t.Fatalf("contended update: %d %q", res.Code, res.Status)
	}
	if d := time.Since(start); d < 300*time.Millisecond {
		t.Fatalf("gave up after %s, before the lock timeout", d)
	}

	// A task meets the contention inside the worker: the call succeeds, the task fails.
	time.Sleep(200 * time.Millisecond) // the held lock expires
	sim.Fault(t, pvesim.FaultRule{Kind: pvesim.FaultLock, Endpoint: "POST /nodes/{node}/lxc/{vmid}/status/start", Count: 1})
	waitTask(t, sim, "pve1", call(t, sim, "POST", "/nodes/pve1/lxc/100/status/start", nil), want)

	// Held shorter than the timeout: the request waits and then succeeds.
	time.Sleep(200 * time.Millisecond)
	sim.Fault(t, pvesim.FaultRule{Kind: pvesim.FaultLock, Endpoint: "PUT /nodes/{node}/lxc/{vmid}/config", Count: 1, Delay: pvesim.Duration(150 * time.Millisecond)})
	start = time.Now()
	if res := call(t, sim, "PUT", "/nodes/pve1/lxc/100/config", map[string]any{"memory": 1024}); res.Code != 200 {
		t.Fatalf("briefly contended update: %d %s", res.Code, res.Status)
	}
	if d := time.Since(start); d < 150*time.Millisecond {
		t.Fatalf("update did not wait for the lock: %s", d)
	}
}

func TestFaultDroppedConnection(t *testing.T) {
	sim := pvesimtest.Start(t)
	sim.Fault(t, pvesim.FaultRule{Kind: pvesim.FaultDrop, Endpoint: "GET /nodes", Count: 1})
	_, err := newClient(sim).Nodes(testContext(t, time.Minute))
	if err == nil || !strings.Contains(err.Error(), "EOF") {
		t.Fatalf("dropped request: %v", err)
	}
	if _, err := newClient(sim).Nodes(testContext(t, time.Minute)); err != nil {
		t.Fatalf("next request: %v", err)
	}
	c := sim.Counters()
	if c.Total("GET /nodes", 0) != 1 || c.Total("GET /nodes", 200) != 1 || c.Faults[pvesim.FaultDrop] != 1 {
		t.Fatalf("counters: %+v", c)
	}
}

func TestFaultTaskFailure(t *testing.T) {
	sim := pvesimtest.Start(t)
	sim.Fault(t, pvesim.FaultRule{Kind: pvesim.FaultTask, Task: "vzcreate", Count: 1})
	res := call(t, sim, "POST", "/nodes/pve1/lxc", map[string]any{
		"vmid": 100, "ostemplate": "local:vztmpl/" + fake.Template, "rootfs": "local-lvm:4",
	})
	upid := waitTask(t, sim, "pve1", res, "unable to create CT 100 - injected task failure")
	var log []struct {
		N int    `json:"n"`
		T string `json:"t"`
	}
	call(t, sim, "GET", "/nodes/pve1/tasks/"+upid+"/log", nil).data(t, &log)
	if len(log) == 0 || log[len(log)-1].T != "TASK ERROR: unable to create CT 100 - injected task failure" {
		t.Fatalf("log: %+v", log)
	}
	// The failed create leaves nothing behind, and the next one works.
	if res := call(t, sim, "GET", "/nodes/pve1/lxc/100/config", nil); res.Code != 500 || !strings.Contains(res.Status, "does not exist") {
		t.Fatalf("config after failed create: %d %s", res.Code, res.Status)
	}
	createCT(t, sim, "pve1", 100, nil)

	// go-proxmox's Wait returns nil for a failed task; the exit status tells.
	sim.Fault(t, pvesim.FaultRule{Kind: pvesim.FaultTask, Task: "vzstart", Count: 1, Message: "startup for container '100' failed"})
	node, _ := newClient(sim).Node(testContext(t, time.Minute), "pve1")
	ct, err := node.Container(testContext(t, time.Minute), 100)
	if err != nil {
		t.Fatal(err)
	}
	task, err := ct.Start(testContext(t, time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if err := task.Wait(testContext(t, time.Minute), 10*time.Millisecond, time.Minute); err != nil {
		t.Fatal(err)
	}
	if !task.IsFailed || task.ExitStatus != "startup for container '100' failed" {
		t.Fatalf("task: failed %v exit %q", task.IsFailed, task.ExitStatus)
	}
	if c := sim.Counters(); c.TaskTotal("vzcreate", "error") != 1 || c.TaskTotal("vzstart", "error") != 1 || c.TaskTotal("vzcreate", "ok") != 1 {
		t.Fatalf("task counters: %+v", c.Tasks)
	}
}

// TestFaultTaskWarning: a task that logs a warning does its work and ends "WARNINGS: 1", which
// Proxmox VE counts as success.
func TestFaultTaskWarning(t *testing.T) {
	sim := pvesimtest.Start(t)
	sim.Fault(t, pvesim.FaultRule{Kind: pvesim.FaultWarn, Task: "vzcreate", Count: 1, Message: "Systemd 257 detected. You may need to enable nesting."})
	res := call(t, sim, "POST", "/nodes/pve1/lxc", map[string]any{
		"vmid": 100, "ostemplate": "local:vztmpl/" + fake.Template, "rootfs": "local-lvm:4",
	})
	upid := waitTask(t, sim, "pve1", res, "WARNINGS: 1")
	var log []struct {
		N int    `json:"n"`
		T string `json:"t"`
	}
	call(t, sim, "GET", "/nodes/pve1/tasks/"+upid+"/log", nil).data(t, &log)
	var lines []string
	for _, l := range log {
		lines = append(lines, l.T)
	}
	if !slices.Contains(lines, "WARN: Systemd 257 detected. You may need to enable nesting.") || lines[len(lines)-1] != "TASK WARNINGS: 1" {
		t.Fatalf("log: %q", lines)
	}
	if res := call(t, sim, "GET", "/nodes/pve1/lxc/100/config", nil); res.Code != 200 {
		t.Fatalf("the container of a create that warned does not exist: %d %s", res.Code, res.Status)
	}
	if c := sim.Counters(); c.TaskTotal("vzcreate", "ok") != 1 {
		t.Fatalf("a task with warnings is not counted as succeeded: %+v", c.Tasks)
	}
}

// TestAdminEndpoint drives faults and counters over HTTP, as benchmarks and outside checks do.
func TestAdminEndpoint(t *testing.T) {
	sim := pvesimtest.Start(t)
	admin := func(method, path string, body any, auth bool) (int, []byte) {
		t.Helper()
		var data []byte
		if body != nil {
			data, _ = json.Marshal(body)
		}
		req, _ := http.NewRequest(method, "https://"+sim.Addr+path, strings.NewReader(string(data)))
		if auth {
			req.Header.Set("Authorization", sim.Token())
		}
		res, err := sim.HTTPClient().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		if err != nil {
			t.Fatal(err)
		}
		return res.StatusCode, b
	}
	rule := map[string]any{"kind": "error", "endpoint": "GET /version", "count": 1, "status": 502}
	if code, _ := admin("POST", "/_pvesim/faults", rule, false); code != 401 {
		t.Fatalf("unauthenticated fault injection: %d", code)
	}
	code, body := admin("POST", "/_pvesim/faults", rule, true)
	if code != 200 {
		t.Fatalf("inject: %d %s", code, body)
	}
	if code, body := admin("POST", "/_pvesim/faults", map[string]any{"kind": "flood"}, true); code != 400 {
		t.Fatalf("bad rule accepted: %d %s", code, body)
	}
	if res := call(t, sim, "GET", "/version", nil); res.Code != 502 {
		t.Fatalf("injected fault: %d", res.Code)
	}
	_, body = admin("GET", "/_pvesim/faults", nil, false)
	var rules []pvesim.FaultRule
	if err := json.Unmarshal(body, &rules); err != nil || len(rules) != 1 || rules[0].Hits != 1 {
		t.Fatalf("rules: %s %v", body, err)
	}
	_, body = admin("GET", "/_pvesim/counters", nil, false)
	var c pvesim.Counters
	if err := json.Unmarshal(body, &c); err != nil || c.Total("GET /version", 502) != 1 {
		t.Fatalf("counters: %s %v", body, err)
	}
	if code, _ := admin("DELETE", "/_pvesim/faults", nil, true); code != 200 || len(sim.Faults()) != 0 {
		t.Fatalf("clear: %d %v", code, sim.Faults())
	}
	if code, _ := admin("POST", "/_pvesim/counters/reset", nil, true); code != 200 || sim.Counters().Total("") != 0 {
		t.Fatalf("reset: %d %+v", code, sim.Counters())
	}
	_, body = admin("GET", "/metrics", nil, false)
	if !strings.Contains(string(body), `pvesim_http_requests_total{code="502",method="GET",path="/version"} 1`) {
		t.Fatalf("metrics:\n%s", body)
	}
}

func TestParseFaultRule(t *testing.T) {
	r, err := pvesim.ParseFaultRule("error,endpoint=POST /nodes/{node}/lxc,rate=0.1,status=503")
	if err != nil || r.Kind != "error" || r.Endpoint != "POST /nodes/{node}/lxc" || r.Rate != 0.1 || r.Status != 503 {
		t.Fatalf("%+v %v", r, err)
	}
	r, err = pvesim.ParseFaultRule("latency,delay=250ms")
	if err != nil || time.Duration(r.Delay) != 250*time.Millisecond {
		t.Fatalf("%+v %v", r, err)
	}
	for _, bad := range []string{"flood", "latency", "error,rate=2", "task,endpoint=/version", "error,status=200", "error,speed=1"} {
		if _, err := pvesim.ParseFaultRule(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
