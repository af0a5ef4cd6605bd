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
	if running && holdConfig(s, fields, pc) {
		return nil
	}
	if len(fields) > 0 {
		if err := r.recordWrite(ctx, s, update, running, want); err != nil {
			return err
		}
		update.Digest = pc.Digest
		err := s.px.UpdateContainerConfig(ctx, st.Node, int(st.VMID), update)
		if errors.Is(err, proxmox.ErrConflict) {
			return outcome.Wait(time.Second, lxcv1.ConfigConflictReason,
				"the configuration of CT %d changed while it was being updated; reading it again", st.VMID)
		}
		if err != nil {
			return rootRequired(err, s)
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
	return r.restartForPending(ctx, s, pc.Pending, running, want)
}

// recordWrite notes in status, before an update is written to a running container, what a
// restart may have to apply: the options the update sets or deletes (status.pendingWritten;
// those Proxmox keeps pending are the controller's to restart for), and a new hostname, which
// Proxmox changes in the config at once but the guest reads only at its next start. Recorded
// before the write, so a crash does not lose them.
func (r *LXCContainerReconciler) recordWrite(ctx context.Context, s *containerScope, update proxmox.ConfigUpdate, running bool, want string) error {
	st := &s.obj.Status
	if !running {
		return nil // a stopped container takes every change at once
	}
	if update.Set["hostname"] != "" && st.AppliedConfigHash != want && !slices.Contains(st.RestartPending, "hostname") {
		st.RestartPending = append(st.RestartPending, "hostname")
	}
	written := slices.Clone(st.PendingWritten)
	for _, k := range slices.Concat(slices.Collect(maps.Keys(update.Set)), update.Delete) {
		if !slices.Contains(written, k) {
			written = append(written, k)
		}
	}
	slices.Sort(written)
	st.PendingWritten = written
	return s.checkpointStatus(ctx)
}

func (r *LXCContainerReconciler) fullCheck() time.Duration {
	if r.FullCheck > 0 {
		return r.FullCheck
	}
	return DefaultFullCheck
}
