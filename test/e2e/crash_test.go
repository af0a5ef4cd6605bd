package e2e

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fluxcd/pkg/runtime/conditions"
	gossh "golang.org/x/crypto/ssh"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
	"templatemanager.dev/lxc-template-manager/internal/pvesim/lxc/lxctest"
	"templatemanager.dev/lxc-template-manager/internal/testkit"
)

// TestManagerKilledInEachPhaseStillEndsReady kills bin/manager with SIGKILL while each of the
// five phases is in progress, starts a new one each time, and checks that the container still
// ends Ready, with exactly one Proxmox container and every script run once.
func TestManagerKilledInEachPhaseStillEndsReady(t *testing.T) {
	t.Parallel()
	// Slow tasks, a slow script and a service that comes up late hold each phase open long
	// enough to kill the manager inside it; SSH is held back by a firewall rule for the third.
	// The test kills only its own manager, so it runs in parallel with the others; the late
	// service waits 30 s, long enough that a reconcile slowed by the tests running beside it
	// still finds it missing first.
	s := startStack(t, "--task-duration-of", "vzcreate=4s", "--task-duration-of", "vzstart=3s")
	ctx := context.Background()
	ns := "crash"
	signer := lxctest.NewSigner(t)
	userKey := strings.TrimSpace(string(gossh.MarshalAuthorizedKey(signer.PublicKey())))

	tmpl := s.webTemplate(ns, "web",
		lxcv1.Script{Name: "slow", Content: str("#!/bin/sh\necho slow started >> /var/log/slow-runs\nsleep 8\necho slow done\n")},
		lxcv1.Script{Name: "late", Content: str("#!/bin/sh\nset -eu\nsystemd-run --unit=late-web --on-active=30 /usr/bin/hello-web -listen :9090\n")},
	)
	tmpl.Spec.Services = append(tmpl.Spec.Services, lxcv1.ServicePromise{Name: "late", Port: 9090, Protocol: lxcv1.ProtocolTCP})
	unblock := blockSSH(t, s)

	s.create(t,
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}},
		webBucket(ns), tmpl,
		&lxcv1.LXCContainer{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "phoenix"},
			Spec: lxcv1.LXCContainerSpec{
				ClusterRef: lxcv1.ClusterReference{Name: "pve"}, TemplateRef: lxcv1.LocalObjectReference{Name: "web"},
				SSHPublicKeys: []lxcv1.SSHPublicKey{lxcv1.SSHPublicKey(userKey)},
			},
		})
	manager := s.startManager(t)

	key := types.NamespacedName{Namespace: ns, Name: "phoenix"}
	get := func() *lxcv1.LXCContainer {
		c := &lxcv1.LXCContainer{}
		if err := s.k8s.Get(ctx, key, c); err != nil {
			t.Fatal(err)
		}
		return c
	}
	inPhase := []struct {
		phase string
		now   func(c *lxcv1.LXCContainer) bool
		after func()
	}{
		{"Create", func(c *lxcv1.LXCContainer) bool { return strings.Contains(c.Status.Operation, ":vzcreate:") }, nil},
		{"Start", func(c *lxcv1.LXCContainer) bool { return strings.Contains(c.Status.Operation, ":vzstart:") }, nil},
		{"Deploy config-manager", func(c *lxcv1.LXCContainer) bool {
			return conditions.GetReason(c, lxcv1.ConfigManagerDeployedCondition) == lxcv1.SSHUnreachableReason
		}, unblock},
		{"Run scripts", func(c *lxcv1.LXCContainer) bool { return strings.HasPrefix(c.Status.Operation, "script-slow-") }, nil},
		{"Discover services", func(c *lxcv1.LXCContainer) bool {
			return conditions.GetReason(c, lxcv1.ServicesDiscoveredCondition) == lxcv1.ServicesMissingReason
		}, nil},
	}
	for _, p := range inPhase {
		testkit.Eventually(t, 3*time.Minute, func() error {
			if c := get(); !p.now(c) {
				return fmt.Errorf("not yet in phase %s: operation %q, phase %q", p.phase, c.Status.Operation, c.Status.Phase)
			}
			return nil
		})
		manager.stop(syscall.SIGKILL)
		t.Logf("Killed the manager during phase %s", p.phase)
		if p.after != nil {
			p.after()
		}
		manager = s.startManager(t)
	}

	if out, err := s.cp.TryKubectl("-n", ns, "wait", "--for=condition=Ready", "--timeout=4m", "lxcc/phoenix"); err != nil {
		dumpContainer(t, s, ns, "phoenix")
		t.Fatalf("kubectl wait: %v\n%s", err, out)
	}
	c := get()
	guests, err := s.px.Guests(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(guests) != 1 || guests[0].VMID != int(c.Status.VMID) {
		t.Fatalf("Proxmox holds %d containers (%+v), want exactly CT %d", len(guests), guests, c.Status.VMID)
	}
	sh := dialContainer(t, c.Status.IPAddress, signer)
	if runs := strings.TrimSpace(run1(t, sh, "cat /var/log/slow-runs")); runs != "slow started" {
		t.Errorf("the slow script ran more than once across restarts:\n%s", runs)
	}
	for _, port := range []int32{8080, 9090} {
		found := false
		for _, svc := range c.Status.Services {
			found = found || svc.Port == port
		}
		if !found {
			t.Errorf("status.services lacks port %d: %+v", port, c.Status.Services)
		}
	}
}

// blockSSH rejects the host's SSH connections to the simulator's subnet until the returned
// function lifts the rule (or the test ends).
func blockSSH(t testing.TB, s *stack) func() {
	t.Helper()
	table := "lxctm_e2e_" + s.bridge
	rules := fmt.Sprintf(`table inet %s {
	chain output {
		type filter hook output priority 0; policy accept;
		ip daddr %s tcp dport 22 reject with tcp reset
	}
}
`, table, s.subnet)
	cmd := exec.Command("nft", "-f", "-")
	cmd.Stdin = strings.NewReader(rules)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("nft: %v\n%s", err, out)
	}
	lifted := false
	lift := func() {
		if !lifted {
			lifted = true
			if out, err := exec.Command("nft", "delete", "table", "inet", table).CombinedOutput(); err != nil {
				t.Errorf("nft delete table: %v\n%s", err, out)
			}
		}
	}
	t.Cleanup(lift)
	return lift
}
