package controller

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	"github.com/fluxcd/pkg/runtime/conditions"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
	"templatemanager.dev/lxc-template-manager/internal/outcome"
	"templatemanager.dev/lxc-template-manager/internal/proxmox"
)

// shutdownTimeout is how long a container gets to power off cleanly before it is stopped hard.
const shutdownTimeout = 60 * time.Second

// reconcileStart keeps the container in its powerState, applies resource changes in place, and
// finds its IPv4 address: the static one from spec, or the DHCP lease from the interfaces list.
func (r *LXCContainerReconciler) reconcileStart(ctx context.Context, s *containerScope, c created) (started, string, error) {
	out := started{created: c, guest: r.guestLinkFor(s, c.view)}
	st := &s.obj.Status
	justStarted := false
	if upid, ok := operationTask(st.Operation, "vzstart", "vzstop", "vzshutdown", "resize", "vzreboot"); ok {
		done, err := r.pollTask(ctx, s, upid, lxcv1.StartingReason, "changing the power state of CT %d", st.VMID)
		if !done {
			return out, "", err
		}
		if err != nil {
			return out, "", outcome.Failed(lxcv1.TaskFailedReason, err)
		}
		// The guest list this reconcile read predates the task: ask the container itself. A
		// connection to the guest from before the task is gone with the guest's old boot.
		c.view.guest = nil
		r.forgetConnection(s.obj)
		_, isStart := operationTask(string(upid), "vzstart", "vzreboot")
		justStarted = isStart
		if _, rebooted := operationTask(string(upid), "vzreboot"); rebooted {
			st.RestartPending = nil
		}
	}

	if err := r.applyConfig(ctx, s, c.view); err != nil {
		return out, "", err
	}

	running, err := r.isRunning(ctx, s, c.view)
	if err != nil {
		return out, "", err
	}
	if s.obj.Spec.PowerState == lxcv1.PowerStateStopped {
		st.IPAddress = ""
		if !running {
			return out, "", errStopped
		}
		upid, err := s.px.ShutdownContainer(ctx, st.Node, int(st.VMID), shutdownTimeout, true)
		if err != nil {
			return out, "", err
		}
		st.Operation = string(upid)
		r.forgetGuests(s)
		return out, "", outcome.Wait(r.taskPoll(), lxcv1.StartingReason, "shutting CT %d down", st.VMID)
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

	addr, err := r.address(ctx, s, c.view)
	if err != nil {
		return out, "", err
	}
	st.IPAddress = addr
	return out, fmt.Sprintf("running with address %s", addr), nil
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

// address returns eth0's IPv4 address.
func (r *LXCContainerReconciler) address(ctx context.Context, s *containerScope, view *proxmoxView) (string, error) {
	if !s.desired.DHCP() {
		return s.desired.StaticAddress(), nil
	}
	uid, known := s.obj.UID, s.obj.Status.IPAddress
	if view.guest != nil && known != "" && r.lastAddress.fresh(uid, known, r.fullCheck()) && !restartedSince(view.guest, r.lastAddress.age(uid)) {
		// A running container keeps its lease: its interfaces are read again when the bulk list
		// shows it restarted, when SSH to the address fails, and with its full check.
		return known, nil
	}
	ifaces, err := s.px.ContainerInterfaces(ctx, s.obj.Status.Node, int(s.obj.Status.VMID))
	if err != nil {
		return "", err
	}
	if addr, ok := eth0IPv4(ifaces); ok {
		if known != "" && known != addr.String() {
			// The DHCP server moved the lease: services' URLs follow at the next discovery.
			r.announce(s.obj, addressChanged, s.obj.Status.VMID, known, addr)
		}
		r.lastAddress.mark(uid, addr.String())
		return addr.String(), nil
	}
	return "", outcome.Wait(r.addressPoll(s.obj), lxcv1.WaitingForAddressReason, "CT %d runs but eth0 has no IPv4 address yet", s.obj.Status.VMID)
}

// restartedSince says the bulk list shows the guest started after the look age ago. The list
// may be older than the look, so the start time is computed from when the list was read; the
// slack covers uptime's whole seconds.
func restartedSince(g *proxmox.Guest, age time.Duration) bool {
	if g.Uptime <= 0 || g.Seen.IsZero() {
		return false
	}
	started := g.Seen.Add(-g.Uptime)
	return started.After(time.Now().Add(-age).Add(2 * time.Second))
}

// eth0IPv4 finds the first global IPv4 address of eth0.
func eth0IPv4(ifaces []proxmox.Interface) (netip.Addr, bool) {
	for _, i := range ifaces {
		if i.Name != "eth0" {
			continue
		}
		for _, p := range i.IPv4() {
			if a := p.Addr(); a.IsValid() && !a.IsLoopback() {
				return a, true
			}
		}
	}
	return netip.Addr{}, false
}

// forgetGuests drops the cluster's guest list after a power change, so the next look sees it.
func (r *LXCContainerReconciler) forgetGuests(s *containerScope) {
	if r.Guests != nil {
		r.Guests.Forget(s.cluster.Name)
	}
}

// addressPoll is how soon a container without an address is looked at again: at the task poll
// interval at first, then less often the longer it has waited, so that a guest that never gets
// a lease costs a request every few minutes rather than every few seconds.
func (r *LXCContainerReconciler) addressPoll(obj *lxcv1.LXCContainer) time.Duration {
	poll := r.taskPoll()
	c := conditions.Get(obj, lxcv1.ContainerStartedCondition)
	if c == nil || c.Reason != lxcv1.WaitingForAddressReason {
		return poll
	}
	return min(max(poll, time.Since(c.LastTransitionTime.Time)/10), outcome.RetryCap)
}
