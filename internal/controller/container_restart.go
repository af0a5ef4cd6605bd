package controller

import (
	"context"
	"slices"
	"strings"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
	"templatemanager.dev/lxc-template-manager/internal/outcome"
)

// restartForPending restarts a running container whose settings written by the controller
// Proxmox keeps pending (pending lists what it keeps pending now), so that the start applies
// them. Settings someone else left pending (an admin's tty change) restart nothing: they wait
// for a start that happens anyway. The container is restarted at most once for a generation
// and its settings: what is still pending after that restart failed to apply at the start
// (Proxmox keeps an entry pending when applying it fails, vmconfig_apply_pending), and another
// restart would fail the same way, so it stalls with PendingNotApplied naming the settings.
func (r *LXCContainerReconciler) restartForPending(ctx context.Context, s *containerScope, pending []string, running bool, want string) error {
	st := &s.obj.Status
	st.PendingWritten = slices.DeleteFunc(st.PendingWritten, func(k string) bool { return !slices.Contains(pending, k) })
	if !running {
		st.RestartPending = nil // a start applies them
		st.AppliedConfigHash = want
		return nil
	}
	for _, k := range st.PendingWritten {
		if !slices.Contains(st.RestartPending, k) {
			st.RestartPending = append(st.RestartPending, k)
		}
	}
	if len(st.RestartPending) == 0 || s.obj.Spec.PowerState == lxcv1.PowerStateStopped {
		st.AppliedConfigHash = want
		return nil
	}
	slices.Sort(st.RestartPending)
	settings := strings.Join(st.RestartPending, ", ")
	if done := st.RestartedFor; done != nil && !s.requested && done.Generation == s.obj.Generation &&
		!slices.ContainsFunc(st.RestartPending, func(k string) bool { return !slices.Contains(done.Settings, k) }) {
		return outcome.Stall(lxcv1.PendingNotAppliedReason,
			"CT %d was restarted to apply %s, and Proxmox still keeps them pending: applying them at the start failed (the start task's log on node %s says why); it is not restarted again for them",
			st.VMID, settings, st.Node)
	}
	upid, err := s.px.RebootContainer(ctx, st.Node, int(st.VMID), shutdownTimeout)
	if err != nil {
		return err
	}
	st.Operation = string(upid)
	done := &lxcv1.PendingRestart{Generation: s.obj.Generation}
	if prev := st.RestartedFor; prev != nil && prev.Generation == s.obj.Generation {
		done.Settings = slices.Clone(prev.Settings)
	}
	for _, k := range st.RestartPending {
		if !slices.Contains(done.Settings, k) {
			done.Settings = append(done.Settings, k)
		}
	}
	slices.Sort(done.Settings)
	st.RestartedFor = done
	r.forgetGuests(s)
	r.announce(s.obj, restarting, st.VMID, settings)
	return outcome.Wait(r.taskPoll(), lxcv1.RestartingReason, "restarting CT %d to apply %s", st.VMID, settings)
}
