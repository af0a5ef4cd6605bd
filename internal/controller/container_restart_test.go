package controller

import (
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
	"templatemanager.dev/lxc-template-manager/internal/pvesim"
	"templatemanager.dev/lxc-template-manager/internal/pvesim/fake"
	"templatemanager.dev/lxc-template-manager/internal/pvesim/pvesimtest"
)

// TestReadyAfterRestartMeansGuestAnswers: a spec change that restarts a provisioned container
// (its hostname) leaves it Ready for the new generation only once its guest answers SSH at
// status.ipAddress again. The guest has its address as soon as it boots but starts sshd a few
// seconds later, as a real guest does; no phase after Start has anything to do over SSH for a
// hostname, so nothing but the restart itself can ask the guest.
func TestReadyAfterRestartMeansGuestAnswers(t *testing.T) {
	const renamed, sshdLate = "renamed", 6 * time.Second
	fl := newChaosFleet(t, "restart-reach",
		pvesimtest.WithBackendFunc(func(dir string) (pvesim.Backend, error) {
			return fake.New(fake.Options{StateDir: filepath.Join(dir, "fake"), DHCPDelay: 200 * time.Millisecond, GuestPort: guestPort,
				SSHReadyAfter: func(_ int, hostname string) time.Duration {
					if hostname == renamed {
						return sshdLate
					}
					return 0
				}})
		}))
	fl.createTemplate(t, chaosScripts(0)...)
	fl.add(t, 1)
	fl.waitReady(t, 3*time.Minute)
	c := &fl.containers(t)[0]
	addr := c.Status.IPAddress
	update(t, c, func(c *lxcv1.LXCContainer) { c.Spec.Hostname = renamed })

	deadline := time.Now().Add(2 * time.Minute)
	for {
		if err := k8s.Get(testCtx, client.ObjectKeyFromObject(c), c); err != nil {
			t.Fatal(err)
		}
		if isReady(c) && c.Status.ObservedGeneration == c.Generation {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not Ready for generation %d: %s", c.Generation, readyText(c))
		}
		time.Sleep(50 * time.Millisecond)
	}
	if c.Status.IPAddress != addr {
		t.Errorf("status.ipAddress moved from %s to %s", addr, c.Status.IPAddress)
	}
	ip := netip.MustParseAddr(c.Status.IPAddress)
	conn, err := net.DialTimeout("tcp", net.JoinHostPort(fake.GuestAddress(ip).String(), strconv.Itoa(guestPort)), time.Second)
	if err != nil {
		t.Fatalf("Ready for generation %d, but the guest at %s does not answer SSH: %v", c.Generation, ip, err)
	}
	_ = conn.Close()
}

// TestRestartOnRequest: each new value of the restart-requested-at annotation reboots a running
// container once through Proxmox. The value is recorded in status.lastHandledRestartAt with one
// Restarted Event naming it, and the container is Ready again only once the rebooted guest
// answered a fresh SSH connection. A reboot that fails is retried with back-off and says so
// once; a container spec.powerState keeps stopped is not started for a request, which is
// recorded with a Stopped Event.
func TestRestartOnRequest(t *testing.T) {
	f := newGuestFixture(t, "restart-request")
	f.createTemplate(t)
	c := f.container("web")
	create(t, c)
	readyWithin(t, c, 2*time.Minute)
	g := f.guestOf(t, c)
	boots, sessions := g.Boots(), g.Sessions()
	reboots := func(result string) int { return f.sim.Counters().TaskTotal("vzreboot", result) }

	requestRestart(t, c, "first")
	eventually(t, time.Minute, restartHandled(c, "first"))
	if got := g.Boots(); got != boots+1 {
		t.Errorf("the guest booted %d times for one request, want 1", got-boots)
	}
	if n := reboots(""); n != 1 {
		t.Errorf("%d reboot tasks for one request, want 1", n)
	}
	if g.Sessions() <= sessions {
		t.Error("Ready again without a fresh SSH connection to the rebooted guest")
	}
	if notes := eventNotes(t, c, corev1.EventTypeNormal, lxcv1.RestartedReason); len(notes) != 1 || !strings.Contains(notes[0], `"first"`) {
		t.Errorf("Restarted Events %q, want one naming the request", notes)
	}

	// A request already handled restarts nothing more.
	update(t, c, func(c *lxcv1.LXCContainer) {
		metav1.SetMetaDataAnnotation(&c.ObjectMeta, lxcv1.ReconcileRequestAnnotation, "look-again")
	})
	eventually(t, 30*time.Second, func() error {
		if err := k8s.Get(testCtx, client.ObjectKeyFromObject(c), c); err != nil {
			return err
		}
		if c.Status.LastHandledReconcileAt != "look-again" || !isReady(c) {
			return fmt.Errorf("reconcile request not handled yet: %s", readyText(c))
		}
		return nil
	})
	if n := reboots(""); n != 1 {
		t.Errorf("a reconcile after the restart rebooted again: %d reboot tasks", n)
	}

	expectFailedRestartSaysSoOnce(t, f, c)
	expectStoppedNotRestarted(t, f, c)
}

// expectFailedRestartSaysSoOnce: two failed reboots, then one that succeeds; one Warning says so.
func expectFailedRestartSaysSoOnce(t *testing.T, f *pipelineFixture, c *lxcv1.LXCContainer) {
	t.Helper()
	reboots := func(result string) int { return f.sim.Counters().TaskTotal("vzreboot", result) }
	f.sim.Fault(t, pvesim.FaultRule{Kind: pvesim.FaultTask, Task: "vzreboot", Count: 2, Message: "reboot refused by the test"})
	requestRestart(t, c, "second")
	eventually(t, time.Minute, restartHandled(c, "second"))
	if ok, failed := reboots("ok"), reboots("error"); ok != 2 || failed != 2 {
		t.Errorf("reboot tasks: %d ok, %d failed; want 2 and 2", ok, failed)
	}
	if notes := eventNotes(t, c, corev1.EventTypeWarning, lxcv1.TaskFailedReason); len(notes) != 1 || !strings.Contains(notes[0], "reboot refused by the test") {
		t.Errorf("Warning Events of the failed reboots %q, want one naming the failure", notes)
	}
	if notes := eventNotes(t, c, corev1.EventTypeNormal, lxcv1.RestartedReason); len(notes) != 2 || !containsNote(notes, `"second"`) {
		t.Errorf("Restarted Events %q, want one more naming the second request", notes)
	}
}

// expectStoppedNotRestarted: with powerState Stopped a request is recorded, and the container is
// not started for it.
func expectStoppedNotRestarted(t *testing.T, f *pipelineFixture, c *lxcv1.LXCContainer) {
	t.Helper()
	reboots := f.sim.Counters().TaskTotal("vzreboot", "")
	update(t, c, func(c *lxcv1.LXCContainer) { c.Spec.PowerState = lxcv1.PowerStateStopped })
	eventually(t, time.Minute, conditionIs(c, lxcv1.ContainerStartedCondition, metav1.ConditionFalse, lxcv1.StoppedReason))
	starts := f.sim.Counters().TaskTotal("vzstart", "")
	requestRestart(t, c, "third")
	eventually(t, 30*time.Second, func() error {
		if err := k8s.Get(testCtx, client.ObjectKeyFromObject(c), c); err != nil {
			return err
		}
		if c.Status.LastHandledRestartAt != "third" {
			return fmt.Errorf("status.lastHandledRestartAt = %q", c.Status.LastHandledRestartAt)
		}
		return nil
	})
	if notes := eventNotes(t, c, corev1.EventTypeNormal, lxcv1.StoppedReason); !containsNote(notes, `"third"`) {
		t.Errorf("no Stopped Event names the request: %q", notes)
	}
	status, err := f.px.ContainerStatus(testCtx, c.Status.Node, int(c.Status.VMID))
	if err != nil || status.Running() {
		t.Errorf("a stopped container was started for a restart request: %+v, %v", status, err)
	}
	if n, m := f.sim.Counters().TaskTotal("vzreboot", ""), f.sim.Counters().TaskTotal("vzstart", ""); n != reboots || m != starts {
		t.Errorf("a stopped container got %d reboot and %d start tasks for a request", n-reboots, m-starts)
	}
}

// requestRestart sets c's restart-requested-at annotation to value.
func requestRestart(t *testing.T, c *lxcv1.LXCContainer, value string) {
	t.Helper()
	update(t, c, func(c *lxcv1.LXCContainer) {
		metav1.SetMetaDataAnnotation(&c.ObjectMeta, lxcv1.RestartRequestAnnotation, value)
	})
}

// restartHandled says c recorded the restart request value and is Ready again, with no task
// in flight.
func restartHandled(c *lxcv1.LXCContainer, value string) func() error {
	return func() error {
		if err := k8s.Get(testCtx, client.ObjectKeyFromObject(c), c); err != nil {
			return err
		}
		if st := c.Status; st.LastHandledRestartAt != value || st.RestartRequestInFlight != "" || st.Operation != "" || !isReady(c) {
			return fmt.Errorf("restart %q: lastHandledRestartAt %q, in flight %q, operation %q, %s",
				value, st.LastHandledRestartAt, st.RestartRequestInFlight, st.Operation, readyText(c))
		}
		return nil
	}
}

// eventNotes lists the notes of obj's Events of a type and reason, one per occurrence.
func eventNotes(t *testing.T, obj client.Object, eventType, reason string) []string {
	t.Helper()
	list := &eventsv1.EventList{}
	if err := k8s.List(testCtx, list, client.InNamespace(obj.GetNamespace())); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range list.Items {
		if e.Regarding.Name != obj.GetName() || e.Type != eventType || e.Reason != reason {
			continue
		}
		n := 1
		if e.Series != nil {
			n = int(e.Series.Count)
		}
		for range n {
			out = append(out, e.Note)
		}
	}
	return out
}

func containsNote(notes []string, part string) bool {
	return slices.ContainsFunc(notes, func(n string) bool { return strings.Contains(n, part) })
}
