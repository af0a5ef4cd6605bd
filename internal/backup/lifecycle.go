package backup

import (
	"context"
	"errors"
	"time"

	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
	"templatemanager.dev/lxc-template-manager/internal/outcome"
	"templatemanager.dev/lxc-template-manager/internal/shard"
)

// lifecycle is what the snapshot and backup reconcilers share: an object whose Proxmox
// counterpart is made once and removed with it.
type lifecycle[T outcome.Object] struct {
	client   client.Client
	recorder events.EventRecorder
	resync   time.Duration
	// shard picks the objects this manager reconciles, by the container that container names.
	shard     shard.Selector
	container func(T) string
	// make moves the object towards its counterpart; ready is the Ready message once made.
	make  func(context.Context, T, *outcome.Patcher) error
	ready func(T) string
	// remove deletes the counterpart; nil once it is gone.
	remove func(context.Context, T) error
}

// reconcile reads obj, removes its counterpart when it is deleted (then drops the finalizer),
// or adds the finalizer before any Proxmox call and makes it; the status is written once.
func (l *lifecycle[T]) reconcile(ctx context.Context, req ctrl.Request, obj T) (result ctrl.Result, retErr error) {
	if err := l.client.Get(ctx, req.NamespacedName, obj); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if owned, err := l.shard.OwnsFor(ctx, l.client, obj, l.container(obj)); err != nil || !owned {
		return ctrl.Result{}, err
	}
	p := outcome.NewPatcher(obj, l.client, l.recorder)
	if !obj.GetDeletionTimestamp().IsZero() {
		if !controllerutil.ContainsFinalizer(obj, lxcv1.Finalizer) {
			return ctrl.Result{}, nil
		}
		if err := l.remove(ctx, obj); err != nil {
			if perr := p.Patch(ctx, obj, err); perr != nil {
				return ctrl.Result{}, perr
			}
			return outcome.Summarize(obj, "", err, 0)
		}
		controllerutil.RemoveFinalizer(obj, lxcv1.Finalizer)
		return ctrl.Result{}, client.IgnoreNotFound(p.Checkpoint(ctx, obj, false))
	}
	if !controllerutil.ContainsFinalizer(obj, lxcv1.Finalizer) {
		controllerutil.AddFinalizer(obj, lxcv1.Finalizer)
		if err := p.Checkpoint(ctx, obj, false); err != nil {
			return ctrl.Result{}, err
		}
	}
	var err error
	defer func() {
		if perr := p.Patch(ctx, obj, err); perr != nil {
			retErr = errors.Join(retErr, perr)
		}
	}()
	err = l.make(ctx, obj, p)
	return outcome.Summarize(obj, l.ready(obj), err, l.resync)
}
