package controller

import (
	"context"
	"errors"
	"strings"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
	"templatemanager.dev/lxc-template-manager/internal/outcome"
	"templatemanager.dev/lxc-template-manager/internal/proxmox"
)

// applyPool keeps the container in the pool spec.pool names. The pool it is in comes with the
// cluster-wide resource list every resync reads, so drift costs no extra request: a container
// taken out of its pool, or moved to another, is put back and announced. A changed spec.pool
// moves the container (leaving the old pool); a removed one takes it out of the pool the
// controller put it in. The pool itself is the cluster administrator's: a missing one stalls.
func (r *LXCContainerReconciler) applyPool(ctx context.Context, s *containerScope, v *proxmoxView) error {
	st := &s.obj.Status
	want := s.desired.Pool
	have, known := "", v != nil && v.guest != nil
	if known {
		have = v.guest.Pool
	}
	switch {
	case want == "":
		return r.leavePool(ctx, s, have, known)
	case known && have == want, !known && st.Pool == want:
		st.Pool = want
		return nil
	}
	if err := r.checkPool(ctx, s); err != nil {
		return err
	}
	if err := s.px.AddToPool(ctx, want, int(st.VMID)); err != nil && !alreadyMember(err) {
		return err
	}
	if st.Pool == want {
		r.Metrics.observeDrift("pool")
		r.announce(s.obj, changedOutside, st.VMID, "pool")
	} else {
		r.announce(s.obj, configUpdated, "pool", st.VMID)
	}
	st.Pool = want
	return nil
}

// checkPool stalls on a spec.pool that names no pool: Proxmox would refuse the create or
// the membership, and only the cluster administrator (or a changed spec) can fix that.
func (r *LXCContainerReconciler) checkPool(ctx context.Context, s *containerScope) error {
	want := s.desired.Pool
	if want == "" {
		return nil
	}
	ok, err := s.px.PoolExists(ctx, want)
	if err != nil {
		return err
	}
	if !ok {
		return outcome.Stall(lxcv1.DependencyNotReadyReason,
			"spec.pool: Proxmox pool %q does not exist; create it (pveum pool add %s) or change spec.pool", want, want)
	}
	return nil
}

// leavePool takes the container out of the pool the controller put it in, unless someone
// since moved it elsewhere.
func (r *LXCContainerReconciler) leavePool(ctx context.Context, s *containerScope, have string, known bool) error {
	st := &s.obj.Status
	if st.Pool == "" {
		return nil
	}
	if !known || have == st.Pool {
		err := s.px.RemoveFromPool(ctx, st.Pool, int(st.VMID))
		if err != nil && !errors.Is(err, proxmox.ErrNotFound) && !notMember(err) {
			return err
		}
		r.announce(s.obj, configUpdated, "pool (removed)", st.VMID)
	}
	st.Pool = ""
	return nil
}

// alreadyMember is Pool.pm's answer to adding a guest that is in the pool: the goal is met.
func alreadyMember(err error) bool { return strings.Contains(err.Error(), "is already a pool member") }

// notMember is Pool.pm's answer to removing a guest that is not in the pool.
func notMember(err error) bool { return strings.Contains(err.Error(), "is not a pool member") }
