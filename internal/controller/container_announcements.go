package controller

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
)

// announcement is an Event the pipeline emits beside its conditions: news about a container
// that no condition keeps, such as a change it made or found. This file is the whole list.
// Every other Event of a container comes from a change of its Ready condition
// (outcome.Patcher), with the condition's reason.
type announcement struct {
	eventType, reason, action, format string
}

var (
	adoptedByAnnotation   = announcement{corev1.EventTypeNormal, lxcv1.AdoptedReason, "Adopt", "Adopted CT %d on node %s as the adopt annotation asks; its marker now names uid %s"}
	adoptedByMarker       = announcement{corev1.EventTypeNormal, lxcv1.AdoptedReason, "Adopt", "Adopted CT %d on node %s, which carries this LXCContainer's marker"}
	createFailed          = announcement{corev1.EventTypeWarning, lxcv1.TaskFailedReason, "Create", "%v"}
	containerVanished     = announcement{corev1.EventTypeWarning, lxcv1.ContainerVanishedReason, "Create", "CT %d is gone from node %s; creating it again"}
	cloning               = announcement{corev1.EventTypeNormal, lxcv1.CloningReason, "Create", "Cloning CT %d on node %s from CT %d, the bake of template %s (%s clone)"}
	baked                 = announcement{corev1.EventTypeNormal, lxcv1.BakedReason, "Bake", "Made CT %d on node %s a Proxmox template: the bake of template %s"}
	hostKeysRegenerated   = announcement{corev1.EventTypeNormal, lxcv1.HostKeysRegeneratedReason, "Start", "Made new SSH host keys in CT %d, cloned from CT %d; pinned %s"}
	creating              = announcement{corev1.EventTypeNormal, lxcv1.CreatingReason, "Create", "Creating CT %d on node %s from %s"}
	pullingOCIImage       = announcement{corev1.EventTypeNormal, lxcv1.CreatingReason, "Create", "Pulling OCI image %s (%s) onto node %s as %s"}
	retained              = announcement{corev1.EventTypeNormal, lxcv1.RetainedReason, "Delete", "Left CT %d on node %s in place as deletionPolicy is Retain"}
	clusterGoneAtDelete   = announcement{corev1.EventTypeWarning, lxcv1.DependencyNotReadyReason, "Delete", "ProxmoxCluster %s is gone; CT %d on node %s was not destroyed"}
	destroyed             = announcement{corev1.EventTypeNormal, lxcv1.DestroyedReason, "Delete", "CT %d on node %s is gone"}
	notOursAtDelete       = announcement{corev1.EventTypeWarning, lxcv1.VMIDConflictReason, "Delete", "CT %d on node %s does not carry this LXCContainer's marker; leaving it untouched"}
	snapshotTaken         = announcement{corev1.EventTypeNormal, lxcv1.SnapshotTakenReason, "Snapshot", "Taking LXCSnapshot %s before the change"}
	moved                 = announcement{corev1.EventTypeNormal, lxcv1.MovedReason, "Follow", "CT %d moved from node %s to node %s; following it there"}
	migrating             = announcement{corev1.EventTypeNormal, lxcv1.MigratingReason, "Migrate", "Migrating CT %d from node %s to node %s as spec.node asks"}
	destroying            = announcement{corev1.EventTypeNormal, lxcv1.DeletingReason, "Delete", "Destroying CT %d on node %s"}
	authorizedKeysChanged = announcement{corev1.EventTypeNormal, lxcv1.AuthorizedKeysChangedReason, "Update", "Root's authorized SSH keys in CT %d are now the controller's and the %d of spec.sshPublicKeys"}
	rootPasswordChanged   = announcement{corev1.EventTypeNormal, lxcv1.RootPasswordChangedReason, "Update", "Set root's password in CT %d from Secret %s"}
	recreating            = announcement{corev1.EventTypeWarning, lxcv1.RecreatingReason, "Recreate", "Destroying CT %d to create it again, as updateStrategy is Recreate: %s"}
	scriptRunning         = announcement{corev1.EventTypeNormal, lxcv1.ScriptRunningReason, "RunScript", "Running %s"}
	credentialsProblem    = announcement{corev1.EventTypeWarning, lxcv1.CredentialsProblemReason, "Discover", "%v"}
	sshKeyRotated         = announcement{corev1.EventTypeNormal, lxcv1.SSHKeyRotatedReason, "RotateSSHKey", "The controller's SSH key changed from %s to %s"}
	stoppedOutside        = announcement{corev1.EventTypeNormal, lxcv1.DriftCorrectedReason, "Start", "CT %d was stopped outside the controller; starting it as spec.powerState asks"}
	starting              = announcement{corev1.EventTypeNormal, lxcv1.StartingReason, "Start", "Starting CT %d"}
	addressChanged        = announcement{corev1.EventTypeNormal, lxcv1.AddressChangedReason, "Start", "The DHCP lease of CT %d moved from %s to %s"}
	hostKeyAccepted       = announcement{corev1.EventTypeNormal, lxcv1.HostKeyAcceptedReason, "Connect", "CT %d presented SSH host key %s instead of the pinned %s; pinned it as annotation %s asks"}
	taskWarnings          = announcement{corev1.EventTypeWarning, lxcv1.TaskWarningsReason, "Poll", "Task %s on CT %d succeeded with warnings: %s"}
	changedOutside        = announcement{corev1.EventTypeNormal, lxcv1.DriftCorrectedReason, "Update", "CT %d was changed outside the controller (%s); set back as the spec says"}
	configUpdated         = announcement{corev1.EventTypeNormal, lxcv1.ConfigChangedReason, "Update", "Changed %s of CT %d as the spec says"}
	restarting            = announcement{corev1.EventTypeNormal, lxcv1.RestartingReason, "Update", "Restarting CT %d: Proxmox applies %s only when the container starts"}
	restartingOnRequest   = announcement{corev1.EventTypeNormal, lxcv1.RestartingReason, "Restart", "Restarting CT %d as annotation %s=%q asks"}
	restartedOnRequest    = announcement{corev1.EventTypeNormal, lxcv1.RestartedReason, "Restart", "Restarted CT %d as annotation %s=%q asked (task %s)"}
	startedOnRequest      = announcement{corev1.EventTypeNormal, lxcv1.RestartedReason, "Restart", "Started CT %d, which was not running, as annotation %s=%q asked a restart (task %s)"}
	notRestartedStopped   = announcement{corev1.EventTypeNormal, lxcv1.StoppedReason, "Restart", "Did not restart CT %d as annotation %s=%q asked: it is stopped as spec.powerState asks, and stays so"}
	resizing              = announcement{corev1.EventTypeNormal, lxcv1.ResizingReason, "Update", "Growing %s of CT %d from %s to %d GiB"}
)

// announce emits a as an Event regarding obj, its note formatted with args.
func (r *LXCContainerReconciler) announce(obj runtime.Object, a announcement, args ...any) {
	r.Recorder.Eventf(obj, nil, a.eventType, a.reason, a.action, a.format, args...)
}
