package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/fluxcd/pkg/runtime/conditions"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
	"templatemanager.dev/lxc-template-manager/internal/proxmox"
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
func (s *stack) migrateDone(t *testing.T, upid proxmox.UPID, err error, what string) {
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

