package controller

import (
	"context"

	"github.com/fluxcd/pkg/runtime/conditions"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
)

func (r *LXCContainerReconciler) containersForTemplate(ctx context.Context, obj client.Object) []reconcile.Request {
	list := &lxcv1.LXCContainerList{}
	if err := r.List(ctx, list, client.InNamespace(obj.GetNamespace()), client.MatchingFields{containerTemplateIndex: obj.GetName()}); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "Listing containers by template", "template", obj.GetName())
		return nil
	}
	return requestsFor(list.Items)
}

// containersForSecret requeues the containers a Secret's change reaches: through the cluster's
// SSH key, or as the source of files, envFrom variables or the root password.
func (r *LXCContainerReconciler) containersForSecret(ctx context.Context, obj client.Object) []reconcile.Request {
	return append(r.containersForKeySecret(ctx, obj), r.containersForContent(ctx, obj, true)...)
}

func (r *LXCContainerReconciler) containersForConfigMap(ctx context.Context, obj client.Object) []reconcile.Request {
	return r.containersForContent(ctx, obj, false)
}

// containersForContent finds the containers that use a Secret or ConfigMap themselves or
// through their template.
func (r *LXCContainerReconciler) containersForContent(ctx context.Context, obj client.Object, secret bool) []reconcile.Request {
	key := contentRef(secret, obj.GetName())
	list := &lxcv1.LXCContainerList{}
	if err := r.List(ctx, list, client.InNamespace(obj.GetNamespace()), client.MatchingFields{contentRefIndex: key}); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "Listing containers by content", "object", key)
		return nil
	}
	reqs := requestsFor(list.Items)
	templates := &lxcv1.LXCTemplateList{}
	if err := r.List(ctx, templates, client.InNamespace(obj.GetNamespace()), client.MatchingFields{contentRefIndex: key}); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "Listing templates by content", "object", key)
		return reqs
	}
	for i := range templates.Items {
		reqs = append(reqs, r.containersForTemplate(ctx, &templates.Items[i])...)
	}
	return reqs
}

// containersForBucket requeues the containers whose templates install a changed PackageBucket.
func (r *LXCContainerReconciler) containersForBucket(ctx context.Context, obj client.Object) []reconcile.Request {
	templates := &lxcv1.LXCTemplateList{}
	if err := r.List(ctx, templates, client.InNamespace(obj.GetNamespace()), client.MatchingFields{templateBucketIndex: obj.GetName()}); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "Listing templates by PackageBucket", "bucket", obj.GetName())
		return nil
	}
	var reqs []reconcile.Request
	for i := range templates.Items {
		reqs = append(reqs, r.containersForTemplate(ctx, &templates.Items[i])...)
	}
	return reqs
}

func (r *LXCContainerReconciler) containersForCluster(ctx context.Context, obj client.Object) []reconcile.Request {
	list := &lxcv1.LXCContainerList{}
	if err := r.List(ctx, list, client.MatchingFields{containerClusterIndex: obj.GetName()}); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "Listing containers by cluster", "cluster", obj.GetName())
		return nil
	}
	return requestsFor(list.Items)
}

// clusterReadinessChanged passes cluster events that can unblock or block containers: a new or
// deleted cluster, a spec change, or a change of readiness.
type clusterReadinessChanged struct {
	predicate.Funcs
}

func (clusterReadinessChanged) Update(e event.UpdateEvent) bool {
	o, ok1 := e.ObjectOld.(*lxcv1.ProxmoxCluster)
	n, ok2 := e.ObjectNew.(*lxcv1.ProxmoxCluster)
	if !ok1 || !ok2 {
		return true
	}
	return o.Generation != n.Generation || conditions.IsReady(o) != conditions.IsReady(n)
}

// containersWaitingForSiblings requeues, when a container changes or goes, the containers of its
// cluster that stalled waiting on it: those of its namespace refused by the policy (the change
// may have freed room in the quota), and any refused for an address it may have let go.
func (r *LXCContainerReconciler) containersWaitingForSiblings(ctx context.Context, obj client.Object) []reconcile.Request {
	c, ok := obj.(*lxcv1.LXCContainer)
	if !ok {
		return nil
	}
	list := &lxcv1.LXCContainerList{}
	// Read only: not copying each container keeps a fleet's deletion from being quadratic.
	if err := r.List(ctx, list, client.MatchingFields{containerClusterIndex: c.Spec.ClusterRef.Name}, client.UnsafeDisableDeepCopy); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "Listing containers by cluster", "cluster", c.Spec.ClusterRef.Name)
		return nil
	}
	var reqs []reconcile.Request
	for i := range list.Items {
		o := &list.Items[i]
		reason := conditions.GetReason(o, lxcv1.StalledCondition)
		if o.UID != c.UID && (reason == lxcv1.AddressConflictReason || (o.Namespace == c.Namespace && reason == lxcv1.PolicyViolationReason)) {
			reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(o)})
		}
	}
	return reqs
}
