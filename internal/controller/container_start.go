package controller

import (
	"context"
	"fmt"
	"time"

	"github.com/fluxcd/pkg/runtime/conditions"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
	"templatemanager.dev/lxc-template-manager/internal/outcome"
)

// shutdownTimeout is how long a container gets to power off cleanly before it is stopped hard.
const shutdownTimeout = 60 * time.Second

// applyClusterSettings converges what Proxmox keeps outside the container's config: its
// firewall, its pool and its HA resource. HA comes last, so that a container HA is to start
// already has the firewall the spec asks for.
func (r *LXCContainerReconciler) applyClusterSettings(ctx context.Context, s *containerScope, v *proxmoxView) error {
	if err := r.applyFirewall(ctx, s); err != nil {
		return err
	}
	var ch settingChanges
	defer r.announceChanges(s, &ch)
	if err := r.applyPool(ctx, s, v, &ch); err != nil {
		return err
	}
	return r.applyHA(ctx, s, &ch)
}

// reconcileStart keeps the container in its powerState, applies resource changes and its
// firewall in place, and finds its IPv4 address: the static one from spec, or the DHCP lease from the interfaces list.
func (r *LXCContainerReconciler) reconcileStart(ctx context.Context, s *containerScope, c created) (started, string, error) {
	out := started{created: c, guest: r.guestLinkFor(s)}
	st := &s.obj.Status
	justStarted, err := r.finishPowerTask(ctx, s, c.view)
	if err != nil {
		return out, "", err
	}

	if err := r.applyConfig(ctx, s, c.view); err != nil {
		return out, "", err
	}
	if err := r.applyClusterSettings(ctx, s, c.view); err != nil {
		return out, "", err
	}

	running, err := r.isRunning(ctx, s, c.view)
	if err != nil {
		return out, "", err
	}
	if s.obj.Spec.PowerState == lxcv1.PowerStateStopped {
		msg, err := r.keepStopped(ctx, s, running)
		return out, msg, err
	}
	if err := r.claimAddress(ctx, s); err != nil {
		return out, "", err
	}
	if !running {
		if justStarted || startedSinceReady(s.obj) {
			// Like a Pod in CrashLoopBackOff: the start succeeded, the guest did not stay up.
			// Starting it again right away would only repeat that, so it counts as a failure.
			return out, "", outcome.Failed(lxcv1.StoppedAfterStartReason, fmt.Errorf(
				"CT %d stopped right after it started: its init died at boot (the container's console log on node %s says why)",
				st.VMID, st.Node))
		}
		upid, err := s.px.StartContainer(ctx, st.Node, int(st.VMID))
		if err != nil {
			return out, "", err
		}
		st.Operation = string(upid)
		if upid != "" {
			bootStarted(s)
		}
		r.forgetGuests(s)
		switch {
		case upid != "" && conditions.IsReady(s.obj):
			// It was running and Ready: someone stopped it behind the controller's back.
			r.Metrics.observeDrift("powerState")
			r.announce(s.obj, stoppedOutside, st.VMID)
		case upid != "":
			r.announce(s.obj, starting, st.VMID)
		}
		return out, "", outcome.Wait(r.taskPoll(), lxcv1.StartingReason, "starting CT %d", st.VMID)
	}
	if err := r.restartOnRequest(ctx, s); err != nil {
		return out, "", err
	}

	addr, err := r.address(ctx, s, c.view)
	if err != nil {
		return out, "", err
	}
	st.IPAddress = addr
	if r.unreached.has(s.obj.UID) {
		// Started or restarted by the controller: Ready means the guest answers at this
		// address, so a fresh connection must reach it first (an application image has no SSH).
		if !s.desired.Application {
			if _, err := out.guest.session(ctx); err != nil {
				return out, "", err
			}
		}
		r.unreached.remove(s.obj.UID)
	}
	return out, fmt.Sprintf("running with address %s", addr), nil
}

// keepStopped shuts a container down whose powerState is Stopped, once no script runs in it,
// and ends the pipeline with errStopped while it is stopped.
func (r *LXCContainerReconciler) keepStopped(ctx context.Context, s *containerScope, running bool) (string, error) {
	st := &s.obj.Status
	r.restartRequestWhileStopped(s)
	if running && s.holdForRun(fmt.Sprintf("shutting CT %d down", st.VMID)) {
		return fmt.Sprintf("running with address %s until the script ends", st.IPAddress), nil
	}
	st.IPAddress = ""
	if !running {
		return "", errStopped
	}
	upid, err := s.px.ShutdownContainer(ctx, st.Node, int(st.VMID), shutdownTimeout, true)
	if err != nil {
		return "", err
	}
	st.Operation = string(upid)
	r.forgetGuests(s)
	return "", outcome.Wait(r.taskPoll(), lxcv1.StartingReason, "shutting CT %d down", st.VMID)
}

// finishPowerTask polls the start, stop, shutdown, resize or reboot task in status.operation.
// When one ends, everything known of the guest's old boot is dropped: the guest list this
// reconcile read, the SSH connection and the moment the address was last read; a guest that
// was started must then be read from its interfaces, and one that was provisioned before reached
// over SSH again. justStarted says a start or reboot ended in this reconcile.
func (r *LXCContainerReconciler) finishPowerTask(ctx context.Context, s *containerScope, view *proxmoxView) (justStarted bool, err error) {
	st := &s.obj.Status
	upid, ok := operationTask(st.Operation, "vzstart", "vzstop", "vzshutdown", "resize", "vzreboot")
	if !ok {
		return false, nil
	}
	done, err := r.pollTask(ctx, s, upid, lxcv1.StartingReason, "changing the power state of CT %d", st.VMID)
	if !done {
		return false, err
	}
	if _, boot := operationTask(string(upid), "vzstart", "vzreboot"); boot {
		r.bootEnded(s, upid, err != nil)
	}
	if err != nil {
		return false, outcome.Failed(lxcv1.TaskFailedReason, err)
	}
	view.guest = nil
	r.forgetGuests(s)
	r.forgetConnection(s.obj)
	r.lastAddress.forget(s.obj.UID)
	_, justStarted = operationTask(string(upid), "vzstart", "vzreboot")
	if justStarted && conditions.IsTrue(s.obj, lxcv1.ConfigManagerDeployedCondition) {
		// The phases after Start may have nothing to do over SSH; until config-manager is
		// deployed, its phase reaches the guest anyway.
		r.unreached.add(s.obj.UID)
	}
	if _, rebooted := operationTask(string(upid), "vzreboot"); rebooted {
		st.RestartPending = nil
	}
	return justStarted, nil
}

// startedSinceReady says the controller started the container and saw it run, and it has not
// been Ready since: a stop now is the guest failing at boot, not a change made from outside.
func startedSinceReady(obj *lxcv1.LXCContainer) bool {
	if conditions.IsReady(obj) {
		return false
	}
	c := conditions.Get(obj, lxcv1.ContainerStartedCondition)
	if c == nil {
		return false
	}
	return c.Status == metav1.ConditionTrue || c.Reason == lxcv1.WaitingForAddressReason
}

// isRunning reads the power state, from the cluster-wide resource list when the create phase
// already looked the container up there.
func (r *LXCContainerReconciler) isRunning(ctx context.Context, s *containerScope, view *proxmoxView) (bool, error) {
	if view.guest != nil {
		return view.guest.Status == "running", nil
	}
	status, err := s.px.ContainerStatus(ctx, s.obj.Status.Node, int(s.obj.Status.VMID))
	if err != nil {
		return false, err
	}
	return status.Running(), nil
}

// forgetGuests drops the cluster's guest list after a power change, so the next look sees it.
func (r *LXCContainerReconciler) forgetGuests(s *containerScope) {
	if r.Guests != nil {
		r.Guests.Forget(s.cluster.Name)
	}
}
