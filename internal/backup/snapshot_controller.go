package backup

import (
	"context"
	"errors"
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
	"templatemanager.dev/lxc-template-manager/internal/outcome"
	"templatemanager.dev/lxc-template-manager/internal/proxmox"
)

// SnapshotReconciler takes the Proxmox snapshot an LXCSnapshot asks for, and deletes it with
// the object unless deletionPolicy is Retain.
type SnapshotReconciler struct {
	*Clusters
	Recorder events.EventRecorder
	// Resync is how often a Ready snapshot is checked to still exist.
	Resync time.Duration
}

// Reconcile makes the snapshot once, or deletes it.
func (r *SnapshotReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	l := &lifecycle[*lxcv1.LXCSnapshot]{client: r.Client, recorder: r.Recorder, resync: r.Resync,
		shard: r.Shard, container: func(s *lxcv1.LXCSnapshot) string { return s.Spec.ContainerRef.Name },
		make: r.take, remove: r.deleteSnapshot,
		ready: func(obj *lxcv1.LXCSnapshot) string {
			return fmt.Sprintf("snapshot %s of CT %d", obj.Status.SnapshotName, obj.Status.VMID)
		},
	}
	return l.reconcile(ctx, req, &lxcv1.LXCSnapshot{})
}

// take starts the snapshot task, polls it, and once it ended reads the snapshot's time.
func (r *SnapshotReconciler) take(ctx context.Context, obj *lxcv1.LXCSnapshot, p *outcome.Patcher) error {
	t, err := r.containerTarget(ctx, obj.Namespace, obj.Spec.ContainerRef.Name, "spec.containerRef")
	if err != nil {
		if obj.Status.CreationTime != nil && outcome.Of(err).Reason == lxcv1.ContainerNotFoundReason {
			// Taken already: the snapshot went with its container.
			return outcome.Stall(lxcv1.ContainerNotFoundReason, "%v; the snapshot %s went with it", err, obj.Status.SnapshotName)
		}
		return err
	}
	st := &obj.Status
	if st.VMID != 0 && st.VMID != int32(t.vmid) {
		return outcome.Stall(lxcv1.ContainerNotFoundReason, "spec.containerRef: LXCContainer %s is CT %d now, the snapshot was of CT %d", t.container.Name, t.vmid, st.VMID)
	}
	if st.Operation != "" {
		if done, err := pollTask(ctx, t.px, &st.Operation, lxcv1.SnapshottingReason, "taking snapshot "+st.SnapshotName); !done || err != nil {
			return err
		}
	}
	snaps, err := t.px.Snapshots(ctx, t.node, t.vmid)
	if err != nil {
		return err
	}
	if s, ok := findSnapshot(snaps, st.SnapshotName); ok {
		st.Node = t.node
		if st.CreationTime == nil {
			st.CreationTime = &metav1.Time{Time: s.Time}
		}
		return nil
	}
	if st.CreationTime != nil {
		return outcome.Stall(lxcv1.TaskFailedReason, "snapshot %s of CT %d no longer exists in Proxmox", st.SnapshotName, t.vmid)
	}
	return r.start(ctx, obj, t, p)
}

// start checks the container can be snapshotted and starts the task. The name and VMID are
// written first, so a snapshot whose answer was lost is found by its name instead of taken twice.
func (r *SnapshotReconciler) start(ctx context.Context, obj *lxcv1.LXCSnapshot, t target, p *outcome.Patcher) error {
	if err := snapshotSupported(ctx, t); err != nil {
		return err
	}
	st := &obj.Status
	if st.SnapshotName == "" {
		st.SnapshotName, st.VMID, st.Node = snapshotName(obj), int32(t.vmid), t.node
		if err := p.Checkpoint(ctx, obj, true); err != nil {
			return err
		}
	}
	upid, err := t.px.CreateSnapshot(ctx, t.node, t.vmid, st.SnapshotName, obj.Spec.Description)
	if err != nil {
		return err
	}
	st.Operation = string(upid)
	r.Recorder.Eventf(obj, nil, "Normal", lxcv1.SnapshottingReason, "Snapshot", "taking snapshot %s of CT %d on %s", st.SnapshotName, t.vmid, t.node)
	return outcome.Wait(taskPoll, lxcv1.SnapshottingReason, "taking snapshot %s of CT %d (task %s)", st.SnapshotName, t.vmid, upid)
}

func (r *SnapshotReconciler) deleteSnapshot(ctx context.Context, obj *lxcv1.LXCSnapshot) error {
	st := &obj.Status
	if obj.Spec.DeletionPolicy == lxcv1.DeletionPolicyRetain || st.SnapshotName == "" {
		return nil
	}
	t, err := r.containerTarget(ctx, obj.Namespace, obj.Spec.ContainerRef.Name, "spec.containerRef")
	if err != nil {
		if k := outcome.Of(err); k.Reason == lxcv1.ContainerNotFoundReason {
			return nil
		}
		return err
	}
	if int32(t.vmid) != st.VMID {
		return nil
	}
	if st.Operation != "" {
		if done, err := pollTask(ctx, t.px, &st.Operation, lxcv1.DeletingReason, "deleting snapshot "+st.SnapshotName); !done || err != nil {
			return err
		}
	}
	upid, err := t.px.DeleteSnapshot(ctx, t.node, t.vmid, st.SnapshotName)
	switch {
	case errors.Is(err, proxmox.ErrNotFound):
		return nil
	case err != nil:
		return err
	}
	st.Operation = string(upid)
	return outcome.Wait(taskPoll, lxcv1.DeletingReason, "deleting snapshot %s of CT %d (task %s)", st.SnapshotName, t.vmid, upid)
}

func findSnapshot(snaps []proxmox.Snapshot, name string) (proxmox.Snapshot, bool) {
	for _, s := range snaps {
		if name != "" && s.Name == name {
			return s, true
		}
	}
	return proxmox.Snapshot{}, false
}
