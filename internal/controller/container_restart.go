package controller

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
	"templatemanager.dev/lxc-template-manager/internal/outcome"
	"templatemanager.dev/lxc-template-manager/internal/proxmox"
)

// restartForPending restarts a running container whose settings written by the controller
// Proxmox keeps pending (pending lists what it keeps pending now), so that the start applies
// them. Settings someone else left pending (an admin's tty change) restart nothing: they wait
// for a start that happens anyway. The container is restarted at most once for a generation
// and its settings: what is still pending after that restart failed to apply at the start
// (Proxmox keeps an entry pending when applying it fails, vmconfig_apply_pending), and another
// restart would fail the same way, so it stalls with PendingNotApplied naming the settings,
// until the spec changes or a reconcile or a restart is requested.
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
	_, restartRequested := restartRequest(s.obj)
	if done := st.RestartedFor; done != nil && !s.requested && !restartRequested && done.Generation == s.obj.Generation &&
		!slices.ContainsFunc(st.RestartPending, func(k string) bool { return !slices.Contains(done.Settings, k) }) {
		return outcome.Stall(lxcv1.PendingNotAppliedReason,
			"CT %d was restarted to apply %s, and Proxmox still keeps them pending: applying them at the start failed (the start task's log on node %s says why); it is not restarted again for them",
			st.VMID, settings, st.Node)
	}
	if err := r.reboot(ctx, s); err != nil {
		return err
	}
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
	r.announce(s.obj, restarting, st.VMID, settings)
	return outcome.Wait(r.taskPoll(), lxcv1.RestartingReason, "restarting CT %d to apply %s", st.VMID, settings)
}

// restartOnRequest restarts the running container once for each new value of its
// restart-requested-at annotation. The reboot goes the way of every restart the controller makes
// (reboot): finishPowerTask follows the task, records the request as handled with a Restarted
// Event, and the guest must answer a fresh, identity-checked SSH connection before the container
// is Ready again. A script running in the guest is not killed: the restart waits for it.
func (r *LXCContainerReconciler) restartOnRequest(ctx context.Context, s *containerScope) error {
	request, ok := restartRequest(s.obj)
	if !ok {
		return nil
	}
	st := &s.obj.Status
	if s.holdForRun(fmt.Sprintf("restarting CT %d as requested (%s)", st.VMID, request)) {
		return nil
	}
	if err := r.reboot(ctx, s); err != nil {
		return err
	}
	r.announce(s.obj, restartingOnRequest, st.VMID, lxcv1.RestartRequestAnnotation, request)
	return outcome.Wait(r.taskPoll(), lxcv1.RestartingReason, "restarting CT %d as annotation %s=%q asks", st.VMID, lxcv1.RestartRequestAnnotation, request)
}

// restartRequestWhileStopped records a restart request of a container whose spec.powerState is
// Stopped as handled: it is not started for it.
func (r *LXCContainerReconciler) restartRequestWhileStopped(s *containerScope) {
	request, ok := restartRequest(s.obj)
	if !ok {
		return
	}
	s.obj.Status.LastHandledRestartAt = request
	r.announce(s.obj, notRestartedStopped, s.obj.Status.VMID, lxcv1.RestartRequestAnnotation, request)
}

// reboot restarts the running container with one reboot task, recorded in status.operation
// and followed to its end by finishPowerTask. A restart request not handled yet is met by this
// reboot too, whatever else it is for (see bootStarted).
func (r *LXCContainerReconciler) reboot(ctx context.Context, s *containerScope) error {
	st := &s.obj.Status
	upid, err := s.px.RebootContainer(ctx, st.Node, int(st.VMID), shutdownTimeout)
	if errors.Is(err, proxmox.ErrNotRunning) {
		// It stopped since it was seen running: the next look starts it, which is a boot too.
		r.forgetGuests(s)
		return outcome.Wait(r.taskPoll(), lxcv1.StartingReason, "CT %d stopped before it could be restarted", st.VMID)
	}
	if err != nil {
		return err
	}
	st.Operation = string(upid)
	bootStarted(s)
	r.forgetGuests(s)
	return nil
}

// restartRequest returns the value of the restart-requested-at annotation, and whether it asks
// for a restart not handled yet.
func restartRequest(obj *lxcv1.LXCContainer) (string, bool) {
	v := obj.Annotations[lxcv1.RestartRequestAnnotation]
	return v, v != "" && v != obj.Status.LastHandledRestartAt
}

// bootStarted notes, as a reboot or start task begins, the restart request it meets: the guest
// boots after the request was made, so no second restart is due for it.
func bootStarted(s *containerScope) {
	s.obj.Status.RestartRequestInFlight = ""
	if request, ok := restartRequest(s.obj); ok {
		s.obj.Status.RestartRequestInFlight = request
	}
}

// bootEnded settles the restart request a reboot or start task met, when the task ended:
// handled, with a Restarted Event, when the task succeeded; otherwise it stays asked for and is
// tried again with the failure's back-off.
func (r *LXCContainerReconciler) bootEnded(s *containerScope, upid proxmox.UPID, failed bool) {
	st := &s.obj.Status
	request := st.RestartRequestInFlight
	st.RestartRequestInFlight = ""
	if request == "" || failed {
		return
	}
	st.LastHandledRestartAt = request
	if _, rebooted := operationTask(string(upid), "vzreboot"); rebooted {
		r.announce(s.obj, restartedOnRequest, st.VMID, lxcv1.RestartRequestAnnotation, request, upid)
		return
	}
	r.announce(s.obj, startedOnRequest, st.VMID, lxcv1.RestartRequestAnnotation, request, upid)
}
