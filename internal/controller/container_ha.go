package controller

import (
	"context"
	"errors"
	"strings"
	"time"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
	"templatemanager.dev/lxc-template-manager/internal/outcome"
	"templatemanager.dev/lxc-template-manager/internal/proxmox"
)

// applyHA keeps the container's HA resource (ct:VMID) as spec.ha says: made with its state and
// limits, changed when they differ. It is read once per resync (and at every change of the spec
// or requested reconcile); a resource deleted or changed in Proxmox is set back and announced as
// drift. When spec.ha goes away, the resource the controller made is removed: HA then no longer
// restarts or recovers the container, whose power stays as powerState says.
func (r *LXCContainerReconciler) applyHA(ctx context.Context, s *containerScope, ch *settingChanges) error {
	st := &s.obj.Status
	want, ok := s.desired.HAResource()
	key := s.desired.HAStateText()
	if !ok {
		return r.removeHA(ctx, s, ch)
	}
	if st.AppliedHA == key && !s.requested && r.lastHACheck.fresh(s.obj.UID, key, r.resync()/2) {
		return nil
	}
	fields, err := r.convergeHA(ctx, s, want)
	if err != nil {
		return haError(err, st.VMID)
	}
	// With the spec unchanged, a change is one made to the HA resource outside the controller.
	ch.add(st.AppliedHA == key, fields...)
	r.lastHACheck.mark(s.obj.UID, key)
	st.AppliedHA = key
	return nil
}

// convergeHA makes or updates the HA resource; it returns the spec fields changed.
func (r *LXCContainerReconciler) convergeHA(ctx context.Context, s *containerScope, want proxmox.HAResource) ([]string, error) {
	vmid := int(s.obj.Status.VMID)
	have, err := s.px.HAResource(ctx, vmid)
	if errors.Is(err, proxmox.ErrNotFound) {
		err = s.px.CreateHAResource(ctx, vmid, want)
		if err != nil && strings.Contains(err.Error(), "already defined") {
			// Made meanwhile (by a create whose answer was lost, or by someone else): read again.
			err = proxmox.ErrConflict
		}
		return []string{"ha"}, err
	}
	if err != nil {
		return nil, err
	}
	var fields []string
	if have.State != want.State {
		fields = append(fields, "ha.state")
	}
	if !sameLimit(have.MaxRestart, want.MaxRestart) {
		fields = append(fields, "ha.maxRestart")
	}
	if !sameLimit(have.MaxRelocate, want.MaxRelocate) {
		fields = append(fields, "ha.maxRelocate")
	}
	if len(fields) == 0 {
		return nil, nil
	}
	want.Digest = have.Digest
	return fields, s.px.UpdateHAResource(ctx, vmid, want)
}

// removeHA deletes the HA resource the controller made once spec.ha is gone; a resource it
// never made is left alone.
func (r *LXCContainerReconciler) removeHA(ctx context.Context, s *containerScope, ch *settingChanges) error {
	st := &s.obj.Status
	if st.AppliedHA == "" {
		return nil
	}
	err := s.px.DeleteHAResource(ctx, int(st.VMID))
	if err != nil && !errors.Is(err, proxmox.ErrNotFound) {
		return err
	}
	r.lastHACheck.forget(s.obj.UID)
	st.AppliedHA = ""
	ch.add(false, "ha (removed)")
	return nil
}

func sameLimit(a, b *int) bool {
	return (a == nil && b == nil) || (a != nil && b != nil && *a == *b)
}

// haError makes a concurrent change of the HA resources a short wait: they are read again.
func haError(err error, vmid int32) error {
	if errors.Is(err, proxmox.ErrConflict) {
		return outcome.Wait(time.Second, lxcv1.ConfigConflictReason,
			"the HA resources changed while CT %d's was being set; reading them again", vmid)
	}
	return err
}
