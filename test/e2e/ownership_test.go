package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fluxcd/pkg/runtime/conditions"
	gossh "golang.org/x/crypto/ssh"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
	"templatemanager.dev/lxc-template-manager/internal/proxmox"
	"templatemanager.dev/lxc-template-manager/internal/pvesim/lxc/lxctest"
	"templatemanager.dev/lxc-template-manager/internal/testkit"
)

// TestOwnership: the right machine, nothing orphaned, restores adopted — on real containers.
// One stack, in steps that build on each other.
func TestOwnership(t *testing.T) {
	t.Parallel()
	const warning = "Systemd 257 detected. You may need to enable nesting."
	s := startStack(t, "--fault", "warn,task=vzcreate,count=1,message="+warning)
	s.startManager(t)
	ctx := context.Background()
	ns := "own"
	signer := lxctest.NewSigner(t)
	userKey := lxcv1.SSHPublicKey(strings.TrimSpace(string(gossh.MarshalAuthorizedKey(signer.PublicKey()))) + " e2e@test")
	second := s.lightTemplate(ns, "second")
	second.Spec.Scripts = []lxcv1.Script{{Name: "mark", Content: str("#!/bin/sh\nset -eu\ntouch /root/ran-by-second\n" +
		"printf 'SECOND_TOKEN=%s\\n' second-token > /etc/config-manager/credentials/second.env\n")}}
	s.create(t, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, s.lightTemplate(ns, "light"), second)
	withKey := func(c *lxcv1.LXCContainer) *lxcv1.LXCContainer {
		c.Spec.SSHPublicKeys = []lxcv1.SSHPublicKey{userKey}
		return c
	}

	// A create task that ends with WARNINGS: 1 succeeded: one container, Ready, the warning kept.
	first := withKey(s.container(ns, "first", "light"))
	s.create(t, first)
	s.waitReady(t, ns, "first")
	first = s.getContainer(t, ns, "first")
	if n := s.markedGuests(t, first); n != 1 {
		t.Errorf("%d Proxmox containers carry first's marker, want 1", n)
	}
	if notes := eventsAbout(t, s, ns, "first"); !containsLine(notes, lxcv1.TaskWarningsReason, warning) {
		t.Errorf("no TaskWarnings Event keeps the create's warning:\n%s", strings.Join(notes, "\n"))
	}

	t.Run("a second container on the first one's address is refused", func(t *testing.T) {
		c := withKey(s.container(ns, "second", "second")) // the same static address as first
		c.Spec.PowerState = lxcv1.PowerStateStopped
		s.create(t, c)
		testkit.Eventually(t, 2*time.Minute, func() error {
			c = s.getContainer(t, ns, "second")
			if c.Status.VMID == 0 || !conditions.IsTrue(c, lxcv1.ContainerCreatedCondition) {
				return fmt.Errorf("second is not created yet")
			}
			return nil
		})
		// The first container holds the address on the bridge: keep the second's frames off it,
		// as they would be if the first had answered ARP first.
		cfg, err := s.px.ContainerConfig(ctx, c.Status.Node, int(c.Status.VMID))
		if err != nil {
			t.Fatal(err)
		}
		fenceMAC(t, s, cfg.Nets[0].HWAddr)
		update(t, s, c, func(c *lxcv1.LXCContainer) { c.Spec.PowerState = lxcv1.PowerStateRunning })
		testkit.Eventually(t, 3*time.Minute, func() error {
			c = s.getContainer(t, ns, "second")
			if cond := conditions.Get(c, lxcv1.StalledCondition); cond == nil || cond.Reason != lxcv1.AddressConflictReason {
				return fmt.Errorf("second is not Stalled with AddressConflict: %+v", c.Status.Conditions)
			}
			return nil
		})
		if msg := conditions.GetMessage(c, lxcv1.ReadyCondition); !strings.Contains(msg, s.staticAddress().String()) {
			t.Errorf("the refusal does not name the address: %q", msg)
		}
		client := dialContainer(t, first.Status.IPAddress, signer)
		defer client.Close()
		if out := run1(t, client, "test -e /root/ran-by-second && echo ran || echo clean"); strings.TrimSpace(out) != "clean" {
			t.Error("the second container's script ran in the first")
		}
		secret := &corev1.Secret{}
		err = s.k8s.Get(ctx, client2Key(ns, "second-credentials"), secret)
		if !apierrors.IsNotFound(err) {
			t.Errorf("second has a credentials Secret (%v): %v", err, secret.Data)
		}
		if err := s.k8s.Delete(ctx, c); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("a DHCP lease that moves moves status.ipAddress", func(t *testing.T) {
		c := withKey(s.container(ns, "leased", "light"))
		c.Spec.Network = nil // DHCP from the template
		s.create(t, c)
		s.waitReady(t, ns, "leased")
		c = s.getContainer(t, ns, "leased")
		old := c.Status.IPAddress
		lease := s.renewLease(t, int(c.Status.VMID))
		if lease == old {
			t.Fatalf("the lease did not move from %s", old)
		}
		// The test's manager looks at a Ready container once a minute.
		testkit.Eventually(t, 3*time.Minute, func() error {
			c = s.getContainer(t, ns, "leased")
			if c.Status.IPAddress != lease {
				return fmt.Errorf("status.ipAddress is %s, the lease %s", c.Status.IPAddress, lease)
			}
			return nil
		})
	})

	t.Run("changes made behind the controller's back are set back", func(t *testing.T) {
		// A Ready container: after the lease moved, it looks at the guest at its new address first.
		s.waitReady(t, ns, "leased")
		c := s.getContainer(t, ns, "leased")
		node, vmid := c.Status.Node, int(c.Status.VMID)
		memory := 1024
		if err := s.px.UpdateContainerConfig(ctx, node, vmid, proxmox.ConfigUpdate{MemoryMiB: &memory}); err != nil {
			t.Fatal(err)
		}
		upid, err := s.px.StopContainer(ctx, node, vmid)
		if err != nil {
			t.Fatal(err)
		}
		testkit.WaitTask(t, ctx, s.px, upid)
		// The test's manager looks at a Ready container once a minute.
		testkit.Eventually(t, 3*time.Minute, func() error {
			cfg, err := s.px.ContainerConfig(ctx, node, vmid)
			if err != nil {
				return err
			}
			st, err := s.px.ContainerStatus(ctx, node, vmid)
			if err != nil {
				return err
			}
			if cfg.MemoryMiB != 256 || !st.Running() {
				return fmt.Errorf("memory %d MiB, running %v", cfg.MemoryMiB, st.Running())
			}
			return nil
		})
		notes := eventsAbout(t, s, ns, "leased")
		if !containsLine(notes, lxcv1.DriftCorrectedReason, "memory") || !containsLine(notes, lxcv1.DriftCorrectedReason, "stopped outside the controller") {
			t.Errorf("no DriftCorrected Events for the memory and the stop:\n%s", strings.Join(notes, "\n"))
		}
		s.waitReady(t, ns, "leased")
	})

	t.Run("a container kept by Retain is adopted again", func(t *testing.T) {
		c := withKey(s.container(ns, "keeper", "light"))
		c.Spec.Network = nil
		c.Spec.DeletionPolicy = lxcv1.DeletionPolicyRetain
		s.create(t, c)
		s.waitReady(t, ns, "keeper")
		c = s.getContainer(t, ns, "keeper")
		vmid, oldUID := c.Status.VMID, c.UID
		if err := s.k8s.Delete(ctx, c); err != nil {
			t.Fatal(err)
		}
		testkit.Eventually(t, time.Minute, func() error {
			err := s.k8s.Get(ctx, client.ObjectKeyFromObject(c), &lxcv1.LXCContainer{})
			if !apierrors.IsNotFound(err) {
				return fmt.Errorf("keeper is still there: %v", err)
			}
			return nil
		})
		again := withKey(s.container(ns, "keeper", "light"))
		again.Spec.Network = nil
		again.Spec.VMID = &vmid // the marker is this object's earlier incarnation's: no annotation needed
		s.create(t, again)
		s.waitReady(t, ns, "keeper")
		again = s.getContainer(t, ns, "keeper")
		if again.Status.VMID != vmid || again.UID == oldUID {
			t.Errorf("adopted as VMID %d (want %d), uid %s (old %s)", again.Status.VMID, vmid, again.UID, oldUID)
		}
		cfg, err := s.px.ContainerConfig(ctx, again.Status.Node, int(vmid))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(cfg.Description, "uid="+string(again.UID)) || strings.Contains(cfg.Description, string(oldUID)) {
			t.Errorf("the marker was not rewritten to the new uid: %q", cfg.Description)
		}
		if n := s.guestsAt(t, int(vmid)); n != 1 {
			t.Errorf("%d containers at VMID %d", n, vmid)
		}
	})

	t.Run("deleting the cluster first still destroys the containers", func(t *testing.T) {
		cluster := &lxcv1.ProxmoxCluster{}
		if err := s.k8s.Get(ctx, client.ObjectKey{Name: "pve"}, cluster); err != nil {
			t.Fatal(err)
		}
		if err := s.k8s.Delete(ctx, cluster); err != nil {
			t.Fatal(err)
		}
		testkit.Eventually(t, time.Minute, func() error {
			if err := s.k8s.Get(ctx, client.ObjectKey{Name: "pve"}, cluster); err != nil {
				return err
			}
			if r := conditions.Get(cluster, lxcv1.ReadyCondition); r == nil || r.Reason != lxcv1.InUseReason {
				return fmt.Errorf("the cluster does not say it is in use: %+v", r)
			}
			return nil
		})
		if err := s.k8s.DeleteAllOf(ctx, &lxcv1.LXCContainer{}, client.InNamespace(ns)); err != nil {
			t.Fatal(err)
		}
		testkit.Eventually(t, 3*time.Minute, func() error {
			guests, err := s.px.Guests(ctx)
			if err != nil {
				return err
			}
			if len(guests) > 0 {
				return fmt.Errorf("%d containers are left in Proxmox", len(guests))
			}
			err = s.k8s.Get(ctx, client.ObjectKey{Name: "pve"}, cluster)
			if !apierrors.IsNotFound(err) {
				return fmt.Errorf("the cluster is still there: %v", err)
			}
			return nil
		})
	})
}

func client2Key(ns, name string) client.ObjectKey { return client.ObjectKey{Namespace: ns, Name: name} }

func (s *stack) waitReady(t testing.TB, ns, name string) {
	t.Helper()
	if out, err := s.cp.TryKubectl("-n", ns, "wait", "--for=condition=Ready", "--timeout=5m", "lxcc/"+name); err != nil {
		dumpContainer(t, s, ns, name)
		t.Fatalf("kubectl wait: %v\n%s", err, out)
	}
}

// markedGuests counts the Proxmox containers whose description carries obj's marker.
func (s *stack) markedGuests(t testing.TB, obj *lxcv1.LXCContainer) int {
	t.Helper()
	guests, err := s.px.Guests(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	marker := fmt.Sprintf("%s %s/%s uid=%s", lxcv1.OwnerMarkerPrefix, obj.Namespace, obj.Name, obj.UID)
	n := 0
	for _, g := range guests {
		cfg, err := s.px.ContainerConfig(context.Background(), g.Node, g.VMID)
		if err == nil && strings.Contains(cfg.Description, marker) {
			n++
		}
	}
	return n
}

func (s *stack) guestsAt(t testing.TB, vmid int) int {
	t.Helper()
	guests, err := s.px.Guests(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, g := range guests {
		if g.VMID == vmid {
			n++
		}
	}
	return n
}

// renewLease asks pvesim to move the DHCP lease of net0, and returns the new address.
func (s *stack) renewLease(t testing.TB, vmid int) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, fmt.Sprintf("https://%s/_pvesim/leases/%d/0", s.simAddr, vmid), nil)
	req.Header.Set("Authorization", "PVEAPIToken="+s.tokenID+"="+s.token)
	resp, err := s.simHTTP().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Lease string `json:"lease"`
		Error string `json:"error"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || body.Lease == "" {
		t.Fatalf("renewing the lease: %v %+v", err, body)
	}
	addr, _, _ := strings.Cut(body.Lease, "/")
	return addr
}

// fenceMAC drops every frame a MAC address sends on the test's bridge.
func fenceMAC(t testing.TB, s *stack, mac string) {
	t.Helper()
	table := "lxctm_fence_" + s.bridge
	rules := fmt.Sprintf(`table bridge %s {
	chain forward { type filter hook forward priority 0; policy accept; ether saddr %s drop; }
	chain input { type filter hook input priority 0; policy accept; ether saddr %s drop; }
}
`, table, mac, mac)
	cmd := exec.Command("nft", "-f", "-")
	cmd.Stdin = strings.NewReader(rules)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("nft: %v\n%s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("nft", "delete", "table", "bridge", table).Run() })
}

func containsLine(lines []string, parts ...string) bool {
	for _, l := range lines {
		ok := true
		for _, p := range parts {
			ok = ok && strings.Contains(l, p)
		}
		if ok {
			return true
		}
	}
	return false
}

// expectDriftCorrected asks for a reconcile of c after drift made behind the controller's back,
// then waits until fixed says Proxmox holds what the spec asks again, and for a DriftCorrected
// Event of c naming field.
func expectDriftCorrected(t testing.TB, s *stack, c *lxcv1.LXCContainer, field string, fixed func() error) {
	t.Helper()
	update(t, s, c, func(c *lxcv1.LXCContainer) {
		metav1.SetMetaDataAnnotation(&c.ObjectMeta, lxcv1.ReconcileRequestAnnotation, "drift-"+strconv.FormatInt(time.Now().UnixNano(), 10))
	})
	testkit.Eventually(t, 2*time.Minute, fixed)
	testkit.Eventually(t, time.Minute, func() error {
		if notes := eventsAbout(t, s, c.Namespace, c.Name); !containsLine(notes, lxcv1.DriftCorrectedReason, field) {
			return fmt.Errorf("no DriftCorrected Event naming %s:\n%s", field, strings.Join(notes, "\n"))
		}
		return nil
	})
}

func update(t testing.TB, s *stack, obj *lxcv1.LXCContainer, mutate func(*lxcv1.LXCContainer)) {
	t.Helper()
	for i := 0; ; i++ {
		cur := s.getContainer(t, obj.Namespace, obj.Name)
		mutate(cur)
		err := s.k8s.Update(context.Background(), cur)
		if err == nil {
			return
		}
		if !apierrors.IsConflict(err) || i > 10 {
			t.Fatal(err)
		}
	}
}
