package controller

import (
	"context"
	"errors"

	"templatemanager.dev/lxc-template-manager/internal/proxmox"
)

// followMoved finds the container in the cluster-wide list and, when it is on another node
// than status.node and carries this object's marker there, moves status.node to that node and
// announces Moved: HA relocated it, or someone migrated it. A container elsewhere without our
// marker is not followed. fresh reads the list again instead of taking the cached one; callers
// that just missed the container at status.node ask for it. It reports whether it followed.
func (r *LXCContainerReconciler) followMoved(ctx context.Context, s *containerScope, fresh bool) (bool, error) {
	st := &s.obj.Status
	if st.VMID == 0 || (!fresh && r.Guests == nil) {
		// Without a GuestCache only a caller that missed the container pays for the list.
		return false, nil
	}
	g, ok, err := r.clusterGuest(ctx, s, fresh)
	if err != nil || !ok || g.Node == "" || g.Node == st.Node {
		return false, err
	}
	cfg, err := s.px.ContainerConfig(ctx, g.Node, int(st.VMID))
	switch {
	case errors.Is(err, proxmox.ErrNotFound):
		// Gone from there too since the list was read; the next pass looks again.
		return false, nil
	case err != nil:
		return false, err
	}
	if !ownedBy(cfg.Description, s.obj) {
		return false, nil
	}
	r.announce(s.obj, moved, st.VMID, st.Node, g.Node)
	st.Node = g.Node
	return true, nil
}

// clusterGuest is the container at status.vmid in the cluster-wide resource list, through the
// GuestCache when there is one.
func (r *LXCContainerReconciler) clusterGuest(ctx context.Context, s *containerScope, fresh bool) (proxmox.Guest, bool, error) {
	vmid := int(s.obj.Status.VMID)
	if r.Guests != nil {
		if fresh {
			r.Guests.Forget(s.cluster.Name)
		}
		return r.Guests.Lookup(ctx, s.cluster.Name, s.px, vmid)
	}
	guests, err := s.px.Guests(ctx)
	if err != nil {
		return proxmox.Guest{}, false, err
	}
	for _, g := range guests {
		if g.IsContainer() && g.VMID == vmid {
			return g, true, nil
		}
	}
	return proxmox.Guest{}, false, nil
}

// configWherever reads the container's config at status.node and, when it is not there,
// follows it to the node the fresh cluster-wide list shows it on before concluding it is gone.
func (r *LXCContainerReconciler) configWherever(ctx context.Context, s *containerScope) (proxmox.ContainerConfig, error) {
	st := &s.obj.Status
	cfg, err := s.px.ContainerConfig(ctx, st.Node, int(st.VMID))
	if !errors.Is(err, proxmox.ErrNotFound) {
		return cfg, err
	}
	moved, ferr := r.followMoved(ctx, s, true)
	if ferr != nil {
		return cfg, ferr
	}
	if !moved {
		return cfg, err
	}
	return s.px.ContainerConfig(ctx, st.Node, int(st.VMID))
}
