package controller

import (
	"context"
	"fmt"
	"strings"

	"github.com/fluxcd/pkg/runtime/conditions"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
	"templatemanager.dev/lxc-template-manager/internal/outcome"
	"templatemanager.dev/lxc-template-manager/internal/proxmox"
)

// recreateFields names what the spec asks for that Proxmox cannot change on an existing
// container: the OS template it was created from, the storage of its root disk or of a mount
// point, and whether it is unprivileged.
func recreateFields(s *containerScope, cfg *proxmox.ContainerConfig) ([]string, error) {
	d := s.desired
	var fields []string
	why, err := osTemplateChange(s)
	if err != nil {
		return nil, err
	}
	if why != "" {
		fields = append(fields, why)
	}
	if have := volumeStorage(cfg.RootFS.Volume); have != "" && have != d.Storage {
		fields = append(fields, fmt.Sprintf("storage (the root disk is on %s, the spec asks for %s)", have, d.Storage))
	}
	if cfg.Unprivileged != d.Unprivileged {
		fields = append(fields, fmt.Sprintf("features.unprivileged (the container has %t, the template asks for %t)", cfg.Unprivileged, d.Unprivileged))
	}
	for _, m := range d.MountPoints {
		if have, ok := cfg.MountPoints[int(m.Index)]; ok && !m.IsBind() {
			if sid := volumeStorage(have.Volume); sid != "" && sid != m.Storage {
				fields = append(fields, fmt.Sprintf("mountPoints[%d].storage (the volume is on %s, the spec asks for %s)", m.Index, sid, m.Storage))
			}
		}
	}
	return fields, nil
}

func volumeStorage(volume string) string {
	sid, _, ok := strings.Cut(volume, ":")
	if !ok {
		return ""
	}
	return sid
}

// reconcileRecreate follows spec.updateStrategy when the spec asks for what Proxmox cannot
// change in place: InPlace stalls naming the fields; Recreate destroys the container (lifting
// its protection first), and the create phase then makes it anew from the spec.
func (r *LXCContainerReconciler) reconcileRecreate(ctx context.Context, s *containerScope, cfg *proxmox.ContainerConfig) error {
	fields, err := recreateFields(s, cfg)
	if err != nil || len(fields) == 0 {
		return err
	}
	st := &s.obj.Status
	if s.obj.Spec.UpdateStrategy != lxcv1.UpdateStrategyRecreate {
		return outcome.Stall(lxcv1.RecreateRequiredReason,
			"the spec asks for changes Proxmox cannot make to the existing CT %d: %s; set spec.updateStrategy to Recreate to replace the container (the data on its disks is lost), or change them back",
			st.VMID, strings.Join(fields, "; "))
	}
	if s.holdForRun(fmt.Sprintf("recreating CT %d (%s)", st.VMID, strings.Join(fields, "; "))) {
		return nil
	}
	if err := r.backedUpBeforeRecreate(ctx, s, fields); err != nil {
		return err
	}
	if cfg.Raw["protection"] == "1" {
		if err := s.px.UpdateContainerConfig(ctx, st.Node, int(st.VMID), proxmox.ConfigUpdate{Delete: []string{"protection"}, Digest: cfg.Digest}); err != nil {
			return err
		}
	}
	upid, err := s.px.DeleteContainer(ctx, st.Node, int(st.VMID), proxmox.DeleteOptions{Purge: true, Force: true, DestroyUnreferencedDisks: true})
	if err != nil {
		return err
	}
	st.Operation = string(upid)
	r.forgetGuests(s)
	r.announce(s.obj, recreating, st.VMID, strings.Join(fields, "; "))
	return outcome.Wait(r.taskPoll(), lxcv1.RecreatingReason, "destroying CT %d to create it again (%s)", st.VMID, strings.Join(fields, "; "))
}

// recreated handles the end of the destroy task of a recreation: the container is gone, and
// everything status knew of its inside with it.
func (r *LXCContainerReconciler) recreated(s *containerScope, taskErr error) error {
	if taskErr != nil {
		return outcome.Failed(lxcv1.TaskFailedReason, fmt.Errorf("destroying CT %d to recreate it: %w", s.obj.Status.VMID, taskErr))
	}
	forgetProvisioning(s.obj)
	s.obj.Status.OSTemplate = ""
	conditions.MarkFalse(s.obj, lxcv1.ContainerCreatedCondition, lxcv1.RecreatingReason, "CT %d was destroyed to be created again", s.obj.Status.VMID)
	return nil
}
