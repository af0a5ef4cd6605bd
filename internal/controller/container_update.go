package controller

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/types"

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

// growDisks grows the root disk and the mount points to the sizes asked, one resize task at a
// time, and refuses a smaller size: Proxmox cannot shrink a disk.
func (r *LXCContainerReconciler) growDisks(ctx context.Context, s *containerScope, cur proxmox.ContainerConfig) error {
	type disk struct {
		key, field string
		have       proxmox.RootFS
		wantGiB    int
	}
	disks := []disk{{"rootfs", "resources.diskGiB", cur.RootFS, s.desired.DiskGiB}}
	for _, m := range s.desired.MountPoints {
		if have, ok := cur.MountPoints[int(m.Index)]; ok {
			disks = append(disks, disk{fmt.Sprintf("mp%d", m.Index), fmt.Sprintf("mountPoints[%d].sizeGiB", m.Index), have, int(m.SizeGiB)})
		}
	}
	st := &s.obj.Status
	for _, d := range disks {
		have, want := d.have.SizeBytes, uint64(d.wantGiB)<<30
		switch {
		case have == 0 || want == have:
			continue
		case want < have:
			return outcome.Stall(lxcv1.DiskShrinkRefusedReason,
				"%s asks for %d GiB, but %s of CT %d has %s already: Proxmox cannot shrink a disk (set it to at least that, or recreate the container)",
				d.field, d.wantGiB, d.key, st.VMID, d.have.Size)
		}
		upid, err := s.px.ResizeDisk(ctx, st.Node, int(st.VMID), d.key, fmt.Sprintf("%dG", d.wantGiB))
		if err != nil {
			return err
		}
		if upid == "" {
			continue // an earlier request grew it already
		}
		st.Operation = string(upid)
		r.announce(s.obj, resizing, d.key, st.VMID, d.have.Size, d.wantGiB)
		return outcome.Wait(r.taskPoll(), lxcv1.ResizingReason, "growing %s of CT %d to %d GiB", d.key, st.VMID, d.wantGiB)
	}
	return nil
}

func (r *LXCContainerReconciler) fullCheck() time.Duration {
	if r.FullCheck > 0 {
		return r.FullCheck
	}
	return DefaultFullCheck
}

// spreadFullChecks starts each container's full-check clock at a point of the period given by
// its UID, so that after a restart the manager's full checks are spread over the period
// instead of all falling due at once.
func (c *discoveryClock) spread(uid types.UID, period time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.seen[uid]; ok {
		return
	}
	if c.seen == nil {
		c.seen = map[types.UID]discoveryMark{}
	}
	h := fnv.New64a()
	h.Write([]byte(uid))
	c.seen[uid] = discoveryMark{at: time.Now().Add(-time.Duration(h.Sum64() % uint64(period)))}
}
