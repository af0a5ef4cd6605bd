package controller

import (
	"errors"
	"fmt"
	"strings"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
	"templatemanager.dev/lxc-template-manager/internal/desired"
	"templatemanager.dev/lxc-template-manager/internal/outcome"
	"templatemanager.dev/lxc-template-manager/internal/proxmox"
)

// rootOnlyFields names what the spec asks for that real PVE lets only root@pam set: feature
// flags other than nesting, a privileged container, bind mount points and device passthrough
// (check_ct_modify_config_perm and the create path of pve-container's src/PVE/LXC.pm and
// src/PVE/API2/LXC.pm).
func rootOnlyFields(d *desired.Container) []string {
	return rootOnly(d.Features, d.Unprivileged, d.MountPoints, d.Devices)
}

// rootOnlyOfTemplate is rootOnlyFields of what a template asks for itself.
func rootOnlyOfTemplate(spec *lxcv1.LXCTemplateSpec) []string {
	return rootOnly(spec.Features, spec.Features.Unprivileged == nil || *spec.Features.Unprivileged, spec.MountPoints, spec.Devices)
}

func rootOnly(f lxcv1.Features, unprivileged bool, mountPoints []lxcv1.MountPoint, devices []lxcv1.Device) []string {
	fields := rootOnlyFeatures(f, unprivileged)
	for _, m := range mountPoints {
		if m.IsBind() {
			fields = append(fields, fmt.Sprintf("mountPoints[%d].hostPath", m.Index))
		}
	}
	for i, dev := range devices {
		fields = append(fields, fmt.Sprintf("devices[%d] (%s)", i, dev.Path))
	}
	return fields
}

// rootOnlyFeatures names the feature flags of f that need root@pam.
func rootOnlyFeatures(f lxcv1.Features, unprivileged bool) []string {
	var fields []string
	if f.Keyctl {
		fields = append(fields, "features.keyctl")
	}
	if f.Fuse {
		fields = append(fields, "features.fuse")
	}
	if f.Mknod {
		fields = append(fields, "features.mknod")
	}
	if len(f.Mount) > 0 {
		fields = append(fields, "features.mount")
	}
	if !unprivileged {
		fields = append(fields, "features.unprivileged: false")
	}
	return fields
}

// rootRequired turns Proxmox's refusal (403) of a root-only setting into a stall of the
// container that names the fields; the cluster's credentials are fine for everything else, so
// it is not the cluster's failure. Any other error is returned as it is.
func rootRequired(err error, s *containerScope) error {
	if !errors.Is(err, proxmox.ErrPermission) {
		return err
	}
	fields := rootOnlyFields(s.desired)
	if len(fields) == 0 {
		return err
	}
	list := strings.Join(fields, ", ")
	return outcome.Stall(lxcv1.RootRequiredReason,
		"Proxmox lets only root@pam set %s, and ProxmoxCluster %s signs in with an API token or another user: "+
			"give the cluster root@pam password credentials (username root@pam and its password in the credentials Secret), "+
			"or leave %s out of the template: %w", list, s.cluster.Name, list, err)
}
