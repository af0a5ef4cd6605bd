package controller

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
	"templatemanager.dev/lxc-template-manager/internal/desired"
	"templatemanager.dev/lxc-template-manager/internal/outcome"
	"templatemanager.dev/lxc-template-manager/internal/proxmox"
)

// DefaultFullCheck is how often a Ready container's whole configuration is read, beside the
// cluster-wide list that every resync reads: changes the list cannot show (features, DNS,
// network, mount points) made outside the controller are found within this period.
const DefaultFullCheck = time.Hour

// applyConfig keeps the Proxmox container's configuration as the spec says. It costs nothing
// while the spec is unchanged, the cluster-wide list shows no drift and the container's slow
// full check is not due; otherwise it reads the configuration with its pending changes, writes
// what differs (with the digest read, so a concurrent edit is never overwritten), grows disks,
// and restarts a running container whose changes Proxmox applies only at a start.
func (r *LXCContainerReconciler) applyConfig(ctx context.Context, s *containerScope, view *proxmoxView) error {
	st := &s.obj.Status
	want := s.desired.ConfigHash()
	drift := desired.Drift(view.guest, s.desired)
	r.lastFullCheck.spread(s.obj.UID, r.fullCheck())
	fullCheckDue := !r.lastFullCheck.fresh(s.obj.UID, "", r.fullCheck())
	if st.AppliedConfigHash == want && len(drift) == 0 && len(st.RestartPending) == 0 && !fullCheckDue {
		return nil
	}
	pc, err := s.px.ContainerPending(ctx, st.Node, int(st.VMID))
	if err != nil {
		return err
	}
	r.lastFullCheck.mark(s.obj.UID, "")
	update, fields := desired.Changes(s.desired, pc.Next)
	running, err := r.isRunning(ctx, s, view)
	if err != nil {
		return err
	}
	if len(fields) > 0 {
		if running && update.Set["hostname"] != "" && st.AppliedConfigHash != want && !slices.Contains(st.RestartPending, "hostname") {
			// Proxmox changes the hostname in the config at once, but the guest reads it only
			// at its next start. Recorded before the write, so a crash does not lose the restart.
			st.RestartPending = append(st.RestartPending, "hostname")
			if err := s.checkpointStatus(ctx); err != nil {
				return err
			}
		}
		update.Digest = pc.Digest
		err := s.px.UpdateContainerConfig(ctx, st.Node, int(st.VMID), update)
		if errors.Is(err, proxmox.ErrConflict) {
			return outcome.Wait(time.Second, lxcv1.ConfigConflictReason,
				"the configuration of CT %d changed while it was being updated; reading it again", st.VMID)
		}
		if err != nil {
			return err
		}
		r.forgetGuests(s)
		if st.AppliedConfigHash == want {
			// The spec did not change: someone changed the container outside the controller.
			r.Metrics.observeDrift(fields...)
			r.announce(s.obj, changedOutside, st.VMID, strings.Join(fields, ", "))
		} else {
			r.announce(s.obj, configUpdated, strings.Join(fields, ", "), st.VMID)
		}
		if pc, err = s.px.ContainerPending(ctx, st.Node, int(st.VMID)); err != nil {
			return err
		}
	}
	view.config = &pc.Current
	if err := r.growDisks(ctx, s, pc.Current); err != nil {
		return err
	}
	if running {
		for _, k := range pc.Pending {
			if !slices.Contains(st.RestartPending, k) {
				st.RestartPending = append(st.RestartPending, k)
			}
		}
	} else {
		st.RestartPending = nil // a start applies them
	}
	if len(st.RestartPending) > 0 && running && s.obj.Spec.PowerState != lxcv1.PowerStateStopped {
		slices.Sort(st.RestartPending)
		upid, err := s.px.RebootContainer(ctx, st.Node, int(st.VMID), shutdownTimeout)
		if err != nil {
			return err
		}
		st.Operation = string(upid)
		r.forgetGuests(s)
		r.announce(s.obj, restarting, st.VMID, strings.Join(st.RestartPending, ", "))
		return outcome.Wait(r.taskPoll(), lxcv1.RestartingReason, "restarting CT %d to apply %s", st.VMID, strings.Join(st.RestartPending, ", "))
	}
	st.AppliedConfigHash = want
	return nil
}

func (r *LXCContainerReconciler) fullCheck() time.Duration {
	if r.FullCheck > 0 {
		return r.FullCheck
	}
	return DefaultFullCheck
}
