package controller

import (
	"net"
	"net/netip"
	"path/filepath"
	"strconv"
	"testing"
	"time"

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
