package controller

import (
	"context"

	"github.com/fluxcd/pkg/runtime/conditions"
	"sigs.k8s.io/controller-runtime/pkg/client"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
	"templatemanager.dev/lxc-template-manager/internal/outcome"
)

// claimAddress refuses a static address that another LXCContainer of the cluster holds: one that
// was reached at it (status.ipAddress) and is not itself refused for it. Such a container is not
// started, or, when it already runs, not reached, so the holder is left undisturbed and nothing
// of either crosses to the other. Of two that hold one address, the older keeps it. A machine at
// the address that no LXCContainer knows is found by the identity check of each connection.
func (r *LXCContainerReconciler) claimAddress(ctx context.Context, s *containerScope) error {
	if s.desired.DHCP() {
		return nil
	}
	addr := s.desired.StaticAddress()
	list := &lxcv1.LXCContainerList{}
	if err := r.List(ctx, list, client.MatchingFields{containerClusterIndex: s.cluster.Name}, client.UnsafeDisableDeepCopy); err != nil {
		return err
	}
	for i := range list.Items {
		o := &list.Items[i]
		if o.UID == s.obj.UID || o.Status.IPAddress != addr || conditions.GetReason(o, lxcv1.StalledCondition) == lxcv1.AddressConflictReason {
			continue
		}
		if s.obj.Status.IPAddress == addr && olderThan(s.obj, o) {
			continue
		}
		s.obj.Status.IPAddress = ""
		return outcome.Stall(lxcv1.AddressConflictReason,
			"spec.network.ipv4: the static address %s is held by LXCContainer %s/%s (CT %d); CT %d is not started or reached at it until that one lets it go",
			addr, o.Namespace, o.Name, o.Status.VMID, s.obj.Status.VMID)
	}
	return nil
}

// olderThan orders two containers by creation, then by namespace and name.
func olderThan(a, b *lxcv1.LXCContainer) bool {
	if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
		return a.CreationTimestamp.Before(&b.CreationTimestamp)
	}
	return a.Namespace+"/"+a.Name < b.Namespace+"/"+b.Name
}
