package controller

import (
	"context"
	"fmt"
	"strings"

	"github.com/fluxcd/pkg/runtime/conditions"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
	"templatemanager.dev/lxc-template-manager/internal/desired"
	"templatemanager.dev/lxc-template-manager/internal/outcome"
	"templatemanager.dev/lxc-template-manager/internal/policy"
)

// checkPolicy stalls a container whose merged desired state breaks its cluster's policy, before
// anything reaches Proxmox: the admission policy sees only the object as written, and may be
// absent or older than the cluster's policy. A container not yet created must also fit the
// namespace quota; one that exists is never destroyed for it.
func (r *LXCContainerReconciler) checkPolicy(ctx context.Context, s *containerScope) error {
	p := &s.cluster.Spec.Policy
	if v := policy.Check(p, policy.Request{Node: s.obj.Spec.Node, Container: s.desired}); v != nil {
		return outcome.Stall(lxcv1.PolicyViolationReason, "%s", v)
	}
	if p.NamespaceQuota == nil || s.obj.Status.VMID != 0 || conditions.IsTrue(s.obj, lxcv1.ContainerCreatedCondition) {
		return nil
	}
	used, err := namespaceUsage(ctx, r.Client, s.cluster.Name, s.obj.Namespace, s.obj)
	if err != nil {
		return err
	}
	if v := policy.CheckQuota(p.NamespaceQuota, s.obj.Namespace, used, policy.UsageOf(s.desired)); v != nil {
		return outcome.Stall(lxcv1.PolicyViolationReason, "%s", v)
	}
	return nil
}

// namespaceUsage sums what the namespace's containers of a cluster ask for. With before set,
// only those that go first count: the ones already placed, then the older ones, so that of
// two new containers racing for the last of a quota exactly one is created.
func namespaceUsage(ctx context.Context, c client.Reader, cluster, namespace string, before *lxcv1.LXCContainer) (policy.Usage, error) {
	list := &lxcv1.LXCContainerList{}
	if err := c.List(ctx, list, client.InNamespace(namespace), client.MatchingFields{containerClusterIndex: cluster}); err != nil {
		return policy.Usage{}, fmt.Errorf("listing the containers of namespace %s: %w", namespace, err)
	}
	var used policy.Usage
	for i := range list.Items {
		o := &list.Items[i]
		if before != nil && (o.UID == before.UID || !goesFirst(o, before)) {
			continue
		}
		tmpl := &lxcv1.LXCTemplate{}
		if err := c.Get(ctx, types.NamespacedName{Namespace: namespace, Name: o.Spec.TemplateRef.Name}, tmpl); client.IgnoreNotFound(err) != nil {
			return policy.Usage{}, err
		}
		used = used.Add(policy.UsageOf(desired.Sizing(o, tmpl)))
	}
	return used, nil
}

// goesFirst orders containers for the quota: placed ones, then by age, then by name.
func goesFirst(o, than *lxcv1.LXCContainer) bool {
	if o.Status.VMID != 0 {
		return true
	}
	if !o.CreationTimestamp.Equal(&than.CreationTimestamp) {
		return o.CreationTimestamp.Before(&than.CreationTimestamp)
	}
	return o.Name < than.Name
}

// markerless reports whether a Proxmox description carries no owner marker at all: adopting
// such a container takes over something the controller never made.
func markerless(description string) bool {
	for _, line := range strings.Split(description, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), lxcv1.OwnerMarkerPrefix) {
			return false
		}
	}
	return true
}

// checkAdoption stalls the adoption of a container without a marker unless the cluster's
// policy.adoptionNamespaces selects the namespace; nothing is written to the container.
func (r *LXCContainerReconciler) checkAdoption(ctx context.Context, s *containerScope, description string) error {
	if !markerless(description) {
		return nil
	}
	ok, err := namespaceSelected(ctx, r.Client, s.cluster.Spec.Policy.AdoptionNamespaces, s.obj.Namespace)
	if err != nil {
		return err
	}
	if !ok {
		return outcome.Stall(lxcv1.PolicyViolationReason,
			"metadata.annotations[%s]: CT %d carries no owner marker, and namespace %s may not adopt such containers (ProxmoxCluster %s spec.policy.adoptionNamespaces)",
			lxcv1.AdoptAnnotation, s.obj.Status.VMID, s.obj.Namespace, s.cluster.Name)
	}
	return nil
}

// namespaceSelected matches a namespace against a selector where unset or empty selects none.
func namespaceSelected(ctx context.Context, c client.Reader, sel *metav1.LabelSelector, namespace string) (bool, error) {
	if sel == nil || (len(sel.MatchLabels) == 0 && len(sel.MatchExpressions) == 0) {
		return false, nil
	}
	selector, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		return false, outcome.Stall(lxcv1.InvalidSpecReason, "spec.policy.adoptionNamespaces: %v", err)
	}
	ns := &corev1.Namespace{}
	if err := c.Get(ctx, types.NamespacedName{Name: namespace}, ns); err != nil {
		return false, fmt.Errorf("reading namespace %s: %w", namespace, err)
	}
	return selector.Matches(labels.Set(ns.Labels)), nil
}
