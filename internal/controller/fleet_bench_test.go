package controller

import (
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
	"templatemanager.dev/lxc-template-manager/internal/pvesim"
	"templatemanager.dev/lxc-template-manager/internal/pvesim/fake"
	"templatemanager.dev/lxc-template-manager/internal/pvesim/pvesimtest"
	"templatemanager.dev/lxc-template-manager/internal/ssh"
)

// The fleet benchmarks run the whole five-phase pipeline for many containers: the package's
// manager (real kube-apiserver and etcd), two pvesim clusters on the fake backend with guest
// stand-ins, the controller's real SSH client. Sizes come from the environment so a quick run
// is possible:
//
//	LXCTM_BENCH_CONTAINERS         fleet size of Provision and SteadyState (default 1000)
//	LXCTM_BENCH_MEMORY_CONTAINERS  fleet size of ManagerMemory (default 5000)
//	LXCTM_BENCH_SLOW_CONTAINERS    containers of SlowGuests whose guests boot slowly (default 200)
//	LXCTM_BENCH_SLOW_DELAY         how long their sshd takes to start (default 20s)
//	LXCTM_BENCH_RESYNC             the container resync period while benchmarking (default 1m)
//	LXCTM_BENCH_WORKERS            the manager's --max-concurrent-reconciles (default 4, as bin/manager)
//	LXCTM_BENCH_NETWORK=static     static addresses instead of DHCP
//	LXCTM_BENCH_ENDPOINTS=1        log SteadyState's Proxmox requests of one cluster by endpoint
//
// Benchmarks report; they assert nothing about timings.

// tuning is how the package's manager polls: quickly for tests, as in production for benchmarks.
type tuning struct {
	taskPoll, guestListAge, resync time.Duration
	workers                        int
	// sshDial is the SSH dial schedule of one reconcile; zero is one attempt.
	sshDial ssh.Backoff
}

func benchmarking() bool {
	f := flag.Lookup("test.bench")
	return f != nil && f.Value.String() != ""
}

func managerTuning() tuning {
	if !benchmarking() {
		return tuning{taskPoll: 200 * time.Millisecond, guestListAge: time.Second}
	}
	// bin/manager's defaults (--task-poll, --guest-list-max-age, --ssh-dial-attempts and its
	// schedule), with a shorter resync so that three periods fit in a benchmark.
	return tuning{taskPoll: DefaultTaskPoll, guestListAge: 30 * time.Second, resync: benchResync(),
		workers: envInt("LXCTM_BENCH_WORKERS", 4), sshDial: ssh.Backoff{Attempts: 2, Initial: time.Second, Factor: 2}}
}

func benchResync() time.Duration {
	if d, err := time.ParseDuration(os.Getenv("LXCTM_BENCH_RESYNC")); err == nil && d > 0 {
		return d
	}
	return time.Minute
}

func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}

// kubeWrites counts the manager's writes to the API server (creates, updates, patches,
// deletes, Events included).
var kubeWrites atomic.Int64

func countKubeWrites(rt http.RoundTripper) http.RoundTripper { return writeCounter{rt} }

type writeCounter struct{ next http.RoundTripper }

func (w writeCounter) RoundTrip(r *http.Request) (*http.Response, error) {
	switch r.Method {
	case http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
		kubeWrites.Add(1)
	}
	return w.next.RoundTrip(r)
}

// fleet is two clusters with guests, a namespace and a template.
type fleet struct {
	sims     []*pvesimtest.Simulator
	clusters []*lxcv1.ProxmoxCluster
	ns       string
	template *lxcv1.LXCTemplate
	created  int
}

func newFleet(b *testing.B, name string, opts ...pvesimtest.Option) *fleet {
	b.Helper()
	fl := &fleet{ns: newNamespace(b, nil)}
	for i := range 2 {
		// /20s that cover 4,000 containers each; only one benchmark runs at a time.
		subnet := netip.PrefixFrom(netip.AddrFrom4([4]byte{169, 254, byte(16 * (i + 1)), 0}), 20)
		sim := pvesimtest.Start(b, append([]pvesimtest.Option{
			pvesimtest.WithNodes("pve1", "pve2"), pvesimtest.WithGuests(guestPort), pvesimtest.WithSubnet(subnet),
			pvesimtest.WithDHCPDelay(500 * time.Millisecond),
			pvesimtest.WithOptions(func(o *pvesim.Options) { o.Logger = slog.New(slog.DiscardHandler) }),
		}, opts...)...)
		cluster := clusterFor(b, sim, fmt.Sprintf("%s-%d", name, i), func(c *lxcv1.ProxmoxCluster, _ *corev1.Secret) {
			c.Spec.SyncInterval = nil // the default, as in production
		})
		eventually(b, time.Minute, condition(cluster, lxcv1.ReadyCondition, metav1.ConditionTrue, ""))
		fl.sims, fl.clusters = append(fl.sims, sim), append(fl.clusters, cluster)
	}
	// Runs first: the next benchmark of the process starts with an empty cache.
	b.Cleanup(func() { fl.discard(b) })
	return fl
}

// discard removes the fleet's objects without the finalizer's Proxmox work, which the
// simulators going away would make pointless.
func (fl *fleet) discard(b *testing.B) {
	list := &lxcv1.LXCContainerList{}
	if err := k8s.List(testCtx, list, client.InNamespace(fl.ns)); err != nil {
		b.Log(err)
		return
	}
	for i := range list.Items {
		c := &list.Items[i]
		patch := client.MergeFrom(c.DeepCopy())
		c.Finalizers = nil
		if err := k8s.Patch(testCtx, c, patch); err != nil && !apierrors.IsNotFound(err) {
			b.Log(err)
		}
		if err := k8s.Delete(testCtx, c); err != nil && !apierrors.IsNotFound(err) {
			b.Log(err)
		}
	}
}

func (fl *fleet) createTemplate(b *testing.B, scripts ...lxcv1.Script) {
	b.Helper()
	fl.template = &lxcv1.LXCTemplate{
		ObjectMeta: metav1.ObjectMeta{Namespace: fl.ns, Name: "fleet"},
		Spec: lxcv1.LXCTemplateSpec{
			OSTemplate: debianTemplate,
			Resources:  lxcv1.Resources{Cores: ptr(int32(1)), MemoryMiB: ptr(int32(256)), DiskGiB: ptr(int32(2))},
			Network:    lxcv1.Network{IPv4: "dhcp"},
			Files:      []lxcv1.ManagedFile{{Path: "/etc/app/app.conf", Content: ptr("port=8080\n")}},
			Config:     lxcv1.ConfigSource{Env: []lxcv1.EnvVar{{Name: "APP_MODE", Value: "bench"}}},
			Services:   []lxcv1.ServicePromise{{Name: "web", Port: 8080}},
			Scripts:    scripts,
		},
	}
	create(b, fl.template)
}

// add creates n containers, alternating between the clusters, each changed by mutate first.
func (fl *fleet) add(b *testing.B, n int, mutate ...func(*lxcv1.LXCContainer)) []*lxcv1.LXCContainer {
	b.Helper()
	out := make([]*lxcv1.LXCContainer, 0, n)
	for range n {
		i := fl.created
		fl.created++
		c := &lxcv1.LXCContainer{
			ObjectMeta: metav1.ObjectMeta{Namespace: fl.ns, Name: fmt.Sprintf("ct%05d", i)},
			Spec: lxcv1.LXCContainerSpec{
				ClusterRef:  lxcv1.ClusterReference{Name: fl.clusters[i%2].Name},
				TemplateRef: lxcv1.LocalObjectReference{Name: fl.template.Name},
			},
		}
		if os.Getenv("LXCTM_BENCH_NETWORK") == "static" {
			// Static addresses from the top of the cluster's /20, away from the leases.
			base := fl.sims[i%2].Subnet.Addr().As4()
			host := 4000 - i/2
			base[2] += byte(host >> 8)
			base[3] = byte(host)
			c.Spec.Network = &lxcv1.Network{IPv4: netip.AddrFrom4(base).String() + "/20"}
		}
		for _, m := range mutate {
			m(c)
		}
		create(b, c)
		out = append(out, c)
	}
	return out
}

// waitReady waits until every container of the namespace is Ready and returns how long that took.
func (fl *fleet) waitReady(b *testing.B, start time.Time, want int, timeout time.Duration) time.Duration {
	b.Helper()
	deadline := time.Now().Add(timeout)
	for {
		list := &lxcv1.LXCContainerList{}
		if err := k8s.List(testCtx, list, client.InNamespace(fl.ns)); err != nil {
			b.Fatal(err)
		}
		ready, stalled := 0, []string{}
		for i := range list.Items {
			c := &list.Items[i]
			switch {
			case isReady(c):
				ready++
			case isStalled(c) && len(stalled) < 3:
				stalled = append(stalled, c.Name+": "+readyText(c))
			}
		}
		if ready >= want {
			return time.Since(start)
		}
		if time.Now().After(deadline) {
			b.Fatalf("after %s only %d of %d containers are Ready; stalled: %v", timeout, ready, want, stalled)
		}
		time.Sleep(time.Second)
	}
}

func isReady(c *lxcv1.LXCContainer) bool {
	return conditionStatus(c, lxcv1.ReadyCondition) == metav1.ConditionTrue
}

func isStalled(c *lxcv1.LXCContainer) bool {
	return conditionStatus(c, lxcv1.StalledCondition) == metav1.ConditionTrue
}

func conditionStatus(c *lxcv1.LXCContainer, t string) metav1.ConditionStatus {
	for _, cond := range c.Status.Conditions {
		if cond.Type == t {
			return cond.Status
		}
	}
	return metav1.ConditionUnknown
}

func readyText(c *lxcv1.LXCContainer) string {
	for _, cond := range c.Status.Conditions {
		if cond.Type == lxcv1.ReadyCondition {
			return cond.Reason + " " + strings.SplitN(cond.Message, "\n", 2)[0]
		}
	}
	return ""
}

// proxmoxRequests sums the API requests of both simulators.
func (fl *fleet) proxmoxRequests() int {
	n := 0
	for _, s := range fl.sims {
		n += s.Counters().Total("")
	}
	return n
}

func (fl *fleet) guestSessions() int64 {
	var n int64
	for _, s := range fl.sims {
		n += s.Backend.(*fake.Backend).GuestSessions()
	}
	return n
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// rssMiB is the resident set of this process: the manager, and the simulators and guests
// that run in it too.
func rssMiB() float64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(rest), " kB"))
			return float64(kb) / 1024
		}
	}
	return 0
}

// threeScripts are the fleet's scripts: three of 3 s each; the last starts the promised service.
func threeScripts() []lxcv1.Script {
	return []lxcv1.Script{
		script("prepare", "# fake-guest: sleep=3s\n"),
		script("install", "# fake-guest: sleep=3s\n"),
		script("start", "# fake-guest: sleep=3s listen=tcp/8080/app\n"),
	}
}

// BenchmarkFleetProvision provisions N containers (LXCTM_BENCH_CONTAINERS, default 1,000) over
// two clusters with Proxmox task latencies of a real cluster (vzcreate 5 s, vzstart 2 s) and
// three 3 s scripts each, and compares the time until all are Ready with one container alone.
func BenchmarkFleetProvision(b *testing.B) {
	n := envInt("LXCTM_BENCH_CONTAINERS", 1000)
	for range b.N {
		fl := newFleet(b, "prov", pvesimtest.WithTaskDurationOf("vzcreate", 5*time.Second), pvesimtest.WithTaskDurationOf("vzstart", 2*time.Second))
		fl.createTemplate(b, threeScripts()...)

		start := time.Now()
		fl.add(b, 1)
		critical := fl.waitReady(b, start, 1, 5*time.Minute)

		px, writes := fl.proxmoxRequests(), kubeWrites.Load()
		start = time.Now()
		fl.add(b, n)
		ready := fl.waitReady(b, start, n+1, time.Duration(n)*time.Second+10*time.Minute)
		b.ReportMetric(float64(n), "containers")
		b.ReportMetric(ready.Seconds(), "ready-s")
		b.ReportMetric(critical.Seconds(), "critical-path-s")
		b.ReportMetric(ready.Seconds()/critical.Seconds(), "ratio")
		b.ReportMetric(float64(fl.proxmoxRequests()-px)/float64(n), "px-req/ct")
		b.ReportMetric(float64(kubeWrites.Load()-writes)/float64(n), "kube-writes/ct")
	}
}

// BenchmarkFleetSteadyState provisions N Ready containers, then watches them over three resync
// periods (LXCTM_BENCH_RESYNC) and reports what keeping them true costs.
func BenchmarkFleetSteadyState(b *testing.B) {
	n := envInt("LXCTM_BENCH_CONTAINERS", 1000)
	resync := benchResync()
	for range b.N {
		fl := newFleet(b, "steady")
		fl.createTemplate(b, script("start", "# fake-guest: listen=tcp/8080/app\n"))
		start := time.Now()
		fl.add(b, n)
		fl.waitReady(b, start, n, time.Duration(n)*time.Second+10*time.Minute)
		// Let the provisioning's own requeues die down before measuring: one period.
		time.Sleep(resync)

		px, sessions, cpu := fl.proxmoxRequests(), fl.guestSessions(), cpuTime()
		before := fl.sims[0].Counters()
		const periods = 3
		began := time.Now()
		time.Sleep(periods * resync)
		elapsed := time.Since(began)
		hours := elapsed.Hours()
		requests := float64(fl.proxmoxRequests() - px)
		b.ReportMetric(float64(n), "containers")
		b.ReportMetric(requests/periods/float64(len(fl.sims)), "px-req/resync")
		b.ReportMetric(requests/float64(n)/hours, "px-req/ct-hour")
		b.ReportMetric(float64(fl.guestSessions()-sessions)/float64(n)/hours, "ssh-sessions/ct-hour")
		b.ReportMetric(float64((cpuTime()-cpu).Milliseconds())/periods, "cpu-ms/resync")
		if os.Getenv("LXCTM_BENCH_ENDPOINTS") != "" {
			// What one cluster was asked over the periods, by endpoint.
			counts := map[string]int{}
			for _, r := range fl.sims[0].Counters().Requests {
				counts[r.Method+" "+r.Path] += r.Count
			}
			for _, r := range before.Requests {
				counts[r.Method+" "+r.Path] -= r.Count
			}
			for k, v := range counts {
				if v != 0 {
					b.Logf("%6d %s", v, k)
				}
			}
		}
	}
}

// BenchmarkManagerMemory provisions N containers (LXCTM_BENCH_MEMORY_CONTAINERS, default 5,000)
// to Ready and reports the resident memory of the process.
func BenchmarkManagerMemory(b *testing.B) {
	n := envInt("LXCTM_BENCH_MEMORY_CONTAINERS", 5000)
	for range b.N {
		fl := newFleet(b, "memory")
		fl.createTemplate(b, script("start", "# fake-guest: listen=tcp/8080/app\n"))
		start := time.Now()
		fl.add(b, n)
		fl.waitReady(b, start, n, time.Duration(n)*time.Second+10*time.Minute)
		runtime.GC()
		b.ReportMetric(float64(n), "containers")
		b.ReportMetric(rssMiB(), "rss-MiB")
	}
}
