package backup

import (
	"context"

	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
	"templatemanager.dev/lxc-template-manager/internal/outcome"
)

// Field indexes of this package's kinds.
const (
	// containerRefIndex: LXCSnapshot, LXCBackup, LXCRestore → the name of their LXCContainer.
	containerRefIndex = ".spec.containerRef"
	// sourceIndex: LXCRestore → "LXCSnapshot/<name>" or "LXCBackup/<name>".
	sourceIndex = ".spec.source"
	// templateRefIndex is the container reconciler's index of LXCContainers by LXCTemplate.
	templateRefIndex = ".spec.templateRef"
)

// SetupIndexes registers the field indexes the reconcilers of this package list by.
func SetupIndexes(ctx context.Context, mgr ctrl.Manager) error {
	fi := mgr.GetFieldIndexer()
	if err := fi.IndexField(ctx, &lxcv1.LXCSnapshot{}, containerRefIndex, func(o client.Object) []string {
		return []string{o.(*lxcv1.LXCSnapshot).Spec.ContainerRef.Name}
	}); err != nil {
		return err
	}
	if err := fi.IndexField(ctx, &lxcv1.LXCBackup{}, containerRefIndex, func(o client.Object) []string {
		return []string{o.(*lxcv1.LXCBackup).Spec.ContainerRef.Name}
	}); err != nil {
		return err
	}
	if err := fi.IndexField(ctx, &lxcv1.LXCRestore{}, containerRefIndex, func(o client.Object) []string {
		return []string{o.(*lxcv1.LXCRestore).Spec.ContainerRef.Name}
	}); err != nil {
		return err
	}
	return fi.IndexField(ctx, &lxcv1.LXCRestore{}, sourceIndex, func(o client.Object) []string {
		return []string{restoreSource(o.(*lxcv1.LXCRestore))}
	})
}

func restoreSource(r *lxcv1.LXCRestore) string {
	if r.Spec.SnapshotRef != nil {
		return "LXCSnapshot/" + r.Spec.SnapshotRef.Name
	}
	if r.Spec.BackupRef != nil {
		return "LXCBackup/" + r.Spec.BackupRef.Name
	}
	return ""
}

// referrers requeues the objects of list whose field index key matches.
func referrers(c client.Client, list client.ObjectList, index string, key func(client.Object) string) handler.EventHandler {
	return handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, o client.Object) []reconcile.Request {
		l := list.DeepCopyObject().(client.ObjectList)
		if err := c.List(ctx, l, client.InNamespace(o.GetNamespace()), client.MatchingFields{index: key(o)}); err != nil {
			return nil
		}
		var reqs []reconcile.Request
		forEach(l, func(obj client.Object) {
			reqs = append(reqs, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: obj.GetNamespace(), Name: obj.GetName()}})
		})
		return reqs
	})
}

func forEach(l client.ObjectList, fn func(client.Object)) {
	switch l := l.(type) {
	case *lxcv1.LXCSnapshotList:
		for i := range l.Items {
			fn(&l.Items[i])
		}
	case *lxcv1.LXCBackupList:
		for i := range l.Items {
			fn(&l.Items[i])
		}
	case *lxcv1.LXCRestoreList:
		for i := range l.Items {
			fn(&l.Items[i])
		}
	case *lxcv1.LXCContainerList:
		for i := range l.Items {
			fn(&l.Items[i])
		}
	}
}

func byName(o client.Object) string { return o.GetName() }

// SetupWithManager registers the snapshot reconciler; a change of its container wakes it.
func (r *SnapshotReconciler) SetupWithManager(mgr ctrl.Manager) error {
	r.Recorder = outcome.WithShortNotes(r.Recorder)
	return ctrl.NewControllerManagedBy(mgr).
		For(&lxcv1.LXCSnapshot{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&lxcv1.LXCContainer{}, referrers(r.Client, &lxcv1.LXCSnapshotList{}, containerRefIndex, byName)).
		WithOptions(controller.Options{RateLimiter: outcome.RequeueLimiter()}).
		Named("lxcsnapshot").
		Complete(r)
}

// SetupWithManager registers the backup reconciler; a change of its container wakes it.
func (r *BackupReconciler) SetupWithManager(mgr ctrl.Manager) error {
	r.Recorder = outcome.WithShortNotes(r.Recorder)
	return ctrl.NewControllerManagedBy(mgr).
		For(&lxcv1.LXCBackup{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&lxcv1.LXCContainer{}, referrers(r.Client, &lxcv1.LXCBackupList{}, containerRefIndex, byName)).
		WithOptions(controller.Options{RateLimiter: outcome.RequeueLimiter()}).
		Named("lxcbackup").
		Complete(r)
}

// SetupWithManager registers the restore reconciler; its container and its source wake it.
func (r *RestoreReconciler) SetupWithManager(mgr ctrl.Manager) error {
	r.Recorder = outcome.WithShortNotes(r.Recorder)
	return ctrl.NewControllerManagedBy(mgr).
		For(&lxcv1.LXCRestore{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&lxcv1.LXCContainer{}, referrers(r.Client, &lxcv1.LXCRestoreList{}, containerRefIndex, byName)).
		Watches(&lxcv1.LXCSnapshot{}, referrers(r.Client, &lxcv1.LXCRestoreList{}, sourceIndex, func(o client.Object) string { return "LXCSnapshot/" + o.GetName() })).
		Watches(&lxcv1.LXCBackup{}, referrers(r.Client, &lxcv1.LXCRestoreList{}, sourceIndex, func(o client.Object) string { return "LXCBackup/" + o.GetName() })).
		WithOptions(controller.Options{RateLimiter: outcome.RequeueLimiter()}).
		Named("lxcrestore").
		Complete(r)
}

// SetupWithManager registers the schedule reconciler: a container's spec, its template's, and
// its backups finishing (to prune) wake it.
func (r *ScheduleReconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		// A container relabelled into this shard brings its schedule along.
		For(&lxcv1.LXCContainer{}, builder.WithPredicates(r.Shard.Predicate(),
			predicate.Or(predicate.GenerationChangedPredicate{}, predicate.LabelChangedPredicate{}))).
		Watches(&lxcv1.LXCTemplate{}, referrers(r.Client, &lxcv1.LXCContainerList{}, templateRefIndex, byName),
			builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&lxcv1.LXCBackup{}, handler.EnqueueRequestsFromMapFunc(func(_ context.Context, o client.Object) []reconcile.Request {
			b := o.(*lxcv1.LXCBackup)
			if b.Labels[lxcv1.ScheduledLabel] != "true" {
				return nil
			}
			return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: b.Namespace, Name: b.Spec.ContainerRef.Name}}}
		})).
		Named("backupschedule").
		Complete(r)
}
