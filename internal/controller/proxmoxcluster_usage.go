package controller

import (
	"context"
	"fmt"
	"sort"

	"sigs.k8s.io/controller-runtime/pkg/client"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
)

// recordUsage writes what each namespace's containers ask of the cluster into
// status.namespaceUsage, where the admission policy reads it to refuse a container over the
// namespace quota. It is as fresh as the last sync (and a container's deletion); the reconcile
// check counts afresh.
func (r *ProxmoxClusterReconciler) recordUsage(ctx context.Context, cluster *lxcv1.ProxmoxCluster) error {
	list := &lxcv1.LXCContainerList{}
	if err := r.List(ctx, list, client.MatchingFields{containerClusterIndex: cluster.Name}); err != nil {
		return fmt.Errorf("listing the cluster's containers: %w", err)
	}
	namespaces := map[string]bool{}
	for _, c := range list.Items {
		namespaces[c.Namespace] = true
	}
	usage := make([]lxcv1.NamespaceUsage, 0, len(namespaces))
	for ns := range namespaces {
		u, err := namespaceUsage(ctx, r.Client, cluster.Name, ns, nil)
		if err != nil {
			return err
		}
		usage = append(usage, lxcv1.NamespaceUsage{Namespace: ns, Containers: u.Containers, Cores: u.Cores, MemoryMiB: u.MemoryMiB, DiskGiB: u.DiskGiB})
	}
	sort.Slice(usage, func(i, j int) bool { return usage[i].Namespace < usage[j].Namespace })
	cluster.Status.NamespaceUsage = usage
	return nil
}
