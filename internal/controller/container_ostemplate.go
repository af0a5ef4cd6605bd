package controller

import (
	"fmt"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
	"templatemanager.dev/lxc-template-manager/internal/ostemplate"
	"templatemanager.dev/lxc-template-manager/internal/outcome"
)

// osTemplateForCreate is the volume the container is made from when it is created now: the
// volume the os-template-upgrade annotation names, or else the template's osTemplate as a
// volid or its short form's newest version on the node. ok is false when the node has nothing
// that matches; an annotation naming a volume that is no version of the template's osTemplate
// stalls.
func osTemplateForCreate(s *containerScope) (volid string, ok bool, err error) {
	upgrade := s.obj.Annotations[lxcv1.OSTemplateUpgradeAnnotation]
	if upgrade != "" && upgrade != lxcv1.OSTemplateUpgradeLatest {
		if !ostemplate.Satisfies(upgrade, s.desired.OSTemplate) {
			return "", false, outcome.Stall(lxcv1.InvalidSpecReason, "annotation %s asks for %s, which is not a version of the template's osTemplate %s",
				lxcv1.OSTemplateUpgradeAnnotation, upgrade, s.desired.OSTemplate)
		}
		return upgrade, true, nil
	}
	volid, ok = ostemplate.ForCreate(s.desired.OSTemplate, s.cluster, s.obj.Status.Node)
	return volid, ok, nil
}

// osTemplateChange says why the container must be made again from another OS template, or ""
// when the volume it was made from (status.osTemplate) still meets what is asked. A newer
// tarball alone never does: a short form is met by any of its versions. What moves a container
// on is a changed template osTemplate that the volume no longer meets, or the os-template-upgrade
// annotation naming another volume. An unknown origin (an adopted container) is never a reason.
func osTemplateChange(s *containerScope) (string, error) {
	if ostemplate.IsOCI(s.desired.OSTemplate) {
		return ociImageChange(s), nil
	}
	have := s.obj.Status.OSTemplate
	if have == "" {
		return "", nil
	}
	want, ok, err := osTemplateForCreate(s)
	if err != nil || !ok || want == have {
		return "", err
	}
	if upgrade := s.obj.Annotations[lxcv1.OSTemplateUpgradeAnnotation]; upgrade != "" {
		return fmt.Sprintf("osTemplate (created from %s, annotation %s=%s asks for %s)", have, lxcv1.OSTemplateUpgradeAnnotation, upgrade, want), nil
	}
	if ostemplate.Satisfies(have, s.desired.OSTemplate) {
		return "", nil
	}
	return fmt.Sprintf("osTemplate (created from %s, the template asks for %s, to be made from %s)", have, s.desired.OSTemplate, want), nil
}

// osTemplateUpgradePending says the os-template-upgrade annotation asks for a volume the
// container was not made from. The annotation is no part of the spec's hash, so this is what
// makes the create phase read the container's configuration and follow updateStrategy.
func osTemplateUpgradePending(s *containerScope) bool {
	if s.obj.Annotations[lxcv1.OSTemplateUpgradeAnnotation] == "" || s.obj.Status.OSTemplate == "" || ostemplate.IsOCI(s.desired.OSTemplate) {
		return false
	}
	want, ok, err := osTemplateForCreate(s)
	return err != nil || (ok && want != s.obj.Status.OSTemplate)
}
