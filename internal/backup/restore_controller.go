package backup

import (
	"context"
	"errors"
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
	"templatemanager.dev/lxc-template-manager/internal/outcome"
)

// Steps of a restore, in status.step.
const (
	stepStopping  = "Stopping"
	stepRestoring = "Restoring"
	stepStarting  = "Starting"
	stepDone      = "Done"
)

// RestoreReconciler carries out an LXCRestore once: a rollback to a snapshot, or the container
// made again from a backup under its VMID. While it runs, the LXCContainer carries the
// restoring annotation and its reconciler keeps its hands off; afterwards the container's
// pipeline checks the guest again from the start.
type RestoreReconciler struct {
	*Clusters
	Recorder events.EventRecorder
}

// Reconcile moves the restore one step on.
func (r *RestoreReconciler) Reconcile(ctx context.Context, req ctrl.Request) (result ctrl.Result, retErr error) {
	obj := &lxcv1.LXCRestore{}
	if err := r.Get(ctx, req.NamespacedName, obj); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if owned, err := r.Shard.OwnsFor(ctx, r.Client, obj, obj.Spec.ContainerRef.Name); err != nil || !owned {
		return ctrl.Result{}, err
	}
	if !obj.DeletionTimestamp.IsZero() || obj.Status.Step == stepDone {
		return ctrl.Result{}, r.release(ctx, obj)
	}
	p := outcome.NewPatcher(obj, r.Client, r.Recorder)
	var err error
	defer func() {
		if perr := p.Patch(ctx, obj, err); perr != nil {
			retErr = errors.Join(retErr, perr)
		}
	}()
	err = r.restore(ctx, obj, p)
	if o := outcome.Of(err); o.Kind == outcome.Stalled || o.Kind == outcome.Failing {
		// A restore that cannot go on gives the container back to its reconciler.
		if rerr := r.release(ctx, obj); rerr != nil {
			err = errors.Join(err, rerr)
		}
		if o.Kind == outcome.Failing {
			err = outcome.Stall(o.Reason, "%s", o.Message)
		}
	}
	return outcome.Summarize(obj, r.doneMessage(obj), err, 0)
}

func (r *RestoreReconciler) doneMessage(obj *lxcv1.LXCRestore) string {
	if obj.Spec.SnapshotRef != nil {
		return fmt.Sprintf("CT %d rolled back to LXCSnapshot %s", obj.Status.VMID, obj.Spec.SnapshotRef.Name)
	}
	return fmt.Sprintf("CT %d restored from LXCBackup %s", obj.Status.VMID, obj.Spec.BackupRef.Name)
}

// restore checks the source, takes the container from its reconciler, and runs the steps.
func (r *RestoreReconciler) restore(ctx context.Context, obj *lxcv1.LXCRestore, p *outcome.Patcher) error {
	t, err := r.containerTarget(ctx, obj.Namespace, obj.Spec.ContainerRef.Name, "spec.containerRef")
	if err != nil {
		return err
	}
	src, err := r.source(ctx, obj, t)
	if err != nil {
		return err
	}
	st := &obj.Status
	if st.Step == "" {
		if err := r.hold(ctx, obj, t); err != nil {
			return err
		}
		cs, err := t.px.ContainerStatus(ctx, t.node, t.vmid)
		if err != nil {
			return err
		}
		st.VMID, st.Node, st.WasRunning, st.Step = int32(t.vmid), t.node, cs.Running(), stepStopping
		if err := p.Checkpoint(ctx, obj, true); err != nil {
			return err
		}
		r.Recorder.Eventf(t.container, nil, "Normal", lxcv1.RestoringReason, "Restore", "LXCRestore %s: %s", obj.Name, src.describe())
	}
	if err := r.steps(ctx, obj, t, src); err != nil {
		return err
	}
	return r.finish(ctx, obj, t, src)
}

// finish gives the container back to its reconciler, to be checked from the start.
func (r *RestoreReconciler) finish(ctx context.Context, obj *lxcv1.LXCRestore, t target, src source) error {
	obj.Status.Step = stepDone
	obj.Status.CompletionTime = &metav1.Time{Time: time.Now()}
	if err := forgetGuest(ctx, r.Client, t.container, src.backup != nil); err != nil {
		return err
	}
	if err := r.release(ctx, obj); err != nil {
		return err
	}
	r.Recorder.Eventf(t.container, nil, "Normal", lxcv1.RestoredReason, "Restore", "LXCRestore %s: %s", obj.Name, src.describe())
	return nil
}
