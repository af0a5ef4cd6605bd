package proxmox

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"templatemanager.dev/lxc-template-manager/internal/pvesim"
	"templatemanager.dev/lxc-template-manager/internal/pvesim/fake"
	"templatemanager.dev/lxc-template-manager/internal/pvesim/pvesimtest"
	"templatemanager.dev/lxc-template-manager/internal/testkit"
)

// fastRetry keeps the tests quick while still pausing between attempts.
var fastRetry = RetryPolicy{Attempts: 4, InitialBackoff: 40 * time.Millisecond, MaxBackoff: 200 * time.Millisecond, MaxElapsed: 10 * time.Second}

const fakeTemplate = "local:vztmpl/" + fake.Template

// simClient is a client of sim with its own metrics registry.
type simClient struct {
	*APIClient
	metrics  *Metrics
	registry *prometheus.Registry
}

func newSimClient(t *testing.T, sim *pvesimtest.Simulator, edit func(*Settings)) simClient {
	t.Helper()
	s := Settings{
		Endpoint: sim.URL,
		Auth:     Auth{TokenID: sim.TokenID, TokenSecret: sim.Secret},
		TLS:      TLSSettings{CAPEM: sim.CAPEM},
		Retry:    fastRetry,
	}
	if edit != nil {
		edit(&s)
	}
	reg := prometheus.NewRegistry()
	m, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	c, err := New(s, WithMetrics(m))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return simClient{APIClient: c, metrics: m, registry: reg}
}

// requests reads back lxctm_proxmox_requests_total for one endpoint pattern, method and code.
func (c simClient) requests(endpoint, method, code string) int {
	return int(testutil.ToFloat64(c.metrics.requests.WithLabelValues(endpoint, method, code)))
}

func testContext(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// waitTaskOK checks that the call that started a task (what) returned no error and a UPID, and
// waits until the task succeeded.
func waitTaskOK(t *testing.T, ctx context.Context, c Client, upid UPID, err error, what string) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if upid == "" {
		t.Fatalf("%s: no task", what)
	}
	if st := testkit.WaitTask(t, ctx, c, upid); !st.Succeeded() {
		t.Fatalf("%s: task %s ended with %q", what, upid, st.ExitStatus)
	}
}

// simCount waits for the simulator to have counted want requests to endpoint (it counts after
// answering, so a client can be faster), then checks that no more arrive.
func simCount(t *testing.T, sim *pvesimtest.Simulator, endpoint string, want int, codes ...int) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	got := sim.Counters().Total(endpoint, codes...)
	for got < want && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
		got = sim.Counters().Total(endpoint, codes...)
	}
	if got == want {
		time.Sleep(50 * time.Millisecond)
		got = sim.Counters().Total(endpoint, codes...)
	}
	if got != want {
		t.Errorf("simulator counted %d requests to %q with codes %v, want %d", got, endpoint, codes, want)
	}
}

// resetCounters zeroes the simulator's counters once the requests already answered are counted.
func resetCounters(sim *pvesimtest.Simulator) {
	time.Sleep(50 * time.Millisecond)
	sim.ResetCounters()
}

func createSpec(vmid int) CreateSpec {
	return CreateSpec{
		VMID: vmid, OSTemplate: fakeTemplate, Hostname: "web-1",
		Description: "lxctm-owner: default/web uid=0b7d", Tags: []string{"lxctm", "web"},
		Cores: 1, MemoryMiB: 512, Storage: "local-lvm", RootFSGiB: 4, Features: Features{Nesting: true},
		Nets:          []NetConfig{{Name: "eth0", Bridge: "vmbr0", IP: "dhcp"}},
		Password:      "s3cret-root",
		SSHPublicKeys: []string{"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl test@example"},
	}
}

// TestSimulatorLifecycle drives a container through its whole life with the Client only.
func TestSimulatorLifecycle(t *testing.T) {
	sim := pvesimtest.Start(t)
	ctx := testContext(t, time.Minute)
	c := newSimClient(t, sim, nil)

	v, err := c.Version(ctx)
	if err != nil || v.Release == "" || v.Version == "" {
		t.Fatalf("version: %+v, %v", v, err)
	}
	nodes, err := c.Nodes(ctx)
	if err != nil || len(nodes) != 1 || nodes[0].Name != "pve1" || !nodes[0].Online() ||
		nodes[0].MaxMemory == 0 || nodes[0].FreeMemory == 0 || nodes[0].FreeMemory > nodes[0].MaxMemory {
		t.Fatalf("nodes: %+v, %v", nodes, err)
	}
	tmpls, err := DiscoverOSTemplates(ctx, c, nodes)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, tm := range tmpls {
		found = found || (tm.VolID == fakeTemplate && tm.Node == "pve1" && tm.Storage == "local" && tm.Format == "tzst")
	}
	if !found {
		t.Fatalf("templates %+v lack %s", tmpls, fakeTemplate)
	}

	vmid, err := c.NextVMID(ctx)
	if err != nil || vmid != 100 {
		t.Fatalf("next vmid: %d, %v", vmid, err)
	}
	if free, err := c.VMIDFree(ctx, vmid); err != nil || !free {
		t.Fatalf("vmid %d free: %v, %v", vmid, free, err)
	}

	createUPID, err := c.CreateContainer(ctx, "pve1", createSpec(vmid))
	waitTaskOK(t, ctx, c, createUPID, err, "create")
	if p, _ := createUPID.Parse(); p.Type != "vzcreate" || p.ID != "100" || p.Node != "pve1" {
		t.Fatalf("create UPID %s", createUPID)
	}
	if free, err := c.VMIDFree(ctx, vmid); err != nil || free {
		t.Fatalf("vmid %d still free after create: %v", vmid, err)
	}
	if next, err := c.NextVMID(ctx); err != nil || next != 101 {
		t.Fatalf("next vmid after create: %d, %v", next, err)
	}
	if _, err := c.CreateContainer(ctx, "pve1", createSpec(vmid)); !errors.Is(err, ErrAlreadyExists) {
		t.Fatalf("second create: %v", err)
	}

	guests, err := c.Guests(ctx)
	if err != nil || len(guests) != 1 || guests[0].VMID != vmid || guests[0].Node != "pve1" ||
		!guests[0].IsContainer() || !guests[0].HasTag("lxctm") || guests[0].Lock != "" {
		t.Fatalf("guests: %+v, %v", guests, err)
	}

	cfg, err := c.ContainerConfig(ctx, "pve1", vmid)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Hostname != "web-1" || cfg.Description != "lxctm-owner: default/web uid=0b7d" || strings.Join(cfg.Tags, ";") != "lxctm;web" ||
		cfg.MemoryMiB != 512 || cfg.Cores != 1 || cfg.RootFS.SizeBytes != 4<<30 || !cfg.Features.Nesting ||
		!cfg.Unprivileged || cfg.Lock != "" || cfg.Digest == "" {
		t.Fatalf("config: %+v", cfg)
	}
	net0 := cfg.Nets[0]
	if net0.Name != "eth0" || net0.Bridge != "vmbr0" || net0.IP != "dhcp" || !strings.HasPrefix(net0.HWAddr, "BC:24:11:") {
		t.Fatalf("net0: %+v", net0)
	}
	if _, ok := cfg.Raw["password"]; ok {
		t.Fatal("config shows the root password")
	}

	st, err := c.ContainerStatus(ctx, "pve1", vmid)
	if err != nil || st.Running() || st.Status != "stopped" || st.VMID != vmid {
		t.Fatalf("status after create: %+v, %v", st, err)
	}
	if ifaces, err := c.ContainerInterfaces(ctx, "pve1", vmid); err != nil || len(ifaces) != 0 {
		t.Fatalf("interfaces while stopped: %v, %v", ifaces, err)
	}
	if upid, err := c.StopContainer(ctx, "pve1", vmid); err != nil || upid != "" {
		t.Fatalf("stop of a stopped container: %q, %v", upid, err)
	}

	upid, err := c.StartContainer(ctx, "pve1", vmid)
	waitTaskOK(t, ctx, c, upid, err, "start")
	if st, err := c.ContainerStatus(ctx, "pve1", vmid); err != nil || !st.Running() {
		t.Fatalf("status after start: %+v, %v", st, err)
	}
	// Starting a running container is the outcome already reached.
	if upid, err := c.StartContainer(ctx, "pve1", vmid); err != nil || upid != "" {
		t.Fatalf("second start: %q, %v", upid, err)
	}
	if got := c.requests("/nodes/{node}/lxc/{vmid}/status/start", "POST", "500"); got != 1 {
		t.Fatalf("second start answered 500 %d times, want 1 (not retried)", got)
	}

	var addr string
	for addr == "" {
		ifaces, err := c.ContainerInterfaces(ctx, "pve1", vmid)
		if err != nil {
			t.Fatal(err)
		}
		if a, ok := FirstIPv4(ifaces); ok {
			if !sim.Subnet.Contains(a) {
				t.Fatalf("address %s outside %s", a, sim.Subnet)
			}
			addr = a.String()
		}
		select {
		case <-ctx.Done():
			t.Fatal("no DHCP address")
		case <-time.After(20 * time.Millisecond):
		}
	}

	mem := 1024
	if err := c.UpdateContainerConfig(ctx, "pve1", vmid, ConfigUpdate{
		MemoryMiB: &mem, Tags: []string{"lxctm", "web", "db"}, Digest: cfg.Digest,
	}); err != nil {
		t.Fatalf("update: %v", err)
	}
	updated, err := c.ContainerConfig(ctx, "pve1", vmid)
	if err != nil || updated.MemoryMiB != 1024 || strings.Join(updated.Tags, ";") != "db;lxctm;web" || updated.Digest == cfg.Digest {
		t.Fatalf("config after update: %+v, %v", updated, err)
	}
	// The old digest no longer matches: Proxmox refuses, and the refusal is not retried.
	err = c.UpdateContainerConfig(ctx, "pve1", vmid, ConfigUpdate{MemoryMiB: &mem, Digest: cfg.Digest})
	if !errors.Is(err, ErrConflict) || IsRetryable(err) {
		t.Fatalf("update with a stale digest: %v", err)
	}

	lines, err := c.TaskLogTail(ctx, createUPID, 2)
	if err != nil || len(lines) != 2 || lines[1] != "TASK OK" {
		t.Fatalf("create log tail: %q, %v", lines, err)
	}

	_, err = c.DeleteContainer(ctx, "pve1", vmid, DeleteOptions{Purge: true})
	if !errors.Is(err, ErrAlreadyRunning) {
		t.Fatalf("delete while running: %v", err)
	}
	upid, err = c.ShutdownContainer(ctx, "pve1", vmid, 30*time.Second, true)
	waitTaskOK(t, ctx, c, upid, err, "shutdown")
	if upid, err := c.ShutdownContainer(ctx, "pve1", vmid, 30*time.Second, true); err != nil || upid != "" {
		t.Fatalf("second shutdown: %q, %v", upid, err)
	}
	upid, err = c.DeleteContainer(ctx, "pve1", vmid, DeleteOptions{Purge: true})
	waitTaskOK(t, ctx, c, upid, err, "delete")

	_, err = c.ContainerConfig(ctx, "pve1", vmid)
	var pe *Error
	if !errors.As(err, &pe) || pe.Kind != ErrNotFound || !strings.Contains(pe.Message, "nodes/pve1/lxc/100.conf' does not exist") {
		t.Fatalf("config after delete: %v", err)
	}
	if _, err := c.DeleteContainer(ctx, "pve1", vmid, DeleteOptions{Purge: true}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}
	if guests, err := c.Guests(ctx); err != nil || len(guests) != 0 {
		t.Fatalf("guests after delete: %+v, %v", guests, err)
	}

	// Every request was counted under its endpoint pattern, never under a raw id.
	if got := c.requests("/nodes/{node}/lxc", "POST", "200"); got != 1 {
		t.Errorf("create requests = %d", got)
	}
	if got := c.requests("/nodes/{node}/lxc", "POST", "500"); got != 1 {
		t.Errorf("refused creates = %d", got)
	}
	if got := c.requests("/nodes/{node}/tasks/{upid}/status", "GET", "200"); got < 5 {
		t.Errorf("task status requests = %d", got)
	}
	if got := c.requests("/nodes/{node}/lxc/{vmid}/config", "PUT", "500"); got != 1 {
		t.Errorf("stale-digest updates = %d", got)
	}
	checkMetricLabels(t, c.registry)
}

// checkMetricLabels fails when a request metric carries a raw node, VMID or UPID.
func checkMetricLabels(t *testing.T, reg *prometheus.Registry) {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	seen := 0
	for _, f := range families {
		if !strings.HasPrefix(f.GetName(), "lxctm_proxmox_request") {
			continue
		}
		for _, m := range f.GetMetric() {
			seen++
			for _, l := range m.GetLabel() {
				if l.GetName() == "endpoint" && (strings.Contains(l.GetValue(), "pve1") ||
					strings.Contains(l.GetValue(), "UPID") || strings.Contains(l.GetValue(), "100")) {
					t.Errorf("%s has raw id in endpoint %q", f.GetName(), l.GetValue())
				}
			}
		}
	}
	if seen == 0 {
		t.Error("no request metrics gathered")
	}
}

// histogramCount reads the sample count of the latency histogram for one endpoint and method.
func histogramCount(t *testing.T, reg *prometheus.Registry, endpoint, method string) uint64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != "lxctm_proxmox_request_duration_seconds" {
			continue
		}
		for _, m := range f.GetMetric() {
			if labelsAre(m, map[string]string{"endpoint": endpoint, "method": method}) {
				return m.GetHistogram().GetSampleCount()
			}
		}
	}
	return 0
}

func labelsAre(m *dto.Metric, want map[string]string) bool {
	got := map[string]string{}
	for _, l := range m.GetLabel() {
		got[l.GetName()] = l.GetValue()
	}
	for k, v := range want {
		if got[k] != v {
			return false
		}
	}
	return true
}

// TestSimulatorRetriesServerErrors shows transient 5xx answers retried with backoff, counted on
// both sides.
func TestSimulatorRetriesServerErrors(t *testing.T) {
	sim := pvesimtest.Start(t)
	ctx := testContext(t, time.Minute)
	c := newSimClient(t, sim, func(s *Settings) {
		s.Retry = RetryPolicy{Attempts: 4, InitialBackoff: 100 * time.Millisecond, MaxBackoff: time.Second, MaxElapsed: 10 * time.Second}
	})

	sim.Fault(t, pvesim.FaultRule{Kind: pvesim.FaultError, Endpoint: "GET /version", Status: 503, Count: 2})
	start := time.Now()
	if _, err := c.Version(ctx); err != nil {
		t.Fatalf("version after two 503s: %v", err)
	}
	elapsed := time.Since(start)
	simCount(t, sim, "GET /version", 2, 503)
	simCount(t, sim, "GET /version", 1, 200)
	// Pauses of at least half of 100 ms and 200 ms.
	if elapsed < 150*time.Millisecond {
		t.Errorf("three attempts took %s: no backoff", elapsed)
	}
	if c.requests("/version", "GET", "503") != 2 || c.requests("/version", "GET", "200") != 1 {
		t.Errorf("client metrics: 503=%d 200=%d", c.requests("/version", "GET", "503"), c.requests("/version", "GET", "200"))
	}
	if got := histogramCount(t, c.registry, "/version", "GET"); got != 3 {
		t.Errorf("latency samples = %d, want 3", got)
	}
	if got := testutil.ToFloat64(c.metrics.retries.WithLabelValues("get_version", "server_error")); got != 2 {
		t.Errorf("retries metric = %v, want 2", got)
	}

	// A persistent 500 gives up after Attempts, and the error says it is worth retrying later.
	sim.ClearFaults()
	resetCounters(sim)
	sim.Fault(t, pvesim.FaultRule{Kind: pvesim.FaultError, Endpoint: "GET /nodes", Message: "cluster filesystem not ready"})
	_, err := c.Nodes(ctx)
	var pe *Error
	if !errors.As(err, &pe) || pe.Kind != ErrServer || pe.StatusCode != 500 || pe.Message != "cluster filesystem not ready" || !IsRetryable(err) {
		t.Fatalf("persistent 500: %v", err)
	}
	simCount(t, sim, "GET /nodes", 4)
}

// TestSimulatorRetriesDroppedConnections shows reads retried after the connection drops, and a
// create that is never sent twice once it may have reached Proxmox.
func TestSimulatorRetriesDroppedConnections(t *testing.T) {
	sim := pvesimtest.Start(t)
	ctx := testContext(t, time.Minute)
	c := newSimClient(t, sim, nil)

	sim.Fault(t, pvesim.FaultRule{Kind: pvesim.FaultDrop, Endpoint: "GET /cluster/resources", Count: 2})
	if _, err := c.Guests(ctx); err != nil {
		t.Fatalf("guests after two dropped connections: %v", err)
	}
	simCount(t, sim, "GET /cluster/resources", 3)
	if got := c.requests("/cluster/resources", "GET", "unreachable"); got != 2 {
		t.Errorf("client counted %d dropped requests, want 2", got)
	}

	// Dropped after sending: the create may have happened, so it is not retried.
	resetCounters(sim)
	sim.Fault(t, pvesim.FaultRule{Kind: pvesim.FaultDrop, Endpoint: "POST /nodes/{node}/lxc", Count: 1})
	_, err := c.CreateContainer(ctx, "pve1", createSpec(200))
	if !errors.Is(err, ErrUnreachable) || !IsOutcomeUnknown(err) {
		t.Fatalf("create with a dropped connection: %v", err)
	}
	simCount(t, sim, "POST /nodes/{node}/lxc", 1)

	// A 503 proves Proxmox did nothing: the create is retried.
	resetCounters(sim)
	sim.Fault(t, pvesim.FaultRule{Kind: pvesim.FaultError, Endpoint: "POST /nodes/{node}/lxc", Status: 503, Count: 1})
	upid, err := c.CreateContainer(ctx, "pve1", createSpec(201))
	waitTaskOK(t, ctx, c, upid, err, "create after a 503")
	simCount(t, sim, "POST /nodes/{node}/lxc", 2)

	// A 500 without a known cause is an answer from Proxmox itself: not retried, not ambiguous.
	resetCounters(sim)
	sim.Fault(t, pvesim.FaultRule{Kind: pvesim.FaultError, Endpoint: "POST /nodes/{node}/lxc", Count: 1})
	_, err = c.CreateContainer(ctx, "pve1", createSpec(202))
	if !errors.Is(err, ErrServer) || IsOutcomeUnknown(err) {
		t.Fatalf("create with a 500: %v", err)
	}
	simCount(t, sim, "POST /nodes/{node}/lxc", 1)

	// Start is safe to repeat: a dropped start is sent again.
	resetCounters(sim)
	sim.Fault(t, pvesim.FaultRule{Kind: pvesim.FaultDrop, Endpoint: "POST /nodes/{node}/lxc/{vmid}/status/start", Count: 1})
	upid, err = c.StartContainer(ctx, "pve1", 201)
	waitTaskOK(t, ctx, c, upid, err, "start after a dropped connection")
	simCount(t, sim, "POST /nodes/{node}/lxc/{vmid}/status/start", 2)
}

// TestSimulatorRetriesTimeouts shows an attempt that outlives RequestTimeout abandoned and tried
// again.
func TestSimulatorRetriesTimeouts(t *testing.T) {
	sim := pvesimtest.Start(t)
	ctx := testContext(t, time.Minute)
	c := newSimClient(t, sim, func(s *Settings) { s.RequestTimeout = 300 * time.Millisecond })

	sim.Fault(t, pvesim.FaultRule{Kind: pvesim.FaultLatency, Endpoint: "GET /nodes", Delay: pvesim.Duration(2 * time.Second), Count: 1})
	start := time.Now()
	if _, err := c.Nodes(ctx); err != nil {
		t.Fatalf("nodes after a slow answer: %v", err)
	}
	if elapsed := time.Since(start); elapsed < 300*time.Millisecond || elapsed > 1500*time.Millisecond {
		t.Errorf("took %s, want one timeout of 300ms and a quick retry", elapsed)
	}
	if c.requests("/nodes", "GET", "timeout") != 1 || c.requests("/nodes", "GET", "200") != 1 {
		t.Errorf("client metrics: timeout=%d 200=%d", c.requests("/nodes", "GET", "timeout"), c.requests("/nodes", "GET", "200"))
	}
	if hits := sim.Faults()[0].Hits; hits != 1 {
		t.Errorf("latency fault hit %d times", hits)
	}

	// Slow every time: the call gives up with ErrUnreachable naming the timeout.
	sim.Fault(t, pvesim.FaultRule{Kind: pvesim.FaultLatency, Endpoint: "GET /version", Delay: pvesim.Duration(2 * time.Second)})
	_, err := c.Version(ctx)
	var pe *Error
	if !errors.As(err, &pe) || pe.Kind != ErrUnreachable || !strings.Contains(pe.Message, "no answer within 300ms") {
		t.Fatalf("persistently slow: %v", err)
	}
	if got := c.requests("/version", "GET", "timeout"); got != fastRetry.Attempts {
		t.Errorf("attempts = %d, want %d", got, fastRetry.Attempts)
	}

	// A create that timed out may have happened: one attempt only.
	_, err = c.CreateContainer(ctx, "pve1", createSpec(300))
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	sim.Fault(t, pvesim.FaultRule{Kind: pvesim.FaultLatency, Endpoint: "POST /nodes/{node}/lxc", Delay: pvesim.Duration(2 * time.Second), Count: 1})
	_, err = c.CreateContainer(ctx, "pve1", createSpec(301))
	if !errors.Is(err, ErrUnreachable) || !IsOutcomeUnknown(err) {
		t.Fatalf("slow create: %v", err)
	}
	if got := c.requests("/nodes/{node}/lxc", "POST", "timeout"); got != 1 {
		t.Errorf("slow create sent %d times, want 1", got)
	}
}

// TestSimulatorRetriesLocks shows lock contention waited out with backoff.
func TestSimulatorRetriesLocks(t *testing.T) {
	sim := pvesimtest.Start(t, pvesimtest.WithTaskDurationOf("vzcreate", 700*time.Millisecond))
	ctx := testContext(t, time.Minute)
	c := newSimClient(t, sim, func(s *Settings) {
		s.Retry = RetryPolicy{Attempts: 10, InitialBackoff: 50 * time.Millisecond, MaxBackoff: 200 * time.Millisecond, MaxElapsed: 10 * time.Second}
	})

	// A destroy while the create task holds "lock: create" meets "CT is locked (create)" and
	// succeeds once the create is done.
	upid, err := c.CreateContainer(ctx, "pve1", createSpec(400))
	if err != nil {
		t.Fatal(err)
	}
	del, err := c.DeleteContainer(ctx, "pve1", 400, DeleteOptions{Purge: true})
	if err != nil {
		t.Fatalf("delete during create: %v", err)
	}
	if st := testkit.WaitTask(t, ctx, c, upid); !st.Succeeded() {
		t.Fatalf("create: %q", st.ExitStatus)
	}
	waitTaskOK(t, ctx, c, del, nil, "delete")
	simCount(t, sim, "DELETE /nodes/{node}/lxc/{vmid}", 1, 200)
	if got := sim.Counters().Total("DELETE /nodes/{node}/lxc/{vmid}", 500); got < 1 {
		t.Errorf("delete met the lock %d times, want at least 1", got)
	}
	if got := testutil.ToFloat64(c.metrics.retries.WithLabelValues("delete_container", "locked")); got < 1 {
		t.Errorf("lock retries metric = %v", got)
	}

	// Another holder of the config lock past Proxmox's lock timeout: "can't lock file … got
	// timeout", then success once the holder lets go.
	upid, err = c.CreateContainer(ctx, "pve1", createSpec(401))
	waitTaskOK(t, ctx, c, upid, err, "create")
	resetCounters(sim)
	sim.Fault(t, pvesim.FaultRule{Kind: pvesim.FaultLock, Endpoint: "PUT /nodes/{node}/lxc/{vmid}/config", Count: 1})
	host := "web-401"
	if err := c.UpdateContainerConfig(ctx, "pve1", 401, ConfigUpdate{Hostname: &host}); err != nil {
		t.Fatalf("update under lock contention: %v", err)
	}
	simCount(t, sim, "PUT /nodes/{node}/lxc/{vmid}/config", 1, 500)
	simCount(t, sim, "PUT /nodes/{node}/lxc/{vmid}/config", 1, 200)
	if cfg, err := c.ContainerConfig(ctx, "pve1", 401); err != nil || cfg.Hostname != host {
		t.Errorf("hostname after update: %q, %v", cfg.Hostname, err)
	}
}

// TestSimulatorClassifiesFailures shows each failure mapped to its kind, and the ones that
// cannot heal by themselves not retried.
func TestSimulatorClassifiesFailures(t *testing.T) {
	sim := pvesimtest.Start(t, pvesimtest.WithUser("ops@pve", "correct horse"))
	ctx := testContext(t, time.Minute)

	t.Run("bad token", func(t *testing.T) {
		c := newSimClient(t, sim, func(s *Settings) { s.Auth.TokenSecret = "11111111-2222-3333-4444-555555555555" })
		resetCounters(sim)
		_, err := c.Version(ctx)
		var pe *Error
		if !errors.As(err, &pe) || pe.Kind != ErrAuthentication || pe.StatusCode != 401 || IsRetryable(err) {
			t.Fatalf("bad token: %v", err)
		}
		if strings.Contains(err.Error(), "11111111") {
			t.Fatal("error shows the secret")
		}
		simCount(t, sim, "GET /version", 1)
		if got := c.requests("/version", "GET", "401"); got != 1 {
			t.Errorf("client counted %d 401s", got)
		}
	})

	t.Run("ticket login", func(t *testing.T) {
		c := newSimClient(t, sim, func(s *Settings) { s.Auth = Auth{Username: "ops@pve", Password: "correct horse"} })
		// Concurrent first calls share one login.
		errs := make(chan error, 8)
		for range 8 {
			go func() {
				_, err := c.Nodes(ctx)
				errs <- err
			}()
		}
		for range 8 {
			if err := <-errs; err != nil {
				t.Fatalf("nodes with a ticket: %v", err)
			}
		}
		if got := c.requests("/access/ticket", "POST", "200"); got != 1 {
			t.Errorf("logged in %d times, want 1", got)
		}
		if got := c.requests("/nodes", "GET", "401"); got != 0 {
			t.Errorf("%d requests went out without a ticket", got)
		}

		bad := newSimClient(t, sim, func(s *Settings) { s.Auth = Auth{Username: "ops@pve", Password: "wrong"} })
		_, err := bad.Nodes(ctx)
		if !errors.Is(err, ErrAuthentication) || IsRetryable(err) {
			t.Fatalf("wrong password: %v", err)
		}
		if strings.Contains(err.Error(), "wrong") {
			t.Fatal("error shows the password")
		}
		if got := bad.requests("/access/ticket", "POST", "401"); got != 1 {
			t.Errorf("login attempts = %d, want 1", got)
		}
	})

	t.Run("unknown CA", func(t *testing.T) {
		other, err := pvesim.NewCA()
		if err != nil {
			t.Fatal(err)
		}
		for name, tlsSettings := range map[string]TLSSettings{"system roots": {}, "other CA": {CAPEM: other.PEM}} {
			c := newSimClient(t, sim, func(s *Settings) { s.TLS = tlsSettings })
			_, err := c.Version(ctx)
			if !errors.Is(err, ErrTLS) || IsRetryable(err) || !strings.Contains(err.Error(), "unknown authority") {
				t.Fatalf("%s: %v", name, err)
			}
			if got := c.requests("/version", "GET", "tls_verification_failed"); got != 1 {
				t.Errorf("%s: %d attempts, want 1", name, got)
			}
		}
		insecure := newSimClient(t, sim, func(s *Settings) { s.TLS = TLSSettings{InsecureSkipVerify: true} })
		if _, err := insecure.Version(ctx); err != nil {
			t.Fatalf("insecureSkipVerify: %v", err)
		}
	})

	t.Run("hostname mismatch", func(t *testing.T) {
		caPEM, cert := certificateFor(t, "pve.example")
		l := testkit.Listen(t)
		go func() { _ = sim.Server.Serve(l, cert) }()
		c := newSimClient(t, sim, func(s *Settings) {
			s.Endpoint = "https://localhost:" + strconv.Itoa(l.Addr().(*net.TCPAddr).Port) + "/api2/json"
			s.TLS = TLSSettings{CAPEM: caPEM}
		})
		_, err := c.Version(ctx)
		if !errors.Is(err, ErrTLS) || !strings.Contains(err.Error(), "certificate is valid for pve.example, not localhost") {
			t.Fatalf("hostname mismatch: %v", err)
		}
	})

	t.Run("unreachable", func(t *testing.T) {
		addr := "127.0.0.1:" + strconv.Itoa(testkit.ReservePort(t)) // nothing listens there
		c := newSimClient(t, sim, func(s *Settings) { s.Endpoint = "https://" + addr + "/api2/json" })
		_, err := c.Version(ctx)
		var pe *Error
		if !errors.As(err, &pe) || pe.Kind != ErrUnreachable || !strings.Contains(pe.Message, "connection refused") || !IsRetryable(err) {
			t.Fatalf("unreachable: %v", err)
		}
		if got := c.requests("/version", "GET", "unreachable"); got != fastRetry.Attempts {
			t.Errorf("attempts = %d, want %d", got, fastRetry.Attempts)
		}
		// Nothing was sent, so even a create may try again.
		_, err = c.CreateContainer(ctx, "pve1", createSpec(500))
		if !errors.Is(err, ErrUnreachable) || IsOutcomeUnknown(err) {
			t.Fatalf("create while unreachable: %v", err)
		}
		if got := c.requests("/nodes/{node}/lxc", "POST", "unreachable"); got != fastRetry.Attempts {
			t.Errorf("create attempts = %d, want %d", got, fastRetry.Attempts)
		}
	})

	c := newSimClient(t, sim, nil)

	t.Run("not found", func(t *testing.T) {
		resetCounters(sim)
		for name, call := range map[string]func() error{
			"config": func() error { _, err := c.ContainerConfig(ctx, "pve1", 999); return err },
			"status": func() error { _, err := c.ContainerStatus(ctx, "pve1", 999); return err },
			"start":  func() error { _, err := c.StartContainer(ctx, "pve1", 999); return err },
			"node":   func() error { _, err := c.Storages(ctx, "pve9"); return err },
			"task": func() error {
				_, err := c.TaskStatus(ctx, "UPID:pve1:00001234:00005678:65A1B2C3:vzstart:999:root@pam!pvesimtest:")
				return err
			},
		} {
			err := call()
			if !errors.Is(err, ErrNotFound) || IsRetryable(err) {
				t.Errorf("%s: %v", name, err)
			}
		}
		simCount(t, sim, "", 5)
	})

	t.Run("bad request", func(t *testing.T) {
		resetCounters(sim)
		spec := createSpec(600)
		spec.MemoryMiB = 8
		_, err := c.CreateContainer(ctx, "pve1", spec)
		var pe *Error
		if !errors.As(err, &pe) || pe.Kind != ErrBadRequest || pe.StatusCode != 400 || pe.Params["memory"] == "" || IsRetryable(err) {
			t.Fatalf("memory below minimum: %v", err)
		}
		if !strings.Contains(err.Error(), "memory: value must have a minimum value of 16") {
			t.Errorf("message does not name the parameter: %v", err)
		}
		sim.Fault(t, pvesim.FaultRule{Kind: pvesim.FaultError, Endpoint: "GET /cluster/resources", Status: 400, Count: 1})
		if _, err := c.Guests(ctx); !errors.Is(err, ErrBadRequest) {
			t.Fatalf("injected 400: %v", err)
		}
		simCount(t, sim, "", 2)
	})

	t.Run("permission", func(t *testing.T) {
		spec := createSpec(700)
		spec.Features = Features{Nesting: true, Keyctl: true}
		_, err := c.CreateContainer(ctx, "pve1", spec)
		var pe *Error
		if !errors.As(err, &pe) || pe.Kind != ErrPermission || pe.StatusCode != 403 || !strings.Contains(pe.Message, "only allowed for root@pam") || IsRetryable(err) {
			t.Fatalf("keyctl with a token: %v", err)
		}
	})
}

// TestSimulatorTaskFailure shows that only exit status OK is success and that a failed task
// carries its text.
func TestSimulatorTaskFailure(t *testing.T) {
	sim := pvesimtest.Start(t)
	ctx := testContext(t, time.Minute)
	c := newSimClient(t, sim, nil)

	upid, err := c.CreateContainer(ctx, "pve1", createSpec(800))
	waitTaskOK(t, ctx, c, upid, err, "create")

	sim.Fault(t, pvesim.FaultRule{Kind: pvesim.FaultTask, Task: "vzstart", Message: "startup for container '800' failed", Count: 1})
	upid, err = c.StartContainer(ctx, "pve1", 800)
	if err != nil {
		t.Fatal(err)
	}
	st := testkit.WaitTask(t, ctx, c, upid)
	if st.Succeeded() || st.ExitStatus != "startup for container '800' failed" {
		t.Fatalf("failed task reported as %+v", st)
	}
	err = st.Err()
	var te *TaskError
	if !errors.As(err, &te) || te.ExitStatus != "startup for container '800' failed" || te.Type != "vzstart" || !errors.Is(err, ErrTaskFailed) {
		t.Fatalf("task error: %v", err)
	}
	lines, err := c.TaskLogTail(ctx, upid, 1)
	if err != nil || len(lines) != 1 || lines[0] != "TASK ERROR: startup for container '800' failed" {
		t.Fatalf("log tail: %q, %v", lines, err)
	}
	if s, err := c.ContainerStatus(ctx, "pve1", 800); err != nil || s.Running() {
		t.Fatalf("status after failed start: %+v, %v", s, err)
	}

	upid, err = c.StartContainer(ctx, "pve1", 800)
	waitTaskOK(t, ctx, c, upid, err, "second start")

	// A missing template fails inside the create task.
	spec := createSpec(801)
	spec.OSTemplate = "local:vztmpl/missing.tar.zst"
	upid, err = c.CreateContainer(ctx, "pve1", spec)
	if err != nil {
		t.Fatalf("create from a missing template: %v", err)
	}
	st = testkit.WaitTask(t, ctx, c, upid)
	if st.Succeeded() || !errors.Is(st.Err(), ErrTaskFailed) || !strings.Contains(st.ExitStatus, "missing.tar.zst") {
		t.Fatalf("create from a missing template: %+v", st)
	}
	if _, err := c.ContainerConfig(ctx, "pve1", 801); !errors.Is(err, ErrNotFound) {
		t.Fatalf("failed create left a container: %v", err)
	}
}

// certificateFor issues a certificate for host only, signed by a fresh CA.
func certificateFor(t *testing.T, host string) ([]byte, tls.Certificate) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: host}, DNSNames: []string{host},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		tls.Certificate{Certificate: [][]byte{der, caDER}, PrivateKey: key}
}
