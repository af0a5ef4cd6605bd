package controller

import (
	"context"
	"errors"
	"fmt"
	"slices"

	ctrl "sigs.k8s.io/controller-runtime"

	"templatemanager.dev/lxc-template-manager/internal/placement"
	"templatemanager.dev/lxc-template-manager/internal/proxmox"
)

// place picks the node and the VMID of a new container.
func (r *LXCContainerReconciler) place(ctx context.Context, s *containerScope) error {
	nodes, err := s.px.Nodes(ctx)
	if err != nil {
		return err
	}
	if node, ok, err := r.nodeOfVMID(ctx, s); err != nil || ok {
		// A container that already exists at the requested VMID (one to adopt, or one found by
		// its marker after a restore) is where it is.
		if err == nil {
			s.obj.Status.Node, s.obj.Status.VMID = node, *s.obj.Spec.VMID
		}
		return err
	}
	wanted, err := r.restoreNode(ctx, s)
	if err != nil {
		return err
	}
	maintenance, err := maintenanceNodes(ctx, s.px)
	if err != nil {
		return err
	}
	refusals, err := r.placementRefusals(ctx, s, nodes, maintenance)
	if err != nil {
		return err
	}
	if allowed := s.cluster.Spec.Policy.Nodes; len(allowed) > 0 {
		if refusals == nil {
			refusals = map[string]string{}
		}
		for _, n := range nodes {
			if !slices.Contains(allowed, n.Name) {
				refusals[n.Name] = "not in the ProxmoxCluster's spec.policy.nodes"
			}
		}
	}
	if wanted == "" {
		// With node affinity the container is made where the HA stack wants it to run, so
		// that it is not relocated right after its first start.
		wanted = preferredHANode(s, nodes, maintenance, refusals)
	}
	node, err := placement.PickNode(nodes, wanted, maintenance, refusals)
	if err != nil {
		return err
	}
	vmid := 0
	if s.obj.Spec.VMID != nil {
		vmid = int(*s.obj.Spec.VMID)
	} else {
		vmid, err = r.vmids.Allocate(ctx, s.cluster.Name, s.px)
		if err != nil {
			return err
		}
	}
	s.obj.Status.Node = node
	s.obj.Status.VMID = int32(vmid)
	return nil
}

// nodeOfVMID finds the node of an existing container at spec.vmid, from the cluster-wide list.
func (r *LXCContainerReconciler) nodeOfVMID(ctx context.Context, s *containerScope) (string, bool, error) {
	if s.obj.Spec.VMID == nil {
		return "", false, nil
	}
	guests, err := s.px.Guests(ctx)
	if err != nil {
		return "", false, err
	}
	for _, g := range guests {
		if g.VMID == int(*s.obj.Spec.VMID) && (s.obj.Spec.Node == "" || g.Node == s.obj.Spec.Node) {
			return g.Node, true, nil
		}
	}
	return "", false, nil
}

// maintenanceNodes lists the nodes HA has in maintenance mode. A token that may not read the
// HA status (it needs Sys.Audit on /) places as if no node were in maintenance, as before the
// controller asked.
func maintenanceNodes(ctx context.Context, px proxmox.Client) ([]string, error) {
	nodes, err := px.MaintenanceNodes(ctx)
	if errors.Is(err, proxmox.ErrPermission) {
		ctrl.LoggerFrom(ctx).V(1).Info("Cannot read the HA status; placing without regard to maintenance", "error", err)
		return nil, nil
	}
	return nodes, err
}

// placementRefusals says, for each online node that cannot take the container, why: the
// storage for its root disk is missing, inactive or too full, the OS template is not on the
// node, or the node lacks the memory. Nodes in maintenance are not asked: they take nothing.
func (r *LXCContainerReconciler) placementRefusals(ctx context.Context, s *containerScope, nodes []proxmox.Node, maintenance []string) (map[string]string, error) {
	d := s.desired
	refusals := map[string]string{}
	for _, n := range nodes {
		if !n.Online() || slices.Contains(maintenance, n.Name) {
			continue
		}
		if need := uint64(d.MemoryMiB) << 20; n.MaxMemory > 0 && n.FreeMemory < need {
			refusals[n.Name] = fmt.Sprintf("%d MiB of memory free, the container needs %d MiB", n.FreeMemory>>20, d.MemoryMiB)
			continue
		}
		storages, err := s.px.Storages(ctx, n.Name)
		if err != nil {
			return nil, err
		}
		if why := placement.StorageRefusal(storages, d.Storage, "rootdir", uint64(d.DiskGiB)<<30); why != "" {
			refusals[n.Name] = why
			continue
		}
		if s.obj.Spec.RestoreFrom != nil {
			continue // made from an archive, not from the OS template
		}
		if why := placement.OSTemplateRefusal(d.OSTemplate, s.cluster.Status.Templates, n.Name, storages); why != "" {
			refusals[n.Name] = why
		}
	}
	return refusals, nil
}

// preferredHANode is the node among the highest-priority nodes of spec.ha.nodes that
// placement would pick, "" when there is no node affinity or none of them can take the
// container.
func preferredHANode(s *containerScope, nodes []proxmox.Node, maintenance []string, refusals map[string]string) string {
	pref := s.desired.PreferredHANodes()
	if len(pref) == 0 {
		return ""
	}
	sub := slices.DeleteFunc(slices.Clone(nodes), func(n proxmox.Node) bool { return !slices.Contains(pref, n.Name) })
	node, err := placement.PickNode(sub, "", maintenance, refusals)
	if err != nil {
		return ""
	}
	return node
}
