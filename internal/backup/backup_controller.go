package backup

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
	"templatemanager.dev/lxc-template-manager/internal/outcome"
	"templatemanager.dev/lxc-template-manager/internal/proxmox"
)

// BackupReconciler runs the vzdump an LXCBackup asks for and records the archive; it deletes
// the archive with the object unless deletionPolicy is Retain. Deleting the container leaves
// its backups: that is what they are for.
type BackupReconciler struct {
	*Clusters
	Recorder events.EventRecorder
	Metrics  *Metrics
	// Resync is how often a Ready backup's archive is checked to still exist.
	Resync time.Duration
}

// Reconcile makes the archive once, or deletes it.
func (r *BackupReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	l := &lifecycle[*lxcv1.LXCBackup]{client: r.Client, recorder: r.Recorder, resync: r.Resync,
		shard: r.Shard, container: func(b *lxcv1.LXCBackup) string { return b.Spec.ContainerRef.Name },
		make: r.backUp, remove: r.deleteArchive,
		ready: func(obj *lxcv1.LXCBackup) string {
			return fmt.Sprintf("archive %s (%d bytes) of CT %d", obj.Status.Archive, obj.Status.Size, obj.Status.VMID)
		},
	}
	return l.reconcile(ctx, req, &lxcv1.LXCBackup{})
}

// backUp runs vzdump once and records the archive; a Ready backup only checks the archive is
// still there.
func (r *BackupReconciler) backUp(ctx context.Context, obj *lxcv1.LXCBackup, p *outcome.Patcher) error {
	st := &obj.Status
	if st.Archive != "" {
		return r.stillThere(ctx, obj)
	}
	if st.Operation != "" {
		return r.finish(ctx, obj)
	}
	t, err := r.containerTarget(ctx, obj.Namespace, obj.Spec.ContainerRef.Name, "spec.containerRef")
	if err != nil {
		return err
	}
	if obj.Annotations[clusterAnnotation] != t.container.Spec.ClusterRef.Name {
		// The archive outlives the container; this says where it is once the container is gone.
		metav1.SetMetaDataAnnotation(&obj.ObjectMeta, clusterAnnotation, t.container.Spec.ClusterRef.Name)
		if err := p.Checkpoint(ctx, obj, false); err != nil {
			return err
		}
	}
	if started, err := r.claim(ctx, obj, t); err != nil || started {
		return err
	}
	opts := proxmox.BackupOptions{
		VMID: t.vmid, Storage: obj.Spec.Storage, Mode: string(obj.Spec.Mode),
		Compress: compression(obj.Spec.Compress), Notes: backupNotes(obj),
	}
	upid, err := t.px.Backup(ctx, t.node, opts)
	if err != nil {
		if !proxmox.IsOutcomeUnknown(err) {
			// Proxmox refused it: nothing runs, and the next attempt claims the start again.
			before := obj.DeepCopy()
			st.StartTime = nil
			err = errors.Join(err, r.Status().Patch(ctx, obj, client.MergeFrom(before)))
		}
		return err
	}
	st.Operation = string(upid)
	r.Recorder.Eventf(obj, nil, "Normal", lxcv1.BackingUpReason, "Backup", "backing up CT %d on %s to storage %s", t.vmid, t.node, obj.Spec.Storage)
	return outcome.Wait(taskPoll, lxcv1.BackingUpReason, "backing up CT %d to %s (task %s)", t.vmid, obj.Spec.Storage, upid)
}

// claimGrace is how long a claimed start without a recorded task is waited for before vzdump
// runs again: longer than any lag of the cache, shorter than a user's patience.
const claimGrace = 2 * time.Minute

// claim records the start of the backup before vzdump is asked, with the version read: a
// reconcile working from a stale copy of the object (one that has not seen an earlier start
// yet) fails here instead of running vzdump a second time, which would leave an archive no
// object knows. A start claimed before whose task was never recorded (the manager stopped in
// between) takes the archive made since, if there is one; started is true then.
func (r *BackupReconciler) claim(ctx context.Context, obj *lxcv1.LXCBackup, t target) (started bool, err error) {
	st := &obj.Status
	if st.StartTime != nil {
		if a, err := findArchive(ctx, t.px, obj, ""); err == nil {
			st.Archive, st.Size, st.CompletionTime = a.Volid, a.Size, &metav1.Time{Time: a.Time}
			return true, nil
		}
		if time.Since(st.StartTime.Time) < claimGrace {
			// Most likely a copy that has seen the claim but not yet the task recorded after
			// it: the vzdump may be running. Look again instead of starting another.
			return true, outcome.Wait(taskPoll, lxcv1.BackingUpReason, "backup of CT %d claimed at %s; waiting for its task", st.VMID, st.StartTime.UTC().Format(time.RFC3339))
		}
		return false, nil // claimed long ago and nothing came of it: run vzdump again
	}
	before := obj.DeepCopy()
	now := metav1.Now()
	st.StartTime, st.Node, st.VMID = &now, t.node, int32(t.vmid)
	return false, r.Status().Patch(ctx, obj, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{}))
}

// finish polls the vzdump task and, once it ended, finds the archive it wrote.
func (r *BackupReconciler) finish(ctx context.Context, obj *lxcv1.LXCBackup) error {
	st := &obj.Status
	px, err := r.clusterOf(ctx, obj)
	if err != nil {
		return err
	}
	upid := proxmox.UPID(st.Operation)
	done, err := pollTask(ctx, px, &st.Operation, lxcv1.BackingUpReason, fmt.Sprintf("backing up CT %d", st.VMID))
	if !done {
		return err
	}
	if err != nil {
		r.Metrics.backup(obj, false)
		// vzdump left no archive; the next attempt runs it again, on the failure back-off.
		st.StartTime = nil
		return err
	}
	a, err := findArchive(ctx, px, obj, upid)
	if err != nil {
		return err
	}
	st.Archive, st.Size = a.Volid, a.Size
	st.CompletionTime = &metav1.Time{Time: a.Time}
	r.Metrics.backup(obj, true)
	return nil
}

// stillThere checks a Ready backup's archive is still on its storage.
func (r *BackupReconciler) stillThere(ctx context.Context, obj *lxcv1.LXCBackup) error {
	px, err := r.clusterOf(ctx, obj)
	if err != nil {
		return err
	}
	_, ok, err := lookUpArchive(ctx, px, obj.Status.Node, obj.Status.Archive, int(obj.Status.VMID))
	if err != nil || ok {
		return err
	}
	return outcome.Stall(lxcv1.TaskFailedReason, "archive %s is no longer on node %s", obj.Status.Archive, obj.Status.Node)
}

// clusterOf opens the cluster the backup was made on: its container's, while it exists, else
// the cluster named by the annotation the controller set when the backup started.
func (r *BackupReconciler) clusterOf(ctx context.Context, obj *lxcv1.LXCBackup) (proxmox.Client, error) {
	if name := obj.Annotations[clusterAnnotation]; name != "" {
		return r.connectCluster(ctx, name, obj.Namespace)
	}
	t, err := r.containerTarget(ctx, obj.Namespace, obj.Spec.ContainerRef.Name, "spec.containerRef")
	if err != nil {
		return nil, err
	}
	return t.px, nil
}

func (r *BackupReconciler) deleteArchive(ctx context.Context, obj *lxcv1.LXCBackup) error {
	st := &obj.Status
	if obj.Spec.DeletionPolicy == lxcv1.DeletionPolicyRetain || (st.Archive == "" && st.Operation == "") {
		return nil
	}
	px, err := r.clusterOf(ctx, obj)
	if err != nil {
		if outcome.Of(err).Reason == lxcv1.ContainerNotFoundReason {
			return nil
		}
		return err
	}
	if st.Operation != "" {
		// A backup still running, or the deletion of its archive: wait for it to end first.
		upid := proxmox.UPID(st.Operation)
		if done, err := pollTask(ctx, px, &st.Operation, lxcv1.DeletingReason, "waiting for task "+string(upid)); !done {
			return err
		}
		if st.Archive == "" {
			a, err := findArchive(ctx, px, obj, upid)
			if err != nil {
				return nil // vzdump failed, or wrote nothing to delete
			}
			st.Archive = a.Volid
		}
	}
	upid, err := px.DeleteVolume(ctx, st.Node, st.Archive)
	switch {
	case errors.Is(err, proxmox.ErrNotFound):
		return nil
	case err != nil:
		return err
	case upid == "":
		return nil
	}
	st.Operation = string(upid)
	return outcome.Wait(taskPoll, lxcv1.DeletingReason, "deleting archive %s (task %s)", st.Archive, upid)
}

// compression is vzdump's compress value for the spec's.
func compression(c lxcv1.BackupCompression) string {
	switch c {
	case "", "zstd":
		return "zstd"
	case "none":
		return "0"
	}
	return string(c)
}

// backupNotes are the archive's notes: the spec's, and which object made it, as vzdump's
// notes-template wants them: one line, a newline written \n and a backslash \\
// (PVE/VZDump/Common.pm).
func backupNotes(obj *lxcv1.LXCBackup) string {
	n := fmt.Sprintf("LXCBackup %s/%s of {{guestname}}", obj.Namespace, obj.Name)
	if obj.Spec.Notes != "" {
		n = obj.Spec.Notes + "\n" + n
	}
	return strings.NewReplacer("\\", "\\\\", "\n", "\\n", "\r", "").Replace(n)
}
