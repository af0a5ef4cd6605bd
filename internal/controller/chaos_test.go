package controller

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
	"templatemanager.dev/lxc-template-manager/internal/chaos"
	"templatemanager.dev/lxc-template-manager/internal/proxmox"
	"templatemanager.dev/lxc-template-manager/internal/pvesim"
	"templatemanager.dev/lxc-template-manager/internal/pvesim/fake"
	"templatemanager.dev/lxc-template-manager/internal/pvesim/pvesimtest"
	"templatemanager.dev/lxc-template-manager/internal/shard"
)

// The chaos scenarios (TestChaos*) run a fleet of containers over two pvesim clusters on the
// fake backend with guest stand-ins, do harm to it, and check what the design promises: every
// container ends Ready, exactly one Proxmox container per LXCContainer (by its owner marker),
// no marked Proxmox container without an LXCContainer, no script run twice for the same content.
// Each prints one line:
//
//	chaos NAME: containers=N ready=N duplicates=D orphans=O reruns=R [figures]
//
// The scenarios' objects carry chaosLabel: the package's manager ignores them and a manager of
// the scenario's own (chaosManager) reconciles them, so a scenario can kill and restart it.
// A kill is in-process: the manager's context is cancelled with no graceful shutdown (its
// reconciles' API calls fail at once) and a new manager with empty caches and queues starts.
//
// LXCTM_CHAOS=full runs the sizes of `make chaos`; without it each scenario runs a short version.

const chaosLabel = "lxctm.test/chaos"

func chaosFull() bool { return os.Getenv("LXCTM_CHAOS") == "full" }

// chaosSize is short in `make test` and full in `make chaos`.
func chaosSize(short, full int) int {
	if chaosFull() {
		return full
	}
	return short
}

// chaosScenarios numbers scenarios so each gets subnets of its own.
var chaosScenarios atomic.Int32

// chaosFleet is one scenario's fleet and its manager.
type chaosFleet struct {
	name     string
	id       string
	sims     []*pvesimtest.Simulator
	clusters []*lxcv1.ProxmoxCluster
	ns       string
	template *lxcv1.LXCTemplate
	created  int

	mu sync.Mutex
	// running are the fleet's managers; more than one only with a lease.
	running  []*chaosManager
	managers int
	tune     tuning
	// dial, when not nil, is how the manager's SSH client reaches the guests.
	dial func(context.Context, string, string) (net.Conn, error)
	// lease, when not empty, makes the managers replicas that elect a leader.
	lease string
	// processes runs the managers as processes of their own, killed with SIGKILL.
	processes bool
	// shards, when not empty, are the --watch-label-selector of the fleet's managers: one
	// manager each, instead of one for the whole fleet.
	shards []string
	// pastRequests are the Proxmox requests counted by simulators' APIs since restarted;
	// ownRequests those the scenario made itself.
	pastRequests, ownRequests int
}

// chaosManager is one running manager of a fleet: in the test process (mgr), or a process of
// its own (proc).
type chaosManager struct {
	mgr    ctrl.Manager
	cancel context.CancelFunc
	proc   *exec.Cmd
	// elected is closed when a manager process leads.
	elected chan struct{}
	done    chan struct{}
}

// leading tells whether the manager holds the lease (always, without leader election).
func (m *chaosManager) leading() bool {
	var elected <-chan struct{} = m.elected
	if m.mgr != nil {
		elected = m.mgr.Elected()
	}
	select {
	case <-elected:
		return true
	default:
		return false
	}
}

// kill stops the manager at once and waits until it is gone: a process gets SIGKILL; in the
// test process the context is cancelled with no graceful shutdown and the lease kept.
func (m *chaosManager) kill() {
	if m.proc != nil {
		_ = m.proc.Process.Kill()
	} else {
		m.cancel()
	}
	<-m.done
}

func newChaosFleet(t *testing.T, name string, opts ...pvesimtest.Option) *chaosFleet {
	return newChaosFleetWith(t, name, nil, opts...)
}

// fleetOption adjusts a fleet before its first manager starts.
type fleetOption func(*chaosFleet)

// dialing makes the fleet's managers reach the guests through dial.
func dialing(dial func(context.Context, string, string) (net.Conn, error)) fleetOption {
	return func(fl *chaosFleet) { fl.dial = dial }
}

// asProcesses runs the fleet's managers as processes of their own, so that a kill is SIGKILL.
func asProcesses() fleetOption {
	return func(fl *chaosFleet) { fl.processes = true }
}

// sharded runs one manager per selector, each reconciling the fleet's objects it selects.
func sharded(selectors ...string) fleetOption {
	return func(fl *chaosFleet) { fl.shards = selectors }
}

// electing makes the fleet's managers replicas that elect a leader.
func electing() fleetOption {
	return func(fl *chaosFleet) { fl.lease = "lxctm-chaos-" + fl.id }
}

// newChaosFleetWith is a fleet with fleet options.
func newChaosFleetWith(t *testing.T, name string, fleetOpts []fleetOption, opts ...pvesimtest.Option) *chaosFleet {
	t.Helper()
	k := chaosScenarios.Add(1) - 1
	if k >= 16 {
		t.Fatal("out of chaos subnets")
	}
	fl := &chaosFleet{name: name, id: fmt.Sprintf("%s-%d", name, k), ns: newNamespace(t, nil),
		tune: tuning{taskPoll: time.Second, guestListAge: 5 * time.Second, workers: 4}}
	if !chaosFull() {
		fl.tune = tuning{taskPoll: 200 * time.Millisecond, guestListAge: time.Second, workers: 4}
	}
	for _, o := range fleetOpts {
		o(fl)
	}
	if len(fl.shards) == 0 {
		fl.startManager(t)
	}
	for _, sel := range fl.shards {
		fl.startShard(t, sel)
	}
	t.Cleanup(fl.stopManager)
	for i := range 2 {
		// /22s in 169.254.64.0/18, away from the fleet benchmarks' and the phase tests' subnets.
		subnet := netip.PrefixFrom(netip.AddrFrom4([4]byte{169, 254, byte(64 + 8*k + 4*int32(i)), 0}), 22)
		sim := pvesimtest.Start(t, append([]pvesimtest.Option{
			pvesimtest.WithNodes("pve1", "pve2"), pvesimtest.WithGuests(guestPort), pvesimtest.WithSubnet(subnet),
			pvesimtest.WithDHCPDelay(200 * time.Millisecond),
			pvesimtest.WithOptions(func(o *pvesim.Options) { o.Logger = slog.New(slog.DiscardHandler) }),
		}, opts...)...)
		cluster := clusterFor(t, sim, fmt.Sprintf("chaos-%s-%d", fl.id, i), func(c *lxcv1.ProxmoxCluster, _ *corev1.Secret) {
			c.Labels = map[string]string{chaosLabel: fl.id}
		})
		eventually(t, 2*time.Minute, condition(cluster, lxcv1.ReadyCondition, metav1.ConditionTrue, ""))
		fl.sims, fl.clusters = append(fl.sims, sim), append(fl.clusters, cluster)
	}
	t.Cleanup(func() { fl.discard(t) })
	return fl
}

// startManager starts a manager of the scenario.
func (fl *chaosFleet) startManager(t testing.TB) *chaosManager {
	t.Helper()
	return fl.startShard(t, "")
}

// startShard starts a manager of the scenario that reconciles the objects shardSelector picks
// (all of them when empty).
func (fl *chaosFleet) startShard(t testing.TB, shardSelector string) *chaosManager {
	t.Helper()
	if fl.processes {
		m := fl.startManagerProcess(t, shardSelector)
		fl.mu.Lock()
		fl.running = append(fl.running, m)
		fl.managers++
		fl.mu.Unlock()
		return m
	}
	sel, err := labels.Parse(chaosLabel + "=" + fl.id)
	if err != nil {
		t.Fatal(err)
	}
	sh, err := shard.Parse(shardSelector)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(testCtx)
	done := make(chan struct{})
	mgr, err := runManager(ctx, managerOptions{selector: sel, shard: sh, tune: fl.tune, dial: fl.dial, done: done, lease: fl.lease})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	m := &chaosManager{mgr: mgr, cancel: cancel, done: done}
	fl.mu.Lock()
	fl.running = append(fl.running, m)
	fl.managers++
	fl.mu.Unlock()
	return m
}

// stopManager kills every manager of the scenario.
func (fl *chaosFleet) stopManager() {
	fl.mu.Lock()
	running := fl.running
	fl.running = nil
	fl.mu.Unlock()
	for _, m := range running {
		m.kill()
	}
}

// leader is the manager that leads, nil when none does.
func (fl *chaosFleet) leader() *chaosManager {
	fl.mu.Lock()
	defer fl.mu.Unlock()
	for _, m := range fl.running {
		if m.leading() {
			return m
		}
	}
	return nil
}

// killLeader kills the leading manager and returns once another manager leads, with how long
// no manager led.
func (fl *chaosFleet) killLeader(t testing.TB) time.Duration {
	t.Helper()
	old := fl.leader()
	if old == nil {
		t.Fatal("no manager leads")
	}
	fl.mu.Lock()
	fl.running = slices.DeleteFunc(fl.running, func(m *chaosManager) bool { return m == old })
	fl.mu.Unlock()
	old.kill()
	killed := time.Now()
	for fl.leader() == nil {
		if time.Since(killed) > 2*time.Minute {
			t.Fatal("no manager took the lead within 2 minutes")
		}
		time.Sleep(50 * time.Millisecond)
	}
	return time.Since(killed)
}

// discard removes the fleet's objects without the finalizer's Proxmox work.
func (fl *chaosFleet) discard(t testing.TB) {
	list := &lxcv1.LXCContainerList{}
	if err := k8s.List(testCtx, list, client.InNamespace(fl.ns)); err != nil {
		t.Log(err)
		return
	}
	for i := range list.Items {
		c := &list.Items[i]
		patch := client.MergeFrom(c.DeepCopy())
		c.Finalizers = nil
		_ = k8s.Patch(testCtx, c, patch)
		_ = k8s.Delete(testCtx, c)
	}
}

func (fl *chaosFleet) createTemplate(t testing.TB, scripts ...lxcv1.Script) {
	t.Helper()
	fl.template = &lxcv1.LXCTemplate{
		ObjectMeta: metav1.ObjectMeta{Namespace: fl.ns, Name: "chaos", Labels: map[string]string{chaosLabel: fl.id}},
		Spec: lxcv1.LXCTemplateSpec{
			OSTemplate: debianTemplate,
			Resources:  lxcv1.Resources{Cores: ptr(int32(1)), MemoryMiB: ptr(int32(256)), DiskGiB: ptr(int32(2))},
			Network:    lxcv1.Network{IPv4: "dhcp"},
			Files:      []lxcv1.ManagedFile{{Path: "/etc/app/app.conf", Content: ptr("port=8080\n")}},
			Config:     lxcv1.ConfigSource{Env: []lxcv1.EnvVar{{Name: "APP_MODE", Value: "chaos"}}},
			Services:   []lxcv1.ServicePromise{{Name: "web", Port: 8080}},
			Scripts:    scripts,
		},
	}
	create(t, fl.template)
}

// chaosScripts are the fleet's scripts: three, the last starts the promised service; each
// takes d.
func chaosScripts(d time.Duration) []lxcv1.Script {
	return []lxcv1.Script{
		script("prepare", fmt.Sprintf("# fake-guest: sleep=%s\n", d)),
		script("install", fmt.Sprintf("# fake-guest: sleep=%s\n", d)),
		script("start", fmt.Sprintf("# fake-guest: sleep=%s listen=tcp/8080/app\n", d)),
	}
}

// add creates n containers, alternating between the clusters.
func (fl *chaosFleet) add(t testing.TB, n int) {
	t.Helper()
	for range n {
		i := fl.created
		fl.created++
		create(t, &lxcv1.LXCContainer{
			ObjectMeta: metav1.ObjectMeta{Namespace: fl.ns, Name: fmt.Sprintf("ct%05d", i), Labels: map[string]string{chaosLabel: fl.id}},
			Spec: lxcv1.LXCContainerSpec{
				ClusterRef:  lxcv1.ClusterReference{Name: fl.clusters[i%2].Name},
				TemplateRef: lxcv1.LocalObjectReference{Name: fl.template.Name},
			},
		})
	}
}

// containers lists the fleet's LXCContainers.
func (fl *chaosFleet) containers(t testing.TB) []lxcv1.LXCContainer {
	t.Helper()
	list := &lxcv1.LXCContainerList{}
	if err := k8s.List(testCtx, list, client.InNamespace(fl.ns)); err != nil {
		t.Fatal(err)
	}
	return list.Items
}

// readyCount counts the fleet's Ready containers.
func (fl *chaosFleet) readyCount(t testing.TB) int {
	n := 0
	list := fl.containers(t)
	for i := range list {
		if isReady(&list[i]) {
			n++
		}
	}
	return n
}

// waitReady waits, generously, until every container is Ready; it does not fail the test, so
// that the check and the summary line still report what happened.
func (fl *chaosFleet) waitReady(t testing.TB, timeout time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	deadline := start.Add(timeout)
	for {
		list := fl.containers(t)
		ready, notReady := 0, []string{}
		for i := range list {
			if isReady(&list[i]) {
				ready++
			} else if len(notReady) < 3 {
				notReady = append(notReady, list[i].Name+": "+readyText(&list[i]))
			}
		}
		if ready == len(list) {
			return time.Since(start)
		}
		if time.Now().After(deadline) {
			t.Errorf("after %s only %d of %d containers are Ready; e.g. %v", timeout, ready, len(list), notReady)
			return time.Since(start)
		}
		time.Sleep(time.Second)
	}
}

// proxmoxRequests sums the API requests of both simulators, also those before a restart of
// their API.
func (fl *chaosFleet) proxmoxRequests() int {
	fl.mu.Lock()
	n := fl.pastRequests - fl.ownRequests
	fl.mu.Unlock()
	for _, s := range fl.sims {
		n += s.Counters().Total("")
	}
	return n
}

// proxmoxCT is a container as a simulator's API lists it.
type proxmoxCT struct {
	VMID int    `json:"vmid"`
	Node string `json:"node"`
	Type string `json:"type"`
}

// simGet reads one API path of a simulator into out, for the scenario: the request is not
// counted as the fleet's.
func (fl *chaosFleet) simGet(sim *pvesimtest.Simulator, path string, out any) error {
	fl.mu.Lock()
	fl.ownRequests++
	fl.mu.Unlock()
	req, err := http.NewRequestWithContext(testCtx, http.MethodGet, sim.URL+path, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", sim.Token())
	resp, err := sim.HTTPClient().Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", path, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(&struct {
		Data any `json:"data"`
	}{Data: out})
}

// check counts duplicates, orphans and reruns over the fleet, reading the simulators' API (with
// their faults cleared) and the guests' run records.
func (fl *chaosFleet) check(t testing.TB) *chaos.Result {
	t.Helper()
	for _, s := range fl.sims {
		s.ClearFaults()
	}
	// The check must find the whole fleet the scenario created, or it proves nothing.
	r := &chaos.Result{Want: fl.created}
	owners := map[string]string{} // marker, as the controller writes it → name
	for _, c := range fl.containers(t) {
		r.Containers++
		if isReady(&c) {
			r.Ready++
		}
		owners[ownerMarker(&c)] = c.Name
	}
	owned := r.ScanOwners(t, owners)
	for _, sim := range fl.sims {
		var cts []proxmoxCT
		eventually(t, time.Minute, func() error { return fl.simGet(sim, "/cluster/resources?type=vm", &cts) })
		for _, ct := range cts {
			if ct.Type != "lxc" {
				continue
			}
			var cfg struct {
				Description string `json:"description"`
			}
			eventually(t, time.Minute, func() error {
				return fl.simGet(sim, fmt.Sprintf("/nodes/%s/lxc/%d/config", ct.Node, ct.VMID), &cfg)
			})
			owned.Container(fmt.Sprintf("CT %d on %s", ct.VMID, ct.Node), cfg.Description)
			if g := sim.Guest(ct.VMID); g != nil {
				seen := map[string]int{}
				for _, run := range g.Runs() {
					seen[run.ID]++
				}
				for id, n := range seen {
					if n > 1 {
						r.Reruns += n - 1
						t.Logf("rerun: CT %d ran %s %d times", ct.VMID, id, n)
					}
				}
			}
		}
	}
	owned.Done()
	return r
}

// report prints the line and fails the test when a promise is broken.
func (fl *chaosFleet) report(t testing.TB, r *chaos.Result) {
	t.Helper()
	r.Report(t, fl.name)
}

// TestChaosKills provisions a fleet while the manager is killed at random moments and started
// again.
func TestChaosKills(t *testing.T) {
	n, kills := chaosSize(6, 200), chaosSize(4, 50)
	scriptTime := time.Duration(chaosSize(1, 3)) * time.Second
	fl := newChaosFleetWith(t, "kills", []fleetOption{asProcesses()}, chaosTasks()...)
	fl.createTemplate(t, chaosScripts(scriptTime)...)
	start := time.Now()
	fl.add(t, n)
	// Kills come 0.3 to 1.5 s apart, plus the second or so a new manager process takes to start
	// and sync: close enough that the fleet is still provisioning at most of them.
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 12))
	var killedAt []int
	provisioning := 0
	for range kills {
		time.Sleep(time.Duration(300+rng.IntN(1200)) * time.Millisecond)
		ready := fl.readyCount(t)
		if ready < n {
			provisioning++
		}
		killedAt = append(killedAt, ready)
		fl.stopManager()
		fl.startManager(t)
	}
	fl.waitReady(t, time.Duration(n)*2*time.Second+10*time.Minute)
	r := fl.check(t)
	r.Figure("kills", "%d", kills)
	r.Figure("kills-while-provisioning", "%d", provisioning)
	r.Figure("ready-at-first-kill", "%d", killedAt[0])
	r.Figure("ready-at-last-kill", "%d", killedAt[len(killedAt)-1])
	r.Figure("ready-s", "%.0f", time.Since(start).Seconds())
	r.Figure("px-req/ct", "%.1f", float64(fl.proxmoxRequests())/float64(n))
	fl.report(t, r)
}

// TestChaosProxmoxFaults provisions a fleet while every Proxmox endpoint answers 10 % of requests
// with a 5xx, meets lock contention, answers 200 ms late and drops 1 % of connections, and
// compares the requests per container with a fault-free fleet of the same size.
func TestChaosProxmoxFaults(t *testing.T) {
	n := chaosSize(6, 200)
	scriptTime := time.Duration(chaosSize(1, 3)) * time.Second
	tasks := chaosTasks()

	base := newChaosFleet(t, "proxmox-faults-baseline", tasks...)
	base.createTemplate(t, chaosScripts(scriptTime)...)
	base.add(t, n)
	base.waitReady(t, time.Duration(n)*2*time.Second+10*time.Minute)
	baseline := float64(base.proxmoxRequests()) / float64(n)
	base.stopManager()

	faults := pvesimtest.WithFaults(
		pvesim.FaultRule{Kind: pvesim.FaultError, Endpoint: "*", Rate: 0.10, Status: 500},
		pvesim.FaultRule{Kind: pvesim.FaultLock, Endpoint: "*", Rate: 0.05, Delay: pvesim.Duration(2 * time.Second)},
		pvesim.FaultRule{Kind: pvesim.FaultLatency, Endpoint: "*", Delay: pvesim.Duration(200 * time.Millisecond)},
		pvesim.FaultRule{Kind: pvesim.FaultDrop, Endpoint: "*", Rate: 0.01},
	)
	fl := newChaosFleet(t, "proxmox-faults", append(tasks, faults)...)
	fl.createTemplate(t, chaosScripts(scriptTime)...)
	start := time.Now()
	fl.add(t, n)
	fl.waitReady(t, time.Duration(n)*4*time.Second+20*time.Minute)
	elapsed := time.Since(start)
	hits := map[string]int{}
	for _, s := range fl.sims {
		for _, f := range s.Faults() {
			hits[f.Kind] += f.Hits
		}
	}
	requests := float64(fl.proxmoxRequests()) / float64(n)
	r := fl.check(t)
	r.Figure("px-req/ct", "%.1f", requests)
	r.Figure("fault-free-px-req/ct", "%.1f", baseline)
	r.Figure("errors", "%d", hits[pvesim.FaultError])
	r.Figure("locks", "%d", hits[pvesim.FaultLock])
	r.Figure("drops", "%d", hits[pvesim.FaultDrop])
	r.Figure("ready-s", "%.0f", elapsed.Seconds())
	fl.report(t, r)
}

// TestChaosOutage makes both clusters' APIs unreachable (every connection closed unanswered)
// while the fleet provisions, for 10 minutes (20 s in the short version), then lets them answer
// again. It samples what the containers' conditions say during the outage and counts the
// requests in the first minute after it.
func TestChaosOutage(t *testing.T) {
	n := chaosSize(6, 200)
	outage := time.Duration(chaosSize(20, 600)) * time.Second
	fl := newChaosFleet(t, "outage", chaosTasks()...)
	fl.createTemplate(t, chaosScripts(time.Duration(chaosSize(1, 3))*time.Second)...)
	fl.add(t, n)
	// The outage begins when part of the fleet is Ready and the rest is on its way.
	eventually(t, time.Duration(n)*2*time.Second+10*time.Minute, func() error {
		if ready := fl.readyCount(t); ready < max(1, n/4) {
			return fmt.Errorf("%d of %d Ready", ready, n)
		}
		return nil
	})
	readyBefore := fl.readyCount(t)
	var rules []pvesim.FaultRule
	for _, s := range fl.sims {
		rules = append(rules, s.Fault(t, pvesim.FaultRule{Kind: pvesim.FaultDrop, Endpoint: "*"}))
	}
	began := time.Now()
	// What the conditions say at the end of the outage, when every container had time to notice.
	var samples map[string]int
	for time.Since(began) < outage {
		samples = fl.conditionCounts(t)
		time.Sleep(2 * time.Second)
	}
	for i, s := range fl.sims {
		s.RemoveFault(rules[i].ID)
	}
	back := time.Now()
	px := fl.proxmoxRequests()
	// Requests per second over the first minute after the outage, at their peak.
	peak, last := 0, px
	var recovered time.Duration
	for time.Since(back) < time.Minute {
		time.Sleep(time.Second)
		now := fl.proxmoxRequests()
		peak, last = max(peak, now-last), now
		if recovered == 0 && fl.readyCount(t) == n {
			recovered = time.Since(back)
		}
	}
	firstMinute := last - px
	if recovered == 0 {
		recovered = time.Minute + fl.waitReady(t, time.Duration(n)*2*time.Second+10*time.Minute)
	}
	r := fl.check(t)
	r.Figure("outage-s", "%.0f", outage.Seconds())
	r.Figure("ready-before", "%d", readyBefore)
	for _, k := range []string{"ready-true", "ready-false", "ready-unknown", "reconciling", "stalled"} {
		r.Figure("outage-"+k, "%d", samples[k])
	}
	r.Figure("recovery-px-req/ct", "%.1f", float64(firstMinute)/float64(n))
	r.Figure("recovery-peak-px-req/s", "%d", peak)
	r.Figure("recovered-s", "%.0f", recovered.Seconds())
	fl.report(t, r)
}

// conditionCounts counts the fleet's containers by what Ready, Reconciling and Stalled say.
func (fl *chaosFleet) conditionCounts(t testing.TB) map[string]int {
	out := map[string]int{}
	for _, c := range fl.containers(t) {
		switch conditionStatus(&c, lxcv1.ReadyCondition) {
		case metav1.ConditionTrue:
			out["ready-true"]++
		case metav1.ConditionFalse:
			out["ready-false"]++
		default:
			out["ready-unknown"]++
		}
		if conditionStatus(&c, lxcv1.ReconcilingCondition) == metav1.ConditionTrue {
			out["reconciling"]++
		}
		if isStalled(&c) {
			out["stalled"]++
		}
	}
	return out
}

// TestChaosSSHDrop provisions a fleet while 30 % of the manager's SSH connections to the guests
// are cut after a random 2 to 30 KB went over them: in the handshake, during uploads, config-sync
// and the start and reading back of scripts. The scripts run detached, so a cut loses the
// connection, not the run.
func TestChaosSSHDrop(t *testing.T) {
	n := chaosSize(6, 200)
	var cuts, dials atomic.Int64
	base := fake.GuestDialer(guestPort)
	dial := func(ctx context.Context, network, address string) (net.Conn, error) {
		c, err := base(ctx, network, address)
		if err != nil {
			return c, err
		}
		dials.Add(1)
		if rand.Float64() >= 0.3 {
			return c, nil
		}
		cc := &cutConn{Conn: c, cuts: &cuts}
		cc.left.Store(int64(2000 + rand.IntN(28000)))
		return cc, nil
	}
	fl := newChaosFleetWith(t, "ssh-drop", []fleetOption{dialing(dial)}, chaosTasks()...)
	fl.createTemplate(t, chaosScripts(time.Duration(chaosSize(1, 3))*time.Second)...)
	start := time.Now()
	fl.add(t, n)
	fl.waitReady(t, time.Duration(n)*4*time.Second+15*time.Minute)
	elapsed := time.Since(start)
	r := fl.check(t)
	r.Figure("ssh-dials", "%d", dials.Load())
	r.Figure("cuts", "%d", cuts.Load())
	r.Figure("ready-s", "%.0f", elapsed.Seconds())
	fl.report(t, r)
}

// cutConn closes its connection once left bytes went either way.
type cutConn struct {
	net.Conn
	left atomic.Int64
	cuts *atomic.Int64
	once sync.Once
}

func (c *cutConn) spend(n int) bool {
	if c.left.Add(-int64(n)) >= 0 {
		return true
	}
	c.once.Do(func() {
		c.cuts.Add(1)
		_ = c.Conn.Close()
	})
	return false
}

func (c *cutConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if err == nil && !c.spend(n) {
		return 0, net.ErrClosed
	}
	return n, err
}

func (c *cutConn) Write(p []byte) (int, error) {
	if !c.spend(len(p)) {
		return 0, net.ErrClosed
	}
	return c.Conn.Write(p)
}

// TestChaosFailover runs two replicas that elect a leader, with the production lease durations,
// and kills the leader in the middle of the pipeline several times; each time a new replica
// takes the dead one's place. It reports the longest time no replica led.
func TestChaosFailover(t *testing.T) {
	n, kills := chaosSize(6, 200), chaosSize(2, 6)
	fl := newChaosFleetWith(t, "failover", []fleetOption{asProcesses(), electing()}, chaosTasks()...)
	fl.createTemplate(t, chaosScripts(time.Duration(chaosSize(1, 3))*time.Second)...)
	start := time.Now()
	fl.add(t, n)
	fl.startManager(t) // the standby
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 13))
	var longest time.Duration
	var readyAt []int
	for range kills {
		time.Sleep(time.Duration(1000+rng.IntN(chaosSize(2000, 8000))) * time.Millisecond)
		readyAt = append(readyAt, fl.readyCount(t))
		longest = max(longest, fl.killLeader(t))
		fl.startManager(t)
	}
	fl.waitReady(t, time.Duration(n)*2*time.Second+10*time.Minute)
	r := fl.check(t)
	r.Figure("kills", "%d", kills)
	r.Figure("replicas", "%d", 2)
	r.Figure("longest-leaderless-s", "%.1f", longest.Seconds())
	r.Figure("ready-at-first-kill", "%d", readyAt[0])
	r.Figure("ready-at-last-kill", "%d", readyAt[len(readyAt)-1])
	r.Figure("ready-s", "%.0f", time.Since(start).Seconds())
	fl.report(t, r)
}

// TestChaosPVESimRestart restarts the Proxmox API of a cluster while its tasks run, several
// times (as restarting pveproxy and pvedaemon does: containers and guests go on, tasks run to
// their end while the API is down). After each restart every task UPID the containers' status
// records must still resolve.
func TestChaosPVESimRestart(t *testing.T) {
	n, restarts := chaosSize(6, 200), chaosSize(3, 10)
	fl := newChaosFleet(t, "pvesim-restart", chaosTasks()...)
	fl.createTemplate(t, chaosScripts(time.Duration(chaosSize(1, 3))*time.Second)...)
	start := time.Now()
	fl.add(t, n)
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 14))
	tasksAtRestart, unresolved, upids := 0, 0, 0
	for i := range restarts {
		time.Sleep(time.Duration(300+rng.IntN(chaosSize(1200, 5000))) * time.Millisecond)
		// The restart comes while a cluster runs tasks, as long as the fleet has any left to run.
		sim, running := fl.sims[i%len(fl.sims)], 0
		for wait := time.Now(); running == 0 && time.Since(wait) < 30*time.Second && fl.readyCount(t) < n; {
			for _, s := range fl.sims {
				if running = fl.runningTasks(t, s); running > 0 {
					sim = s
					break
				}
			}
			time.Sleep(20 * time.Millisecond)
		}
		tasksAtRestart += running
		fl.pastRequests += sim.Counters().Total("")
		sim.RestartAPI(t, 2*time.Second)
		u, missing := fl.unresolvedTasks(t)
		upids, unresolved = upids+u, unresolved+missing
	}
	fl.waitReady(t, time.Duration(n)*2*time.Second+10*time.Minute)
	r := fl.check(t)
	r.Figure("restarts", "%d", restarts)
	r.Figure("tasks-running-at-restart", "%d", tasksAtRestart)
	r.Figure("upids-checked", "%d", upids)
	r.Figure("upids-unresolved", "%d", unresolved)
	r.Figure("ready-s", "%.0f", time.Since(start).Seconds())
	r.Figure("px-req/ct", "%.1f", float64(fl.proxmoxRequests())/float64(n))
	fl.report(t, r)
	if unresolved != 0 {
		t.Errorf("%d task UPIDs in status did not resolve after a restart of the API", unresolved)
	}
}

// runningTasks counts the tasks a simulator runs; its requests do not count as the fleet's.
func (fl *chaosFleet) runningTasks(t testing.TB, sim *pvesimtest.Simulator) int {
	t.Helper()
	n := 0
	for _, node := range sim.Nodes {
		var tasks []json.RawMessage
		if err := fl.simGet(sim, "/nodes/"+node+"/tasks?source=active&limit=10000", &tasks); err != nil {
			t.Fatal(err)
		}
		n += len(tasks)
	}
	return n
}

// unresolvedTasks reads the status of every task whose UPID a container's status.operation
// holds, from the cluster the container is on, and counts the UPIDs and those it does not know.
func (fl *chaosFleet) unresolvedTasks(t testing.TB) (upids, unresolved int) {
	t.Helper()
	for _, c := range fl.containers(t) {
		if !strings.HasPrefix(c.Status.Operation, "UPID:") {
			continue
		}
		upids++
		upid, err := proxmox.UPID(c.Status.Operation).Parse()
		if err != nil {
			t.Errorf("%s: status.operation %q: %v", c.Name, c.Status.Operation, err)
			continue
		}
		sim := fl.sims[slices.IndexFunc(fl.clusters, func(cl *lxcv1.ProxmoxCluster) bool { return cl.Name == c.Spec.ClusterRef.Name })]
		var status struct {
			Status string `json:"status"`
		}
		if err := fl.simGet(sim, "/nodes/"+upid.Node+"/tasks/"+c.Status.Operation+"/status", &status); err != nil || status.Status == "" {
			unresolved++
			t.Logf("%s: task %s after a restart of the API: %v", c.Name, c.Status.Operation, err)
		}
	}
	return upids, unresolved
}

// TestChaosAPIServerRestart kills kube-apiserver in the middle of the pipeline and starts it
// again, several times. Every manager of the test process loses its watches and requests
// meanwhile: the test runs alone (no test of the package is parallel), so none but the
// scenario's manager and the package's idle one see it.
func TestChaosAPIServerRestart(t *testing.T) {
	n, restarts := chaosSize(6, 200), chaosSize(2, 5)
	fl := newChaosFleet(t, "apiserver-restart", chaosTasks()...)
	fl.createTemplate(t, chaosScripts(time.Duration(chaosSize(1, 3))*time.Second)...)
	start := time.Now()
	fl.add(t, n)
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 15))
	var readyAt []int
	var down time.Duration
	for range restarts {
		time.Sleep(time.Duration(1000+rng.IntN(chaosSize(2000, 8000))) * time.Millisecond)
		readyAt = append(readyAt, fl.readyCount(t))
		began := time.Now()
		if err := env.RestartAPIServer(2 * time.Second); err != nil {
			t.Fatal(err)
		}
		down += time.Since(began)
	}
	fl.waitReady(t, time.Duration(n)*2*time.Second+10*time.Minute)
	r := fl.check(t)
	r.Figure("restarts", "%d", restarts)
	r.Figure("apiserver-down-s", "%.0f", down.Seconds())
	r.Figure("ready-at-first-restart", "%d", readyAt[0])
	r.Figure("ready-at-last-restart", "%d", readyAt[len(readyAt)-1])
	r.Figure("ready-s", "%.0f", time.Since(start).Seconds())
	r.Figure("px-req/ct", "%.1f", float64(fl.proxmoxRequests())/float64(n))
	fl.report(t, r)
}

// chaosTasks are the Proxmox task latencies of the scenarios: a real cluster's in the full
// version, 1 s in the short one.
func chaosTasks() []pvesimtest.Option {
	return []pvesimtest.Option{
		pvesimtest.WithTaskDurationOf("vzcreate", time.Duration(chaosSize(1, 5))*time.Second),
		pvesimtest.WithTaskDurationOf("vzstart", time.Duration(chaosSize(1, 2))*time.Second),
	}
}
