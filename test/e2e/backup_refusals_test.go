package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
)

// TestBackupRefusals: what cannot be done is refused or stalls with a reason naming the field,
// and nothing is destroyed. A snapshot of a container on a dir storage stalls with
// SnapshotUnsupported naming the volume, and snapshotBeforeChange takes a backup instead; a backup of a container that does not exist, a
// restore from another container's snapshot, and a backup schedule that is no cron expression
// each stall naming their field; a restore naming both sources is refused at admission.
func TestBackupRefusals(t *testing.T) {
	t.Parallel()
	s := startStack(t)
	s.startManager(t)
	ctx := context.Background()
	ns := "refusals"
	s.create(t, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, s.lightTemplate(ns, "app"))
	onDir := s.container(ns, "on-dir", "app")
	onDir.Spec.Storage = "local"
	other := s.container(ns, "other", "app")
	other.Spec.Network = nil // the template's DHCP: the stack has one static address
	s.create(t, onDir, other)
	s.waitReady(t, ns, "on-dir")
	s.waitReady(t, ns, "other")
	vmid := int(s.getContainer(t, ns, "on-dir").Status.VMID)
	node := s.getContainer(t, ns, "on-dir").Status.Node

	unsupported := snapshotOf(ns, "dir-snap", "on-dir")
	s.create(t, unsupported)
	msg := s.waitStalled(t, unsupported, lxcv1.SnapshotUnsupportedReason, "rootfs", "local:", "dir")
	t.Logf("snapshot on dir storage: %s", msg)

	orphan := &lxcv1.LXCBackup{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "of-nothing"},
		Spec: lxcv1.LXCBackupSpec{ContainerRef: lxcv1.ContainerReference{Name: "no-such-container"}, Storage: "local"}}
	s.create(t, orphan)
	s.waitStalled(t, orphan, lxcv1.ContainerNotFoundReason, "spec.containerRef", "no-such-container")

	otherSnap := snapshotOf(ns, "other-snap", "other")
	s.create(t, otherSnap)
	s.waitObject(t, otherSnap, 2*time.Minute)
	wrong := &lxcv1.LXCRestore{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "wrong-source"},
		Spec: lxcv1.LXCRestoreSpec{ContainerRef: lxcv1.ContainerReference{Name: "on-dir"}, SnapshotRef: &lxcv1.LocalObjectReference{Name: "other-snap"}}}
	s.create(t, wrong)
	s.waitStalled(t, wrong, lxcv1.SourceMismatchReason, "spec.snapshotRef", "other")

	both := &lxcv1.LXCRestore{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "both"},
		Spec: lxcv1.LXCRestoreSpec{ContainerRef: lxcv1.ContainerReference{Name: "on-dir"},
			SnapshotRef: &lxcv1.LocalObjectReference{Name: "other-snap"}, BackupRef: &lxcv1.LocalObjectReference{Name: "x"}}}
	if err := s.k8s.Create(ctx, both); err == nil || !strings.Contains(err.Error(), "exactly one of snapshotRef and backupRef") {
		t.Errorf("a restore with two sources was not refused at admission: %v", err)
	}

	// Where snapshots are unsupported, the way back before a change is a backup.
	update(t, s, s.getContainer(t, ns, "on-dir"), func(c *lxcv1.LXCContainer) {
		c.Spec.SnapshotBeforeChange = &lxcv1.SnapshotBeforeChange{}
	})
	s.waitGeneration(t, ns, "on-dir")
	update(t, s, s.getContainer(t, ns, "on-dir"), func(c *lxcv1.LXCContainer) {
		c.Spec.Resources = &lxcv1.Resources{Cores: ptr(int32(2))}
	})
	s.waitGeneration(t, ns, "on-dir")
	wayBacks := &lxcv1.LXCBackupList{}
	if err := s.k8s.List(ctx, wayBacks, client.InNamespace(ns), client.HasLabels{"lxc.templatemanager.dev/before-change"}); err != nil {
		t.Fatal(err)
	}
	if len(wayBacks.Items) != 1 || wayBacks.Items[0].Status.Archive == "" || wayBacks.Items[0].Spec.ContainerRef.Name != "on-dir" {
		t.Fatalf("ways back taken before the change: %+v", wayBacks.Items)
	}

	update(t, s, s.getContainer(t, ns, "on-dir"), func(c *lxcv1.LXCContainer) {
		c.Spec.Backup = &lxcv1.BackupSchedule{Schedule: "every tuesday", Storage: "local"}
	})
	s.waitStalled(t, s.getContainer(t, ns, "on-dir"), lxcv1.InvalidSpecReason, "spec.backup.schedule", "every tuesday")

	st, err := s.px.ContainerStatus(ctx, node, vmid)
	if err != nil || !st.Running() {
		t.Fatalf("CT %d after the refusals: %+v, %v", vmid, st, err)
	}
	if n := s.guestsAt(t, vmid); n != 1 {
		t.Errorf("%d guests at VMID %d, want 1", n, vmid)
	}
	if list := (&lxcv1.LXCBackupList{}); s.k8s.List(ctx, list, client.InNamespace(ns), client.HasLabels{lxcv1.ScheduledLabel}) == nil && len(list.Items) != 0 {
		t.Errorf("the bad schedule made backups: %d LXCBackups", len(list.Items))
	}
}

func snapshotOf(ns, name, container string) *lxcv1.LXCSnapshot {
	return &lxcv1.LXCSnapshot{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: lxcv1.LXCSnapshotSpec{ContainerRef: lxcv1.ContainerReference{Name: container}}}
}
