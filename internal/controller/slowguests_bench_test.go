package controller

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fluxcd/pkg/runtime/conditions"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
	"templatemanager.dev/lxc-template-manager/internal/pvesim"
	"templatemanager.dev/lxc-template-manager/internal/pvesim/fake"
	"templatemanager.dev/lxc-template-manager/internal/pvesim/pvesimtest"
)

// BenchmarkSlowGuests asks whether containers whose guests boot slowly hold up one that is
// ready at once: the manager's workers (LXCTM_BENCH_WORKERS, default 4, as bin/manager) must
// not be spent waiting for SSH. It provisions, on the fleet's two clusters with a real
// cluster's task latencies, a fast container alone, then N slow ones
// (LXCTM_BENCH_SLOW_CONTAINERS, default 200), whose sshd starts only LXCTM_BENCH_SLOW_DELAY
// (default 20s) after the container started, and, once every slow one runs and waits for its
// guest's SSH, a second fast one. It reports how long each fast container took from its
// creation to Ready:
//
//	fast-ct-alone-s  the fast container provisioned alone
//	fast-ct-ready-s  the fast container created while the slow ones wait for their guests
//
// The second fast container is created when the slow ones are past Create and Start, so that
// what it measures is the cost of guests that do not answer, not of 200 creates and starts
// queued ahead of it (that cost is BenchmarkFleetProvision's). It also reports
// fast-ct-with-creates-s, a third fast container created together with the slow ones, for
// that mixed case.
//
// The goal is fast-ct-ready-s ≤ 1.5 × fast-ct-alone-s; the benchmark asserts nothing.
func BenchmarkSlowGuests(b *testing.B) {
	n := envInt("LXCTM_BENCH_SLOW_CONTAINERS", 200)
	delay := envDuration("LXCTM_BENCH_SLOW_DELAY", 20*time.Second)
	for range b.N {
		fl := newFleet(b, "slow",
			pvesimtest.WithTaskDurationOf("vzcreate", 5*time.Second), pvesimtest.WithTaskDurationOf("vzstart", 2*time.Second),
			// newFleet's backend, but for the boot delay (WithBackendFunc replaces the backend
			// with its options, so the fleet's DHCP delay and guest port are given again).
			pvesimtest.WithBackendFunc(func(dir string) (pvesim.Backend, error) {
				return fake.New(fake.Options{StateDir: filepath.Join(dir, "fake"), DHCPDelay: 500 * time.Millisecond,
					GuestPort: guestPort, SSHReadyAfter: slowBoot(delay)})
			}))
		fl.createTemplate(b, script("start", "# fake-guest: listen=tcp/8080/app\n"))
		timeout := delay + time.Duration(n)*time.Second + 10*time.Minute

		start := time.Now()
		alone := fl.add(b, 1, withHostname(fastHostname+"-alone"))[0]
		eventually(b, timeout, condition(alone, lxcv1.ReadyCondition, metav1.ConditionTrue, ""))
		aloneTime := time.Since(start)

		fl.add(b, n)
		mixedStart := time.Now()
		mixed := fl.add(b, 1, withHostname(fastHostname+"-with-creates"))[0]
		waiting := fl.waitForSlowGuests(b, n, timeout)
		b.Logf("all %d slow containers run and wait for SSH %s after they were created", n, waiting.Round(time.Second))
		if waiting > delay {
			b.Logf("some slow guests may answer already: the slow ones took longer than %s to start", delay)
		}

		start = time.Now()
		fast := fl.add(b, 1, withHostname(fastHostname))[0]
		eventually(b, timeout, condition(fast, lxcv1.ReadyCondition, metav1.ConditionTrue, ""))
		fastTime := time.Since(start)
		eventually(b, timeout, condition(mixed, lxcv1.ReadyCondition, metav1.ConditionTrue, ""))
		mixedTime := readyAt(mixed).Sub(mixedStart)

		b.Logf("%d of %d slow containers were Ready when the fast one was", fl.slowReady(b), n)
		b.Logf("fast container alone: %s", phaseTimes(alone))
		b.Logf("fast container created with the slow ones: %s", phaseTimes(mixed))
		b.Logf("fast container while the slow ones wait for SSH: %s", phaseTimes(fast))
		b.ReportMetric(fastTime.Seconds(), "fast-ct-ready-s")
		b.ReportMetric(aloneTime.Seconds(), "fast-ct-alone-s")
		b.ReportMetric(mixedTime.Seconds(), "fast-ct-with-creates-s")
	}
}

// fastHostname starts the hostnames of the containers whose guests boot at once.
const fastHostname = "fast"

// slowBoot is the fake backend's boot delay of the benchmark: sshd comes up delay after the
// container started, except in the fast containers.
func slowBoot(delay time.Duration) func(vmid int, hostname string) time.Duration {
	return func(_ int, hostname string) time.Duration {
		if strings.HasPrefix(hostname, fastHostname) {
			return 0
		}
		return delay
	}
}

func withHostname(name string) func(*lxcv1.LXCContainer) {
	return func(c *lxcv1.LXCContainer) { c.Spec.Hostname = name }
}

// waitForSlowGuests waits until n containers whose guests boot slowly are started (their
// ContainerStarted condition True) and returns how long that took since the first was created.
func (fl *fleet) waitForSlowGuests(b *testing.B, n int, timeout time.Duration) time.Duration {
	b.Helper()
	var first time.Time
	eventually(b, timeout, func() error {
		list := &lxcv1.LXCContainerList{}
		if err := k8s.List(testCtx, list, client.InNamespace(fl.ns)); err != nil {
			return err
		}
		started := 0
		for i := range list.Items {
			c := &list.Items[i]
			if strings.HasPrefix(c.Spec.Hostname, fastHostname) {
				continue
			}
			if first.IsZero() || c.CreationTimestamp.Time.Before(first) {
				first = c.CreationTimestamp.Time
			}
			if conditions.IsTrue(c, lxcv1.ContainerStartedCondition) {
				started++
			}
		}
		if started < n {
			return fmt.Errorf("%d of %d slow containers started", started, n)
		}
		return nil
	})
	return time.Since(first)
}

// slowReady counts the Ready containers of the fleet whose guests boot slowly.
func (fl *fleet) slowReady(b *testing.B) int {
	b.Helper()
	list := &lxcv1.LXCContainerList{}
	if err := k8s.List(testCtx, list, client.InNamespace(fl.ns)); err != nil {
		b.Fatal(err)
	}
	ready := 0
	for i := range list.Items {
		if c := &list.Items[i]; isReady(c) && !strings.HasPrefix(c.Spec.Hostname, fastHostname) {
			ready++
		}
	}
	return ready
}

// phaseTimes says when, after its creation, each phase condition of c last changed, to the
// second, as the API server keeps them: where a fast container waited.
func phaseTimes(c *lxcv1.LXCContainer) string {
	var out []string
	for _, t := range []string{lxcv1.ContainerCreatedCondition, lxcv1.ContainerStartedCondition,
		lxcv1.ConfigManagerDeployedCondition, lxcv1.ScriptsCompletedCondition, lxcv1.ServicesDiscoveredCondition} {
		if cond := conditions.Get(c, t); cond != nil {
			out = append(out, fmt.Sprintf("%s +%.0fs", t, cond.LastTransitionTime.Sub(c.CreationTimestamp.Time).Seconds()))
		}
	}
	return strings.Join(out, ", ")
}

// readyAt is when c last turned Ready, as the API server keeps it.
func readyAt(c *lxcv1.LXCContainer) time.Time {
	if cond := conditions.Get(c, lxcv1.ReadyCondition); cond != nil {
		return cond.LastTransitionTime.Time
	}
	return time.Time{}
}

func envDuration(name string, def time.Duration) time.Duration {
	if d, err := time.ParseDuration(os.Getenv(name)); err == nil && d > 0 {
		return d
	}
	return def
}
