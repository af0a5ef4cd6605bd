package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
	"templatemanager.dev/lxc-template-manager/internal/testkit"
)

// TestBackupSchedule: a schedule of one minute with keep.last 2 leaves exactly 2 backups after
// 4 minutes, as LXCBackups and as archives in Proxmox; the pruned ones are gone from both.
func TestBackupSchedule(t *testing.T) {
	t.Parallel() // four minutes of waiting; the stack idles meanwhile
	s := startStack(t)
	s.startManager(t)
	ctx := context.Background()
	ns := "schedule"
	s.create(t, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, s.lightTemplate(ns, "app"))
	c := s.container(ns, "app", "app")
	c.Spec.Backup = &lxcv1.BackupSchedule{Schedule: "* * * * *", Storage: "local", Keep: &lxcv1.BackupRetention{Last: ptr(int32(2))}}
	s.create(t, c)
	s.waitReady(t, ns, "app")
	c = s.getContainer(t, ns, "app")
	vmid := int(c.Status.VMID)

	time.Sleep(4 * time.Minute)
	var made []string
	testkit.Eventually(t, 2*time.Minute, func() error {
		list := &lxcv1.LXCBackupList{}
		if err := s.k8s.List(ctx, list, client.InNamespace(ns), client.MatchingLabels{lxcv1.ContainerLabel: "app"}); err != nil {
			return err
		}
		made = made[:0]
		for _, b := range list.Items {
			if b.DeletionTimestamp.IsZero() && b.Status.Archive != "" {
				made = append(made, b.Status.Archive)
			}
		}
		if len(made) != 2 || len(list.Items) != 2 {
			return fmt.Errorf("%d LXCBackups, %d finished: %v", len(list.Items), len(made), made)
		}
		archives, err := s.px.Backups(ctx, c.Status.Node, "local", vmid)
		if err != nil {
			return err
		}
		if len(archives) != 2 {
			return fmt.Errorf("Proxmox holds %d archives of CT %d: %+v", len(archives), vmid, archives)
		}
		return nil
	})
	c = s.getContainer(t, ns, "app")
	if c.Status.Backup == nil || c.Status.Backup.LastSuccessfulTime == nil {
		t.Errorf("status.backup %+v", c.Status.Backup)
	}
	if n := countEvents(t, s, ns, "app", lxcv1.BackupScheduledReason); n < 3 {
		t.Errorf("%d BackupScheduled Events in 4 minutes of a one-minute schedule, want at least 3", n)
	}
}
