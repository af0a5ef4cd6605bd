package controller

import (
	"context"
	"errors"
	"time"

	"github.com/fluxcd/pkg/runtime/conditions"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
	"templatemanager.dev/lxc-template-manager/internal/outcome"
	"templatemanager.dev/lxc-template-manager/internal/proxmox"
)

// reconcileDelete stops and destroys (purges) the Proxmox container unless deletionPolicy is
// Retain, then removes the finalizer. A delete that arrives while a task runs waits for the
// task first; a container that is not ours is never touched.
func (r *LXCContainerReconciler) reconcileDelete(ctx context.Context, s *containerScope) (ctrl.Result, error) {
	obj := s.obj
	if !controllerutil.ContainsFinalizer(obj, lxcv1.Finalizer) {
		return ctrl.Result{}, nil
	}
	if wait := outcome.RetryPending(obj, false, time.Now()); wait > 0 {
		return ctrl.Result{RequeueAfter: wait}, nil
	}
	err := r.destroy(ctx, s)
	switch o := outcome.Of(err); o.Kind {
	case outcome.Waiting:
		conditions.MarkFalse(obj, lxcv1.ReadyCondition, lxcv1.DeletingReason, "%s", o.Message)
		conditions.MarkReconciling(obj, lxcv1.DeletingReason, "%s", o.Message)
		obj.Status.Phase = "Deleting"
		return ctrl.Result{RequeueAfter: o.RequeueAfter}, nil
	case outcome.Failing, outcome.Stalled:
		// Deletion retries what stalls too: the finalizer must not hold the object forever.
		attempts, delay := outcome.CountFailure(obj, o.Reason, time.Now())
		conditions.MarkFalse(obj, lxcv1.ReadyCondition, lxcv1.DeletingReason, "deleting: %s (%s)", o.Message, outcome.AttemptNote(attempts, delay))
		conditions.MarkReconciling(obj, lxcv1.DeletingReason, "deleting: %s (%s)", o.Message, outcome.AttemptNote(attempts, delay))
		obj.Status.Phase = "Deleting"
		ctrl.LoggerFrom(ctx).Info("Deleting failed; retrying with back-off", "error", s.redactor.String(o.Message), "attempt", attempts, "after", delay.Round(time.Millisecond))
		return ctrl.Result{RequeueAfter: delay}, nil
	}
	r.forgetConnection(obj)
	r.lastDiscover.forget(obj.UID)
	r.lastAddress.forget(obj.UID)
	r.lastFirewallCheck.forget(obj.UID)
	r.lastHACheck.forget(obj.UID)
	r.lastPoolCheck.forget(obj.UID)
	r.unreached.remove(obj.UID)
	// The object goes away with its finalizer, so this is its last write.
	patch := client.MergeFrom(obj.DeepCopy())
	controllerutil.RemoveFinalizer(obj, lxcv1.Finalizer)
	return ctrl.Result{}, client.IgnoreNotFound(r.Patch(ctx, obj, patch))
}

func (r *LXCContainerReconciler) destroy(ctx context.Context, s *containerScope) error {
	obj, st := s.obj, &s.obj.Status
	if obj.Spec.DeletionPolicy == lxcv1.DeletionPolicyRetain || st.VMID == 0 {
		if st.VMID != 0 {
			r.announce(obj, retained, st.VMID, st.Node)
		}
		return nil
	}
	cluster := &lxcv1.ProxmoxCluster{}
	if err := r.Get(ctx, types.NamespacedName{Name: obj.Spec.ClusterRef.Name}, cluster); err != nil {
		if apierrors.IsNotFound(err) {
			// Without its cluster the container cannot be reached; holding the object forever
			// would help nobody.
			r.announce(obj, clusterGoneAtDelete, obj.Spec.ClusterRef.Name, st.VMID, st.Node)
			return nil
		}
		return err
	}
	px, err := r.Connector.Connect(ctx, cluster)
	if err != nil {
		return err
	}
	s.cluster, s.px = cluster, px

	if upid, ok := operationTask(st.Operation, "vzcreate", "vzstart", "vzstop", "vzshutdown", "vzreboot", "vzdestroy", "resize", "vzmigrate"); ok {
		done, err := r.pollTask(ctx, s, upid, lxcv1.DeletingReason, "waiting for the task on CT %d", st.VMID)
		if !done {
			return err
		}
		if _, ours := operationTask(string(upid), "vzstop", "vzdestroy"); ours && err != nil {
			return outcome.Failed(lxcv1.TaskFailedReason, err)
		}
	}
	st.Operation = ""

	return r.destroyOwned(ctx, s)
}

// destroyOwned stops the container and destroys it with its disks, once it is known to carry
// this object's marker and no task holds it.
func (r *LXCContainerReconciler) destroyOwned(ctx context.Context, s *containerScope) error {
	obj, st, px := s.obj, &s.obj.Status, s.px
	// A container HA or an admin moved is destroyed where it is now.
	cfg, err := r.configWherever(ctx, s)
	switch {
	case errors.Is(err, proxmox.ErrNotFound):
		r.announce(obj, destroyed, st.VMID, st.Node)
		return nil
	case err != nil:
		return err
	}
	if !ownedBy(cfg.Description, obj) {
		r.announce(obj, notOursAtDelete, st.VMID, st.Node)
		return nil
	}
	if cfg.Lock != "" {
		return outcome.Wait(r.taskPoll(), lxcv1.DeletingReason, "CT %d is locked (%s)", st.VMID, cfg.Lock)
	}
	status, err := px.ContainerStatus(ctx, st.Node, int(st.VMID))
	if err != nil {
		return err
	}
	if status.Running() {
		upid, err := px.StopContainer(ctx, st.Node, int(st.VMID))
		if err != nil {
			return err
		}
		st.Operation = string(upid)
		return outcome.Wait(r.taskPoll(), lxcv1.DeletingReason, "stopping CT %d", st.VMID)
	}
	if cfg.Raw["protection"] == "1" {
		// spec.protection guards against deletion through Proxmox, not against this object's.
		if err := px.UpdateContainerConfig(ctx, st.Node, int(st.VMID), proxmox.ConfigUpdate{Delete: []string{"protection"}, Digest: cfg.Digest}); err != nil {
			return err
		}
	}
	upid, err := px.DeleteContainer(ctx, st.Node, int(st.VMID), proxmox.DeleteOptions{Purge: true, DestroyUnreferencedDisks: true})
	if errors.Is(err, proxmox.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	st.Operation = string(upid)
	r.announce(obj, destroying, st.VMID, st.Node)
	return outcome.Wait(r.taskPoll(), lxcv1.DeletingReason, "destroying CT %d", st.VMID)
}
