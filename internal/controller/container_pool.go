package controller

import (
	"context"
	"errors"
	"slices"
	"strings"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
	"templatemanager.dev/lxc-template-manager/internal/outcome"
	"templatemanager.dev/lxc-template-manager/internal/proxmox"
)

// applyPool keeps the container in the pool spec.pool names. The pool it is in comes with the
// cluster-wide resource list; the pool's members are read besides once per resync (and at
// every change of the spec or requested reconcile), since that list may be older. A container
// taken out of its pool, or moved to another, is put back and announced. A changed spec.pool
// moves the container (leaving the old pool); a removed one takes it out of the pool the
// controller put it in. The pool itself is the cluster administrator's: a missing one stalls.
func (r *LXCContainerReconciler) applyPool(ctx context.Context, s *containerScope, v *proxmoxView, ch *settingChanges) error {
	st := &s.obj.Status
	want := s.desired.Pool
	have, known := "", v != nil && v.guest != nil
	if known {
		have = v.guest.Pool
	}
	if want == "" {
		r.lastPoolCheck.forget(s.obj.UID)
		return r.leavePool(ctx, s, ch)
	}
	if (!known || have == want) && st.Pool == want && !s.requested && r.lastPoolCheck.fresh(s.obj.UID, want, r.resync()/2) {
		return nil
	}
	member, err := r.inPool(ctx, s, want)
	if err != nil || member {
		st.Pool = want
		r.lastPoolCheck.mark(s.obj.UID, want)
		return err
	}
	if err := s.px.AddToPool(ctx, want, int(st.VMID)); err != nil && !alreadyMember(err) {
		return err
	}
	ch.add(st.Pool == want, "pool")
	st.Pool = want
	r.lastPoolCheck.mark(s.obj.UID, want)
	return nil
}

// inPool reports whether the container is a member of the pool, stalling when the pool does
// not exist.
func (r *LXCContainerReconciler) inPool(ctx context.Context, s *containerScope, pool string) (bool, error) {
	vmids, ok, err := s.px.PoolMembers(ctx, pool)
	if err != nil {
		return false, err
	}
	if !ok {
		return false, missingPool(pool)
	}
	return slices.Contains(vmids, int(s.obj.Status.VMID)), nil
}

func missingPool(pool string) error {
	return outcome.Stall(lxcv1.DependencyNotReadyReason,
		"spec.pool: Proxmox pool %q does not exist; create it (pveum pool add %s) or change spec.pool", pool, pool)
}

// checkPool stalls on a spec.pool that names no pool: Proxmox would refuse the create or
// the membership, and only the cluster administrator (or a changed spec) can fix that.
func (r *LXCContainerReconciler) checkPool(ctx context.Context, s *containerScope) error {
	want := s.desired.Pool
	if want == "" {
		return nil
	}
	_, ok, err := s.px.PoolMembers(ctx, want)
	if err == nil && !ok {
		err = missingPool(want)
	}
	return err
}

// leavePool takes the container out of the pool the controller put it in; if someone since
// moved it to another pool, Proxmox answers that it is no member, and it stays where it is.
func (r *LXCContainerReconciler) leavePool(ctx context.Context, s *containerScope, ch *settingChanges) error {
	st := &s.obj.Status
	if st.Pool == "" {
		return nil
	}
	err := s.px.RemoveFromPool(ctx, st.Pool, int(st.VMID))
	switch {
	case err == nil:
		ch.add(false, "pool (removed)")
	case !errors.Is(err, proxmox.ErrNotFound) && !notMember(err):
		return err
	}
	st.Pool = ""
	return nil
}

// alreadyMember is Pool.pm's answer to adding a guest that is in the pool: the goal is met.
func alreadyMember(err error) bool { return strings.Contains(err.Error(), "is already a pool member") }

// notMember is Pool.pm's answer to removing a guest that is not in the pool.
func notMember(err error) bool { return strings.Contains(err.Error(), "is not a pool member") }
