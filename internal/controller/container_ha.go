package controller

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strings"
	"time"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
	"templatemanager.dev/lxc-template-manager/internal/desired"
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
	if st.AppliedHA == key {
		if err := r.awaitHAPlacement(ctx, s); err != nil {
			return err
		}
	}
	if st.AppliedHA == key && !s.requested && r.lastHACheck.fresh(s.obj.UID, key, r.resync()/2) {
		return nil
	}
	fields, err := r.convergeHA(ctx, s, want)
	if err != nil {
		return haError(err, st.VMID)
	}
	ruleFields, err := r.convergeHARule(ctx, s)
	if err != nil {
		return haError(err, st.VMID)
	}
	fields = append(fields, ruleFields...)
	// With the spec unchanged, a change is one made to the HA resource outside the controller.
	ch.add(st.AppliedHA == key, fields...)
	r.lastHACheck.mark(s.obj.UID, key)
	st.AppliedHA = key
	return r.awaitHAPlacement(ctx, s)
}

// awaitHAPlacement keeps the pass waiting while a started container with node affinity runs
// outside its preferred nodes and one of them can take it: the HA stack relocates it there,
// and the controller follows it (status.node) as soon as it has moved, rather than at the
// next resync. When no preferred node is online and out of maintenance, HA leaves it where it
// is, and so does this.
func (r *LXCContainerReconciler) awaitHAPlacement(ctx context.Context, s *containerScope) error {
	st := &s.obj.Status
	pref := s.desired.PreferredHANodes()
	if h, _ := s.desired.HAResource(); len(pref) == 0 || h.State != string(lxcv1.HAStarted) || slices.Contains(pref, st.Node) {
		return nil
	}
	if moved, err := r.followMoved(ctx, s, true); err != nil || moved {
		if err == nil {
			// The next pass looks at the container where it now is.
			err = outcome.Wait(r.taskPoll(), lxcv1.MigratingReason, "HA moved CT %d to %s (spec.ha.nodes)", st.VMID, st.Node)
		}
		return err
	}
	if h, err := s.px.HAResource(ctx, int(st.VMID)); err != nil || h.NoFailback {
		// Without failback HA keeps it where it is; a resource gone is made again at the
		// next check.
		if errors.Is(err, proxmox.ErrNotFound) {
			return nil
		}
		return err
	}
	nodes, err := s.px.Nodes(ctx)
	if err != nil {
		return err
	}
	maintenance, err := maintenanceNodes(ctx, s.px)
	if err != nil {
		return err
	}
	for _, n := range nodes {
		if n.Online() && slices.Contains(pref, n.Name) && !slices.Contains(maintenance, n.Name) {
			return outcome.Wait(r.taskPoll(), lxcv1.MigratingReason, "HA is to move CT %d from %s to %s (spec.ha.nodes)", st.VMID, st.Node, strings.Join(pref, " or "))
		}
	}
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

// convergeHARule keeps the node-affinity rule lxctm-VMID as spec.ha.nodes and strict say: made,
// set back when it was changed or disabled, deleted when the spec no longer has nodes (a rule
// the controller never made is left alone). It returns the spec fields changed.
func (r *LXCContainerReconciler) convergeHARule(ctx context.Context, s *containerScope) ([]string, error) {
	vmid := int(s.obj.Status.VMID)
	want, ok := s.desired.HARule(vmid)
	if !ok {
		if !desired.HATextHasRule(s.obj.Status.AppliedHA) {
			return nil, nil
		}
		return []string{"ha.nodes (removed)"}, s.px.DeleteHARule(ctx, desired.HARuleID(vmid))
	}
	have, err := s.px.HARule(ctx, want.ID)
	if errors.Is(err, proxmox.ErrNotFound) {
		err = s.px.CreateHARule(ctx, want)
		if err != nil && strings.Contains(err.Error(), "already defined") {
			err = proxmox.ErrConflict
		}
		return []string{"ha.nodes"}, ruleError(err, vmid)
	}
	if err != nil {
		return nil, err
	}
	var fields []string
	if !maps.Equal(have.Nodes, want.Nodes) || have.Disabled || !slices.Equal(have.Resources, want.Resources) {
		fields = append(fields, "ha.nodes")
	}
	if have.Strict != want.Strict {
		fields = append(fields, "ha.strict")
	}
	if len(fields) == 0 {
		return nil, nil
	}
	want.Digest = have.Digest
	return fields, ruleError(s.px.UpdateHARule(ctx, want), vmid)
}

// ruleError makes a rule Proxmox finds infeasible (the container is already in another
// node-affinity rule, one the controller did not make) a stall naming spec.ha.nodes.
func ruleError(err error, vmid int) error {
	var pe *proxmox.Error
	if errors.Is(err, proxmox.ErrBadRequest) && errors.As(err, &pe) && strings.Contains(pe.Params["resources"], "another node affinity rule") {
		return outcome.Stall(lxcv1.ConfigConflictReason,
			"spec.ha.nodes: CT %d is already in another node-affinity rule of the HA stack; remove it from that rule, then change the spec or request a reconcile", vmid)
	}
	return err
}

// removeHA deletes the HA resource the controller made once spec.ha is gone; a resource it
// never made is left alone.
func (r *LXCContainerReconciler) removeHA(ctx context.Context, s *containerScope, ch *settingChanges) error {
	st := &s.obj.Status
	if st.AppliedHA == "" {
		return nil
	}
	if desired.HATextHasRule(st.AppliedHA) {
		// Deleting the resource purges it from its rules too; the rule goes first all the same,
		// so that nothing is left if the resource was already gone.
		if err := s.px.DeleteHARule(ctx, desired.HARuleID(int(st.VMID))); err != nil {
			return err
		}
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
