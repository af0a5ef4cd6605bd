// Package v1alpha1 defines the lxc.templatemanager.dev/v1alpha1 API, in which users declare
// their Proxmox clusters, package lists, templates and containers: the kinds ProxmoxCluster,
// PackageBucket, LXCTemplate and LXCContainer.
//
// It holds the Go types with their OpenAPI validation and CEL rules (controller-gen turns them
// into the CRDs under config/crd/bases), the condition types and reasons, the finalizer and
// annotations, the tag and owner marker the controller leaves on Proxmox containers, and the
// generated deepcopy code. It does no reconciling; that is internal/controller.
//
// +kubebuilder:object:generate=true
// +groupName=lxc.templatemanager.dev
package v1alpha1

import (
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/scheme"
)

var (
	// GroupVersion is the group and version of every kind in this package.
	GroupVersion = schema.GroupVersion{Group: "lxc.templatemanager.dev", Version: "v1alpha1"}

	// SchemeBuilder registers the kinds of this package with a runtime.Scheme.
	SchemeBuilder = &scheme.Builder{GroupVersion: GroupVersion}

	// AddToScheme adds the kinds of this package to a runtime.Scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

// Finalizer is set on LXCContainers before any Proxmox call, so nothing is ever created without it.
const Finalizer = "lxc.templatemanager.dev/finalizer"

// ProxmoxTag is the tag every container created by the controller carries in Proxmox.
const ProxmoxTag = "lxctm"

// OwnerMarkerPrefix starts the description line that records which LXCContainer owns a Proxmox
// container: "lxctm-owner: <namespace>/<name> uid=<metadata.uid>".
const OwnerMarkerPrefix = "lxctm-owner:"

// ReconcileRequestAnnotation asks for an immediate reconcile when its value changes, as Flux's
// reconcile.fluxcd.io/requestedAt does; the value handled last is recorded in
// status.lastHandledReconcileAt. On an LXCContainer it also retries a failed script or package
// install without changing the spec:
//
//	kubectl annotate lxcc web-1 --overwrite lxc.templatemanager.dev/reconcile-requested-at="$(date +%s)"
const ReconcileRequestAnnotation = "lxc.templatemanager.dev/reconcile-requested-at"

// RestartRequestAnnotation asks for one restart of an LXCContainer when its value changes, in
// the manner of ReconcileRequestAnnotation: the value handled last is recorded in
// status.lastHandledRestartAt. A running container is rebooted through Proxmox (a reboot task,
// which also applies what Proxmox keeps pending), a Restarted Event names the request, and the
// container is Ready again once its guest answers at its address. A container that is not running
// is met by its next start; one whose spec.powerState is Stopped is not started: the request is
// recorded with a Stopped Event. A script running in the guest is never interrupted: the restart
// waits for it to end. A failed reboot is retried on the back-off schedule.
//
//	kubectl annotate lxcc web-1 --overwrite lxc.templatemanager.dev/restart-requested-at="$(date +%s)"
const RestartRequestAnnotation = "lxc.templatemanager.dev/restart-requested-at"

// AdoptAnnotation, set to "true" on an LXCContainer with spec.vmid, takes over the Proxmox
// container at that VMID when it carries no owner marker (one made by hand or by another tool);
// the cluster's spec.policy.adoptionNamespaces says which namespaces may. A container with the
// marker of an LXCContainer of the same namespace and name (one restored from a backup, or
// deleted with deletionPolicy Retain and applied again) is taken over by spec.vmid alone. The
// marker is rewritten to this object's uid and the container is converged to the spec. A
// container whose marker names another LXCContainer is never taken.
const AdoptAnnotation = "lxc.templatemanager.dev/adopt"

// AcceptHostKeyAnnotation on an LXCContainer accepts the SSH host key fingerprint it names when
// the container presents it instead of the pinned one (a guest whose host keys were made again
// on purpose) and Proxmox shows the container at the address: the key is pinned, announced by a
// HostKeyAccepted Event, and the container goes on. It needs no right on status.
//
//	kubectl annotate lxcc web-1 --overwrite lxc.templatemanager.dev/accept-host-key=SHA256:...
const AcceptHostKeyAnnotation = "lxc.templatemanager.dev/accept-host-key"

// OSTemplateUpgradeAnnotation on an LXCContainer moves it to another version of its
// template's OS template. A container is never recreated because a newer tarball appeared:
// status.osTemplate records the volume it was made from, and a short form (debian-12-standard)
// is met by any version of it. To move on, set the annotation to the volume id to be made from
// (it must be a version of the template's osTemplate), or to "latest" for the newest version on
// the container's node. What follows is spec.updateStrategy's: Recreate destroys the container
// and creates it from that volume (the data on its disks is lost); InPlace stalls with reason
// RecreateRequired naming osTemplate. The annotation is a standing request: while it says
// "latest", each newer tarball asks for the container to be made again, so remove it once the
// container is Ready from the volume it wanted.
//
//	kubectl annotate lxcc web-1 lxc.templatemanager.dev/os-template-upgrade=latest
const OSTemplateUpgradeAnnotation = "lxc.templatemanager.dev/os-template-upgrade"

// OSTemplateUpgradeLatest is the value of OSTemplateUpgradeAnnotation that asks for the newest
// version of the template's OS template on the container's node.
const OSTemplateUpgradeLatest = "latest"

// RestoringAnnotation on an LXCContainer names the LXCRestore that is restoring it. The
// controller sets and removes it; while it is there the container's reconciler leaves the
// Proxmox container alone (it is stopped, rolled back or made again) and says so with reason
// Restoring.
const RestoringAnnotation = "lxc.templatemanager.dev/restoring"

// ContainerLabel on an LXCBackup or LXCSnapshot the controller made names the LXCContainer it
// was made for (by the backup schedule, or before a change).
const ContainerLabel = "lxc.templatemanager.dev/container"

// ScheduledLabel marks the LXCBackups the backup schedule made; only these are pruned by its
// keep rules.
const ScheduledLabel = "lxc.templatemanager.dev/scheduled"

// ShardKeyLabel assigns an object to a shard: a manager started with
// --watch-label-selector=sharding.lxc.templatemanager.dev/key=NAME reconciles the objects whose
// label has the value NAME, and the main manager, started with
// --watch-label-selector='!sharding.lxc.templatemanager.dev/key', those without it (docs/sharding.md).
const ShardKeyLabel = "sharding.lxc.templatemanager.dev/key"

// BakeOfLabel marks the LXCContainer that provisions a template's bake; its value is the
// LXCTemplate's name.
const BakeOfLabel = "lxc.templatemanager.dev/bake-of"

// BakeHashLabel on a bake's LXCContainer is the template hash it bakes.
const BakeHashLabel = "lxc.templatemanager.dev/bake-hash"
