package controller

import (
	"context"
	"errors"
	"fmt"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
	"templatemanager.dev/lxc-template-manager/internal/outcome"
	"templatemanager.dev/lxc-template-manager/internal/shard"
)

// PackageBucketReconciler counts a bucket's packages and the templates that use it.
type PackageBucketReconciler struct {
	client.Client
	Recorder events.EventRecorder
	// Shard picks the buckets this manager reconciles; the zero Shard picks all.
	Shard shard.Selector
}

// Reconcile records a bucket's package count and how many templates use it; the package names
// themselves were checked at admission.
func (r *PackageBucketReconciler) Reconcile(ctx context.Context, req ctrl.Request) (result ctrl.Result, retErr error) {
	bucket := &lxcv1.PackageBucket{}
	if err := r.Get(ctx, req.NamespacedName, bucket); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !r.Shard.Owns(bucket) {
		return ctrl.Result{}, nil
	}
	sp := outcome.NewPatcher(bucket, r.Client, r.Recorder)
	var err error
	defer func() {
		if perr := sp.Patch(ctx, bucket, err); perr != nil {
			retErr = errors.Join(retErr, perr)
		}
	}()

	templates := &lxcv1.LXCTemplateList{}
	err = r.List(ctx, templates, client.InNamespace(bucket.Namespace), client.MatchingFields{templateBucketIndex: bucket.Name})
	if err == nil {
		bucket.Status.PackageCount = int32(len(bucket.Spec.Packages))
		bucket.Status.UsedBy = int32(len(templates.Items))
	}
	msg := fmt.Sprintf("%d %s packages, used by %d templates", bucket.Status.PackageCount, bucket.Spec.Manager, bucket.Status.UsedBy)
	return outcome.Summarize(bucket, msg, err, 0)
}

// SetupWithManager watches buckets and the templates that reference them.
func (r *PackageBucketReconciler) SetupWithManager(mgr ctrl.Manager) error {
	r.Recorder = outcome.WithShortNotes(r.Recorder)
	return ctrl.NewControllerManagedBy(mgr).
		For(&lxcv1.PackageBucket{}, builder.WithPredicates(r.Shard.Predicate(),
			predicate.Or(predicate.GenerationChangedPredicate{}, predicate.LabelChangedPredicate{}))).
		Watches(&lxcv1.LXCTemplate{}, referencesHandler(func(t *lxcv1.LXCTemplate) []types.NamespacedName {
			keys := make([]types.NamespacedName, 0, len(t.Spec.PackageBucketRefs))
			for _, name := range bucketNames(t) {
				keys = append(keys, types.NamespacedName{Namespace: t.Namespace, Name: name})
			}
			return keys
		})).
		WithOptions(controller.Options{RateLimiter: outcome.RequeueLimiter()}).
		Named("packagebucket").
		Complete(r)
}
