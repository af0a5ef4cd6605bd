package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/fluxcd/pkg/runtime/conditions"
	gossh "golang.org/x/crypto/ssh"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
	"templatemanager.dev/lxc-template-manager/internal/proxmox"
	"templatemanager.dev/lxc-template-manager/internal/pvesim/lxc/lxctest"
	"templatemanager.dev/lxc-template-manager/internal/testkit"
)

// otherNode is the node of the stack's two that is not node.
func otherNode(node string) string {
	if node == "pve1" {
		return "pve2"
	}
	return "pve1"
}

// migrateDone waits until a Proxmox task ended and checks that it succeeded.
func (s *stack) migrateDone(t testing.TB, upid proxmox.UPID, err error, what string) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	testkit.Eventually(t, 3*time.Minute, func() error {
		st, err := s.px.TaskStatus(context.Background(), upid)
		if err != nil {
			return err
		}
		if !st.Done() {
			return fmt.Errorf("%s still running", what)
		}
		return nil
	})
	if st, _ := s.px.TaskStatus(context.Background(), upid); st.Err() != nil {
		t.Fatalf("%s: %v", what, st.Err())
	}
}

// TestMovedContainer: a container migrated to another node behind the controller's back is
// followed there within one resync (status.node, a Moved Event, Ready, no VMIDConflict), and
// deleting its LXCContainer destroys it on the node it moved to.
func TestMovedContainer(t *testing.T) {
	t.Parallel()
	s := startStack(t)
	s.startManager(t)
	ctx := context.Background()
	ns := "moved"
	s.create(t, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, s.lightTemplate(ns, "app"))
	s.create(t, s.container(ns, "app", "app"))
	s.waitReady(t, ns, "app")
	c := s.getContainer(t, ns, "app")
	from, vmid := c.Status.Node, int(c.Status.VMID)
	to := otherNode(from)

	upid, err := s.px.MigrateContainer(ctx, from, vmid, proxmox.MigrateOptions{Target: to, Restart: true})
	s.migrateDone(t, upid, err, "migrating CT behind the controller's back")
	moved := time.Now()

	// The resync interval is one minute; the container is followed within it (plus a task poll).
	testkit.Eventually(t, 75*time.Second, func() error {
		c := s.getContainer(t, ns, "app")
		if c.Status.Node != to || !conditions.IsReady(c) {
			return fmt.Errorf("status.node %s, Ready %v: %+v", c.Status.Node, conditions.IsReady(c), c.Status.Conditions)
		}
		if notes := eventsAbout(t, s, ns, "app"); !containsLine(notes, "Normal "+lxcv1.MovedReason, fmt.Sprintf("from node %s to node %s", from, to)) {
			return fmt.Errorf("no Moved Event yet:\n%s", strings.Join(notes, "\n"))
		}
		return nil
	})
	t.Logf("followed %s after %s", to, time.Since(moved).Round(time.Second))
	if notes := eventsAbout(t, s, ns, "app"); containsLine(notes, lxcv1.VMIDConflictReason) || containsLine(notes, lxcv1.ContainerVanishedReason) {
		t.Errorf("the move was reported as a conflict or a vanished container:\n%s", strings.Join(notes, "\n"))
	}
	if n := s.guestsAt(t, vmid); n != 1 {
		t.Errorf("%d guests at VMID %d, want 1", n, vmid)
	}

	if err := s.k8s.Delete(ctx, s.getContainer(t, ns, "app")); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 2*time.Minute, func() error {
		err := s.k8s.Get(ctx, client2Key(ns, "app"), &lxcv1.LXCContainer{})
		if !apierrors.IsNotFound(err) {
			return fmt.Errorf("LXCContainer still there: %v", err)
		}
		return nil
	})
	if n := s.guestsAt(t, vmid); n != 0 {
		t.Errorf("CT %d is still in Proxmox after its LXCContainer was deleted", vmid)
	}
}

// TestNodeChange: changing spec.node migrates the container with its data: a file written
// before is there after, one container is in Proxmox, running on the new node, and the
// LXCContainer is Ready there for the new generation.
func TestNodeChange(t *testing.T) {
	t.Parallel()
	s := startStack(t)
	s.startManager(t)
	ctx := context.Background()
	ns := "nodechange"
	signer := lxctest.NewSigner(t)
	userKey := lxcv1.SSHPublicKey(strings.TrimSpace(string(gossh.MarshalAuthorizedKey(signer.PublicKey()))) + " e2e@test")
	s.create(t, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, s.lightTemplate(ns, "app"))
	c := s.container(ns, "app", "app")
	c.Spec.Node = "pve1"
	c.Spec.SSHPublicKeys = []lxcv1.SSHPublicKey{userKey}
	s.create(t, c)
	s.waitReady(t, ns, "app")
	c = s.getContainer(t, ns, "app")
	vmid, addr := int(c.Status.VMID), c.Status.IPAddress
	if c.Status.Node != "pve1" {
		t.Fatalf("created on %s, want pve1", c.Status.Node)
	}
	guest := dialContainer(t, addr, signer)
	run1(t, guest, "echo written-on-pve1 > /root/before-move && sync")
	guest.Close()

	update(t, s, c, func(c *lxcv1.LXCContainer) { c.Spec.Node = "pve2" })
	c = s.waitGeneration(t, ns, "app")
	if c.Status.Node != "pve2" {
		t.Fatalf("Ready on %s, want pve2", c.Status.Node)
	}
	st, err := s.px.ContainerStatus(ctx, "pve2", vmid)
	if err != nil || !st.Running() {
		t.Fatalf("CT %d on pve2: %+v, %v", vmid, st, err)
	}
	if _, err := s.px.ContainerConfig(ctx, "pve1", vmid); err == nil {
		t.Errorf("CT %d still has a config on pve1", vmid)
	}
	if n := s.markedGuests(t, c); n != 1 {
		t.Errorf("%d Proxmox containers carry the marker, want 1", n)
	}
	guest = dialContainer(t, addr, signer)
	if got := strings.TrimSpace(run1(t, guest, "cat /root/before-move")); got != "written-on-pve1" {
		t.Errorf("the file written before the move reads %q", got)
	}
	notes := eventsAbout(t, s, ns, "app")
	if !containsLine(notes, "Normal "+lxcv1.MigratingReason, "from node pve1 to node pve2") {
		t.Errorf("no Migrating Event:\n%s", strings.Join(notes, "\n"))
	}
	if containsLine(notes, lxcv1.VMIDConflictReason) || containsLine(notes, lxcv1.ContainerVanishedReason) || containsLine(notes, lxcv1.CreatingReason+":", "pve2") {
		t.Errorf("the migration was taken for a conflict or a new container:\n%s", strings.Join(notes, "\n"))
	}
}
