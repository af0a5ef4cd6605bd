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
	"sigs.k8s.io/controller-runtime/pkg/client"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
	"templatemanager.dev/lxc-template-manager/internal/proxmox"
	"templatemanager.dev/lxc-template-manager/internal/pvesim/lxc/lxctest"
	"templatemanager.dev/lxc-template-manager/internal/testkit"
)

// conditioned is an object of this API with conditions.
type conditioned interface {
	client.Object
	conditions.Getter
}

// waitObject waits until obj is Ready, or fails naming its conditions.
func (s *stack) waitObject(t testing.TB, obj conditioned, within time.Duration) {
	t.Helper()
	testkit.Eventually(t, within, func() error {
		if err := s.k8s.Get(context.Background(), client.ObjectKeyFromObject(obj), obj); err != nil {
			return err
		}
		if !conditions.IsReady(obj) {
			return fmt.Errorf("%T %s not Ready: %+v", obj, obj.GetName(), obj.GetConditions())
		}
		return nil
	})
}

// waitStalled waits until obj is Stalled with reason and a message holding each of parts.
func (s *stack) waitStalled(t testing.TB, obj conditioned, reason string, parts ...string) string {
	t.Helper()
	var msg string
	testkit.Eventually(t, 3*time.Minute, func() error {
		if err := s.k8s.Get(context.Background(), client.ObjectKeyFromObject(obj), obj); err != nil {
			return err
		}
		c := conditions.Get(obj, lxcv1.StalledCondition)
		if c == nil || c.Reason != reason {
			return fmt.Errorf("%T %s not Stalled with %s: %+v", obj, obj.GetName(), reason, obj.GetConditions())
		}
		for _, p := range parts {
			if !strings.Contains(c.Message, p) {
				return fmt.Errorf("Stalled message %q does not name %q", c.Message, p)
			}
		}
		msg = c.Message
		return nil
	})
	return msg
}

// guestWithKey makes a container of template that trusts signer's key, and waits for Ready.
func (s *stack) guestWithKey(t testing.TB, ns, name, template string, signer gossh.Signer, mutate func(*lxcv1.LXCContainer)) *lxcv1.LXCContainer {
	t.Helper()
	c := s.container(ns, name, template)
	c.Spec.SSHPublicKeys = []lxcv1.SSHPublicKey{lxcv1.SSHPublicKey(strings.TrimSpace(string(gossh.MarshalAuthorizedKey(signer.PublicKey()))) + " e2e@test")}
	if mutate != nil {
		mutate(c)
	}
	s.create(t, c)
	s.waitReady(t, ns, name)
	return s.getContainer(t, ns, name)
}

// TestSnapshotAndRestore: a snapshot, then a file written in the guest, then an LXCRestore from
// the snapshot: the file is gone and the container is Ready again. A backup, then the
// LXCContainer deleted (its container destroyed in Proxmox), then a new LXCContainer restored
// from that backup: a file written before the backup is there, and the container is Ready.
func TestSnapshotAndRestore(t *testing.T) {
	t.Parallel()
	s := startStack(t)
	s.startManager(t)
	ctx := context.Background()
	ns := "backups"
	signer := lxctest.NewSigner(t)
	s.create(t, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, s.lightTemplate(ns, "app"))
	c := s.guestWithKey(t, ns, "app", "app", signer, nil)
	vmid := int(c.Status.VMID)
	guest := dialContainer(t, c.Status.IPAddress, signer)
	run1(t, guest, "echo kept > /root/before && sync")

	snap := &lxcv1.LXCSnapshot{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "before-change"},
		Spec: lxcv1.LXCSnapshotSpec{ContainerRef: lxcv1.ContainerReference{Name: "app"}, Description: "e2e"}}
	s.create(t, snap)
	s.waitObject(t, snap, 2*time.Minute)
	snaps, err := s.px.Snapshots(ctx, c.Status.Node, vmid)
	if err != nil || !hasSnapshot(snaps, snap.Status.SnapshotName) {
		t.Fatalf("Proxmox lists %+v (%v), not %s", snaps, err, snap.Status.SnapshotName)
	}

	run1(t, guest, "echo later > /root/after-snapshot && sync")
	guest.Close()
	rollback := &lxcv1.LXCRestore{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "rollback"},
		Spec: lxcv1.LXCRestoreSpec{ContainerRef: lxcv1.ContainerReference{Name: "app"}, SnapshotRef: &lxcv1.LocalObjectReference{Name: "before-change"}}}
	s.create(t, rollback)
	s.waitObject(t, rollback, 3*time.Minute)
	c = s.waitRestored(t, ns, "app")
	guest = dialEventually(t, c.Status.IPAddress, signer)
	if out := run1(t, guest, "cat /root/before; test -e /root/after-snapshot && echo still-there || echo gone"); out != "kept\ngone\n" {
		t.Fatalf("after the rollback the guest says %q, want the file of before and not the one after", out)
	}

	// Deleting the LXCSnapshot deletes the snapshot in Proxmox.
	if err := s.k8s.Delete(ctx, snap); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, time.Minute, func() error {
		snaps, err := s.px.Snapshots(ctx, c.Status.Node, vmid)
		if err != nil || hasSnapshot(snaps, snap.Status.SnapshotName) {
			return fmt.Errorf("Proxmox still lists %s (%v)", snap.Status.SnapshotName, err)
		}
		if err := s.k8s.Get(ctx, client.ObjectKeyFromObject(snap), &lxcv1.LXCSnapshot{}); !apierrors.IsNotFound(err) {
			return fmt.Errorf("LXCSnapshot still there: %v", err)
		}
		return nil
	})

	run1(t, guest, "echo backed-up > /root/in-backup && sync")
	guest.Close()
	bak := &lxcv1.LXCBackup{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "nightly"},
		Spec: lxcv1.LXCBackupSpec{ContainerRef: lxcv1.ContainerReference{Name: "app"}, Storage: "local", Mode: lxcv1.BackupModeSnapshot}}
	s.create(t, bak)
	s.waitObject(t, bak, 3*time.Minute)
	if bak.Status.Size <= 0 || !strings.HasPrefix(bak.Status.Archive, fmt.Sprintf("local:backup/vzdump-lxc-%d-", vmid)) {
		t.Fatalf("backup status %+v", bak.Status)
	}

	if err := s.k8s.Delete(ctx, s.getContainer(t, ns, "app")); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 2*time.Minute, func() error {
		if err := s.k8s.Get(ctx, client2Key(ns, "app"), &lxcv1.LXCContainer{}); !apierrors.IsNotFound(err) {
			return fmt.Errorf("LXCContainer still there: %v", err)
		}
		return nil
	})
	if n := s.guestsAt(t, vmid); n != 0 {
		t.Fatalf("CT %d is still in Proxmox after its LXCContainer was deleted", vmid)
	}
	s.waitObject(t, bak, time.Minute) // the backup outlives its container

	restored := s.guestWithKey(t, ns, "app-again", "app", signer, func(c *lxcv1.LXCContainer) {
		c.Spec.RestoreFrom = &lxcv1.RestoreSource{BackupRef: &lxcv1.LocalObjectReference{Name: "nightly"}}
	})
	guest = dialEventually(t, restored.Status.IPAddress, signer)
	if out := run1(t, guest, "cat /root/in-backup /root/before"); out != "backed-up\nkept\n" {
		t.Fatalf("the restored container holds %q", out)
	}
	if n := s.markedGuests(t, restored); n != 1 {
		t.Errorf("%d Proxmox containers carry the restored container's marker, want 1", n)
	}
}

// waitRestored waits until the container is Ready again after a restore let go of it.
func (s *stack) waitRestored(t testing.TB, ns, name string) *lxcv1.LXCContainer {
	t.Helper()
	var c *lxcv1.LXCContainer
	testkit.Eventually(t, 4*time.Minute, func() error {
		c = s.getContainer(t, ns, name)
		if c.Annotations[lxcv1.RestoringAnnotation] != "" || !conditions.IsReady(c) || c.Status.IPAddress == "" || c.Status.ConfigHash == "" {
			return fmt.Errorf("annotation %q, conditions %+v", c.Annotations[lxcv1.RestoringAnnotation], c.Status.Conditions)
		}
		return nil
	})
	return c
}

func hasSnapshot(snaps []proxmox.Snapshot, name string) bool {
	for _, s := range snaps {
		if s.Name == name {
			return true
		}
	}
	return false
}

// dialEventually dials the guest until it answers: a restored guest may still be booting when
// its LXCContainer turns Ready from what it knew before.
func dialEventually(t testing.TB, addr string, signer gossh.Signer) *gossh.Client {
	t.Helper()
	var c *gossh.Client
	testkit.Eventually(t, time.Minute, func() error {
		var err error
		c, err = gossh.Dial("tcp", addr+":22", &gossh.ClientConfig{
			User: "root", Auth: []gossh.AuthMethod{gossh.PublicKeys(signer)},
			HostKeyCallback: gossh.InsecureIgnoreHostKey(), Timeout: 5 * time.Second,
		})
		return err
	})
	t.Cleanup(func() { c.Close() })
	return c
}
