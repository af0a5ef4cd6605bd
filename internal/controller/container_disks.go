package controller

import (
	"context"
	"fmt"
	"strings"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
	"templatemanager.dev/lxc-template-manager/internal/outcome"
	"templatemanager.dev/lxc-template-manager/internal/proxmox"
)

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
		if have, ok := cur.MountPoints[int(m.Index)]; ok && !m.IsBind() && !strings.HasPrefix(have.Volume, "/") {
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
