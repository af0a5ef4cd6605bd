package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fluxcd/pkg/runtime/conditions"
	gossh "golang.org/x/crypto/ssh"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
	"templatemanager.dev/lxc-template-manager/internal/chaos"
	"templatemanager.dev/lxc-template-manager/internal/pvesim/lxc/lxctest"
)

// The chaos scenarios on real containers (TestChaos*OnLXC) are smaller runs of the controller
// package's kills and ssh-drop scenarios (internal/controller/chaos_test.go) on pvesim's lxc
// backend: the manager is bin/manager, killed with SIGKILL; the SSH connections are the
// kernel's, cut by it; the scripts are shell in real guests. They check the same promises and
// print a line of the same form:
//
//	chaos NAME: containers=N ready=N duplicates=D orphans=O reruns=R [figures]

// chaosRunLog is the file in the guest each of the fleet's scripts appends its name to.
const chaosRunLog = "/var/log/chaos-runs"

// chaosScripts are the fleet template's scripts in order; each logs its run first, the last
// starts the service the template promises.
var chaosScripts = []lxcv1.Script{
	{Name: "prepare", Content: str("#!/bin/sh\nset -eu\necho prepare >> " + chaosRunLog + "\nmkdir -p /var/lib/chaos\nsleep 2\n")},
	{Name: "configure", Content: str("#!/bin/sh\nset -eu\necho configure >> " + chaosRunLog + "\n" +
		"test \"$APP_MODE\" = chaos\ngrep -qx port=9090 /etc/chaos/app.conf\nsleep 2\n")},
	{Name: "start", Content: str("#!/bin/sh\nset -eu\necho start >> " + chaosRunLog + "\n" +
		"systemd-run --unit=chaos-web /usr/bin/hello-web -listen :9090\n")},
}

// lxcFleet is a small fleet of real containers on a stack of its own.
type lxcFleet struct {
	s      *stack
	name   string
	ns     string
	n      int
	signer gossh.Signer
	// created is when the fleet's LXCContainers were created.
	created time.Time
}

// startLXCFleet brings up a stack with slow tasks (so a fault can land in each phase) and the
// fleet's template.
func startLXCFleet(t testing.TB, name string, n int) *lxcFleet {
	t.Helper()
	s := startStack(t, "--task-duration-of", "vzcreate=3s", "--task-duration-of", "vzstart=2s")
	fl := &lxcFleet{s: s, name: name, ns: "chaos", n: n, signer: lxctest.NewSigner(t)}
	tmpl := &lxcv1.LXCTemplate{
		ObjectMeta: metav1.ObjectMeta{Namespace: fl.ns, Name: "chaos"},
		Spec: lxcv1.LXCTemplateSpec{
			OSTemplate:        debianTemplate,
			Resources:         lxcv1.Resources{Cores: ptr(int32(1)), MemoryMiB: ptr(int32(256)), DiskGiB: ptr(int32(2))},
			Features:          lxcv1.Features{Nesting: true},
			Network:           lxcv1.Network{IPv4: "dhcp"},
			PackageBucketRefs: []lxcv1.LocalObjectReference{{Name: "web"}},
			Config:            lxcv1.ConfigSource{Env: []lxcv1.EnvVar{{Name: "APP_MODE", Value: "chaos"}}},
			Files: []lxcv1.ManagedFile{
				{Path: "/etc/apt/sources.list", Content: str("deb [trusted=yes] " + s.repoURL + " ./\n")},
				{Path: "/etc/chaos/app.conf", Content: str("port=9090\n")},
			},
			Scripts:  chaosScripts,
			Services: []lxcv1.ServicePromise{{Name: "chaos-web", Port: 9090, Protocol: lxcv1.ProtocolTCP}},
		},
	}
	s.create(t, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: fl.ns}}, webBucket(fl.ns), tmpl)
	return fl
}

// provision creates the fleet's containers and starts the manager.
func (fl *lxcFleet) provision(t testing.TB) *managerProcess {
	t.Helper()
	key := lxcv1.SSHPublicKey(strings.TrimSpace(string(gossh.MarshalAuthorizedKey(fl.signer.PublicKey()))))
	fl.created = time.Now()
	for i := range fl.n {
		fl.s.create(t, &lxcv1.LXCContainer{
			ObjectMeta: metav1.ObjectMeta{Namespace: fl.ns, Name: fmt.Sprintf("ct%d", i)},
			Spec: lxcv1.LXCContainerSpec{
				ClusterRef: lxcv1.ClusterReference{Name: "pve"}, TemplateRef: lxcv1.LocalObjectReference{Name: "chaos"},
				SSHPublicKeys: []lxcv1.SSHPublicKey{key},
			},
		})
	}
	return fl.s.startManager(t)
}

func (fl *lxcFleet) containers(t testing.TB) []lxcv1.LXCContainer {
	t.Helper()
	list := &lxcv1.LXCContainerList{}
	if err := fl.s.k8s.List(context.Background(), list, client.InNamespace(fl.ns)); err != nil {
		t.Fatal(err)
	}
	return list.Items
}

func (fl *lxcFleet) readyCount(t testing.TB) int {
	n := 0
	for _, c := range fl.containers(t) {
		if conditions.IsReady(&c) {
			n++
		}
	}
	return n
}

// waitReady waits, generously, until every container is Ready; it does not fail the test, so
// that the check and the line still report what happened.
func (fl *lxcFleet) waitReady(t testing.TB, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ready, notReady := 0, []string{}
		for _, c := range fl.containers(t) {
			if conditions.IsReady(&c) {
				ready++
			} else {
				notReady = append(notReady, c.Name+": "+conditions.GetMessage(&c, lxcv1.ReadyCondition))
			}
		}
		if ready == fl.n {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("after %s only %d of %d containers are Ready: %v", timeout, ready, fl.n, notReady)
			for _, c := range fl.containers(t) {
				if !conditions.IsReady(&c) {
					dumpContainer(t, fl.s, fl.ns, c.Name)
				}
			}
			return
		}
		time.Sleep(time.Second)
	}
}

// phaseCounts tallies what phase status gives for each container, e.g. "configuring:2".
type phaseCounts map[string]int

func (p phaseCounts) add(phase string) {
	if phase == "" {
		phase = "Pending"
	}
	p[strings.ToLower(phase)]++
}

// pipelinePhases are status.phase's values in pipeline order, lower-cased.
var pipelinePhases = []string{"pending", "creating", "starting", "configuring", "provisioning", "discovering", "ready"}

// String lists the counts in pipeline order, then any other phase.
func (p phaseCounts) String() string {
	var parts []string
	for _, ph := range pipelinePhases {
		parts = append(parts, fmt.Sprintf("%s:%d", ph, p[ph]))
	}
	for ph, n := range p {
		if !slices.Contains(pipelinePhases, ph) {
			parts = append(parts, fmt.Sprintf("%s:%d", ph, n))
		}
	}
	return strings.Join(parts, ",")
}

// chaosResult is what check found: the promise's counts, and the upload temporaries left in the
// guests (not a promise; reported).
type chaosResult struct {
	chaos.Result
	temporaries int
}

// check counts duplicates and orphans from Proxmox (the owner marker in each container's
// description) and reruns from the guests (the lines of chaosRunLog).
func (fl *lxcFleet) check(t testing.TB) *chaosResult {
	t.Helper()
	ctx := context.Background()
	r := &chaosResult{Result: chaos.Result{Want: fl.n}}
	list := fl.containers(t)
	owners := map[string]string{} // marker → name
	for _, c := range list {
		r.Containers++
		if conditions.IsReady(&c) {
			r.Ready++
		}
		owners[fmt.Sprintf("%s %s/%s uid=%s", lxcv1.OwnerMarkerPrefix, c.Namespace, c.Name, c.UID)] = c.Name
	}
	guests, err := fl.s.px.Guests(ctx)
	if err != nil {
		t.Fatal(err)
	}
	owned := r.ScanOwners(t, owners)
	for _, g := range guests {
		cfg, err := fl.s.px.ContainerConfig(ctx, g.Node, g.VMID)
		if err != nil {
			t.Fatalf("config of CT %d: %v", g.VMID, err)
		}
		owned.Container(fmt.Sprintf("CT %d on %s", g.VMID, g.Node), cfg.Description)
	}
	owned.Done()
	for _, c := range list {
		if c.Status.IPAddress == "" {
			t.Errorf("%s has no address to read %s from", c.Name, chaosRunLog)
			continue
		}
		out, err := fl.readGuest(c.Status.IPAddress,
			"cat "+chaosRunLog+" 2>/dev/null; echo --; find /etc /var/lib /root -name '.*.lxctm-*' 2>/dev/null; true")
		if err != nil {
			t.Errorf("reading %s of %s: %v", chaosRunLog, c.Name, err)
			continue
		}
		log, temps, _ := strings.Cut(out, "--\n")
		runs := map[string]int{}
		for _, l := range strings.Fields(log) {
			runs[l]++
		}
		for _, f := range strings.Fields(temps) {
			r.temporaries++
			t.Logf("%s: an upload cut short left %s", c.Name, f)
		}
		for _, sc := range chaosScripts {
			switch n := runs[sc.Name]; {
			case n > 1:
				r.Reruns += n - 1
				t.Logf("rerun: %s ran %s %d times", c.Name, sc.Name, n)
			case n == 0 && conditions.IsReady(&c):
				t.Errorf("%s is Ready but %s has no line of script %s:\n%s", c.Name, chaosRunLog, sc.Name, log)
			}
		}
	}
	return r
}

// readGuest runs a command in the guest at addr over SSH, trying for a minute.
func (fl *lxcFleet) readGuest(addr, cmd string) (string, error) {
	deadline := time.Now().Add(time.Minute)
	for {
		out, err := tryRun(addr, fl.signer, cmd)
		if err == nil || time.Now().After(deadline) {
			return out, err
		}
		time.Sleep(time.Second)
	}
}

// report prints the line and fails the test when a promise is broken.
func (fl *lxcFleet) report(t testing.TB, r *chaosResult) {
	t.Helper()
	r.Report(t, fl.name)
}

// chaosRand is a random source whose seed the log names, so a failing run can be repeated.
func chaosRand(t testing.TB) *rand.Rand {
	seed := uint64(time.Now().UnixNano())
	t.Logf("random seed %d", seed)
	return rand.New(rand.NewPCG(seed, 0))
}

// between is a random duration in [lo, hi).
func between(rng *rand.Rand, lo, hi time.Duration) time.Duration {
	return lo + time.Duration(rng.Int64N(int64(hi-lo)))
}

// TestChaosKillsOnLXC provisions three real containers while bin/manager is killed with SIGKILL
// at random moments and started again each time.
func TestChaosKillsOnLXC(t *testing.T) {
	t.Parallel()
	fl := startLXCFleet(t, "kills-lxc", 3)
	manager := fl.provision(t)
	rng := chaosRand(t)
	kills, readyAtKill := 0, []int{}
	phases := phaseCounts{}
	// At least eight kills, and more while the fleet provisions.
	for kills < 8 || (kills < 20 && readyAtKill[len(readyAtKill)-1] < fl.n) {
		time.Sleep(between(rng, 500*time.Millisecond, 4*time.Second))
		ready := 0
		for _, c := range fl.containers(t) {
			if conditions.IsReady(&c) {
				ready++
			} else {
				phases.add(c.Status.Phase)
			}
		}
		select {
		case <-manager.done:
			t.Errorf("bin/manager exited by itself (log %s)", manager.log)
		default:
		}
		manager.stop(syscall.SIGKILL)
		kills++
		readyAtKill = append(readyAtKill, ready)
		manager = fl.s.startManager(t)
	}
	fl.waitReady(t, 10*time.Minute)
	readyIn := time.Since(fl.created)
	r := fl.check(t)
	r.Figure("kills", "%d", kills)
	r.Figure("ready-at-first-kill", "%d", readyAtKill[0])
	r.Figure("ready-at-last-kill", "%d", readyAtKill[len(readyAtKill)-1])
	r.Figure("killed-in", "%s", phases)
	r.Figure("ready-s", "%.0f", readyIn.Seconds())
	r.Figure("px-req/ct", "%.1f", float64(fl.s.simCounters(t).Total(""))/float64(fl.n))
	r.Figure("temp-files", "%d", r.temporaries)
	fl.report(t, r)
}

// TestChaosSSHDropOnLXC provisions three real containers while the kernel cuts the manager's
// SSH connections to them at random moments: in the handshake, during uploads, config-sync,
// package installs and the start and reading back of scripts. Scripts run detached in the guest
// (transient systemd units), so a cut loses the connection, not the run.
func TestChaosSSHDropOnLXC(t *testing.T) {
	t.Parallel()
	fl := startLXCFleet(t, "ssh-drop-lxc", 3)
	fl.provision(t)
	rng := chaosRand(t)
	moments, cuts := 0, 0
	phases := phaseCounts{}
	// Each cut costs its container a failed attempt, and the back-off grows with each until it
	// is Ready; a step that holds its connection for a while (config-manager's restart) would be
	// cut again and again at moments this close. So a container loses at most one connection
	// in each phase: the cuts spread over the pipeline and the back-off stays short.
	cutIn := map[string]bool{} // "address phase" → a connection was cut
	deadline := time.Now().Add(10 * time.Minute)
	for fl.readyCount(t) < fl.n && time.Now().Before(deadline) {
		time.Sleep(between(rng, 300*time.Millisecond, 1500*time.Millisecond))
		moments++
		phaseOf := fl.guestPhases(t)
		var spared []string
		for addr, phase := range phaseOf {
			if cutIn[addr+" "+phase] {
				spared = append(spared, addr)
			}
		}
		for _, addr := range cutSSH(t, fl.s.subnet, spared) {
			phase, ok := phaseOf[addr]
			if !ok {
				phase = "unknown"
			}
			cuts++
			cutIn[addr+" "+phase] = true
			phases.add(phase)
		}
	}
	fl.waitReady(t, 10*time.Minute)
	readyIn := time.Since(fl.created)
	r := fl.check(t)
	r.Figure("cut-moments", "%d", moments)
	r.Figure("cuts", "%d", cuts)
	r.Figure("cut-in", "%s", phases)
	r.Figure("ready-s", "%.0f", readyIn.Seconds())
	r.Figure("temp-files", "%d", r.temporaries)
	fl.report(t, r)
	if cuts == 0 {
		t.Error("no SSH connection was cut: the scenario proved nothing (does the kernel destroy sockets for ss -K, CONFIG_INET_DIAG_DESTROY?)")
	}
}

// cutSSH has the kernel destroy every established TCP connection from the host to port 22 in
// subnet, except those to the spared addresses: both ends see it fail (the host's socket with
// ECONNABORTED, the guest's with a reset). During the scenario only the manager talks SSH to
// the guests. It returns the guest address of each connection cut; ss lists only the sockets
// it destroyed.
func cutSSH(t testing.TB, subnet netip.Prefix, spared []string) []string {
	t.Helper()
	args := []string{"-K", "-t", "-4", "-n", "-H", "state", "established", "dst", subnet.String(), "dport", "=", "22"}
	if len(spared) > 0 {
		args = append(args, "and", "not", "(")
		for i, addr := range spared {
			if i > 0 {
				args = append(args, "or")
			}
			args = append(args, "dst", addr)
		}
		args = append(args, ")")
	}
	out, err := exec.Command("ss", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("ss %v: %v\n%s", args, err, out)
	}
	var cut []string
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(l)
		if len(f) == 0 {
			continue
		}
		peer, err := netip.ParseAddrPort(f[len(f)-1])
		if err != nil {
			t.Fatalf("ss -K listed %q", l)
		}
		cut = append(cut, peer.Addr().String())
	}
	return cut
}

// guestPhases maps each container's address to the phase its status gives. The reconcile that
// finds a DHCP address goes on to SSH before status records it, so Proxmox's interfaces are
// asked for the addresses status lacks.
func (fl *lxcFleet) guestPhases(t testing.TB) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, c := range fl.containers(t) {
		phase := c.Status.Phase
		if phase == "" {
			phase = "Pending"
		}
		if c.Status.IPAddress != "" {
			out[c.Status.IPAddress] = phase
			continue
		}
		if c.Status.VMID == 0 || c.Status.Node == "" {
			continue
		}
		ifaces, err := fl.s.px.ContainerInterfaces(context.Background(), c.Status.Node, int(c.Status.VMID))
		if err != nil {
			continue
		}
		for _, i := range ifaces {
			for _, p := range i.IPv4() {
				if fl.s.subnet.Contains(p.Addr()) {
					out[p.Addr().String()] = phase
				}
			}
		}
	}
	return out
}
