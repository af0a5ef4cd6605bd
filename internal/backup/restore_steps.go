package backup

import (
	"context"
	"errors"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
	"templatemanager.dev/lxc-template-manager/internal/outcome"
	"templatemanager.dev/lxc-template-manager/internal/proxmox"
)

// source is what a restore brings the container back to.
type source struct {
	snapshot *lxcv1.LXCSnapshot
	backup   *lxcv1.LXCBackup
}

func (s source) describe() string {
	if s.snapshot != nil {
		return fmt.Sprintf("rolling back to snapshot %s (LXCSnapshot %s)", s.snapshot.Status.SnapshotName, s.snapshot.Name)
	}
	return fmt.Sprintf("restoring from archive %s (LXCBackup %s)", s.backup.Status.Archive, s.backup.Name)
}

// source reads the snapshot or backup and checks it belongs to the container and is Ready.
func (r *RestoreReconciler) source(ctx context.Context, obj *lxcv1.LXCRestore, t target) (source, error) {
	ns := obj.Namespace
	if ref := obj.Spec.SnapshotRef; ref != nil {
		snap := &lxcv1.LXCSnapshot{}
		if err := r.getSource(ctx, ns, ref.Name, snap, "spec.snapshotRef", "LXCSnapshot"); err != nil {
			return source{}, err
		}
		if snap.Spec.ContainerRef.Name != obj.Spec.ContainerRef.Name || (snap.Status.VMID != 0 && int(snap.Status.VMID) != t.vmid) {
			return source{}, outcome.Stall(lxcv1.SourceMismatchReason, "spec.snapshotRef: LXCSnapshot %s is a snapshot of LXCContainer %s (CT %d), not of %s (CT %d)",
				snap.Name, snap.Spec.ContainerRef.Name, snap.Status.VMID, obj.Spec.ContainerRef.Name, t.vmid)
		}
		if snap.Status.CreationTime == nil {
			return source{}, outcome.Wait(outcome.DependencyRetry, lxcv1.DependencyNotReadyReason, "spec.snapshotRef: LXCSnapshot %s is not taken yet", snap.Name)
		}
		return source{snapshot: snap}, nil
	}
	b := &lxcv1.LXCBackup{}
	if err := r.getSource(ctx, ns, obj.Spec.BackupRef.Name, b, "spec.backupRef", "LXCBackup"); err != nil {
		return source{}, err
	}
	if b.Spec.ContainerRef.Name != obj.Spec.ContainerRef.Name {
		return source{}, outcome.Stall(lxcv1.SourceMismatchReason, "spec.backupRef: LXCBackup %s is a backup of LXCContainer %s, not of %s; to make a new container from it, use spec.restoreFrom of a new LXCContainer",
			b.Name, b.Spec.ContainerRef.Name, obj.Spec.ContainerRef.Name)
	}
	if b.Status.Archive == "" {
		return source{}, outcome.Wait(outcome.DependencyRetry, lxcv1.DependencyNotReadyReason, "spec.backupRef: LXCBackup %s has no archive yet", b.Name)
	}
	if b.Status.Node != t.node {
		return source{}, outcome.Stall(lxcv1.SourceMismatchReason, "spec.backupRef: the archive of LXCBackup %s is on node %s, CT %d runs on node %s", b.Name, b.Status.Node, t.vmid, t.node)
	}
	return source{backup: b}, nil
}

func (r *RestoreReconciler) getSource(ctx context.Context, ns, name string, obj client.Object, field, kind string) error {
	err := r.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, obj)
	if apierrors.IsNotFound(err) {
		return outcome.Wait(outcome.DependencyRetry, lxcv1.DependencyNotReadyReason, "%s: %s %s not found", field, kind, name)
	}
	return err
}

// steps runs the restore: stop, roll back or restore, start, polling each task in turn.
func (r *RestoreReconciler) steps(ctx context.Context, obj *lxcv1.LXCRestore, t target, src source) error {
	st := &obj.Status
	for {
		if st.Operation != "" {
			if done, err := pollTask(ctx, t.px, &st.Operation, lxcv1.RestoringReason, st.Step+" CT "+fmt.Sprint(t.vmid)); !done || err != nil {
				return err
			}
			st.Step = nextStep(st.Step, src, st.WasRunning)
		}
		if st.Step == stepDone {
			return nil
		}
		upid, err := r.startStep(ctx, obj, t, src)
		if err != nil {
			return err
		}
		if upid == "" {
			st.Step = nextStep(st.Step, src, st.WasRunning)
			continue
		}
		st.Operation = string(upid)
		return outcome.Wait(taskPoll, lxcv1.RestoringReason, "%s CT %d (task %s)", st.Step, t.vmid, upid)
	}
}

// nextStep follows step; a rollback starts the container itself (start=1).
func nextStep(step string, src source, wasRunning bool) string {
	switch {
	case step == stepStopping:
		return stepRestoring
	case step == stepRestoring && wasRunning && src.backup != nil:
		return stepStarting
	}
	return stepDone
}

// startStep starts the task of the current step; an empty UPID means nothing was to do.
func (r *RestoreReconciler) startStep(ctx context.Context, obj *lxcv1.LXCRestore, t target, src source) (proxmox.UPID, error) {
	st := &obj.Status
	switch st.Step {
	case stepStopping:
		if src.snapshot != nil {
			return "", nil // Proxmox stops a running container for the rollback itself
		}
		return t.px.StopContainer(ctx, t.node, t.vmid)
	case stepRestoring:
		if src.snapshot != nil {
			return t.px.RollbackSnapshot(ctx, t.node, t.vmid, src.snapshot.Status.SnapshotName, st.WasRunning)
		}
		cfg, err := t.px.ContainerConfig(ctx, t.node, t.vmid)
		if err != nil {
			return "", err
		}
		return t.px.RestoreContainer(ctx, t.node, proxmox.RestoreSpec{
			VMID: t.vmid, Archive: src.backup.Status.Archive, Force: true,
			Description: cfg.Description, Hostname: cfg.Hostname, Tags: cfg.Tags,
		})
	case stepStarting:
		return t.px.StartContainer(ctx, t.node, t.vmid)
	}
	return "", errors.New("unknown restore step " + st.Step)
}
