package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// FeatureName is an LXC feature a container may turn on.
// +kubebuilder:validation:Enum=nesting;keyctl;fuse;mknod;mount
type FeatureName string

// The features a ClusterPolicy can allow.
const (
	FeatureNesting FeatureName = "nesting"
	FeatureKeyctl  FeatureName = "keyctl"
	FeatureFuse    FeatureName = "fuse"
	FeatureMknod   FeatureName = "mknod"
	FeatureMount   FeatureName = "mount"
)

// ClusterPolicy is what the LXCContainers of any namespace may ask of a ProxmoxCluster. The
// platform team owns it (ProxmoxClusters are for cluster admins); it is enforced at admission
// by the ValidatingAdmissionPolicy the chart installs, and again by the controller before any
// change reaches Proxmox, for objects admitted before the policy changed.
type ClusterPolicy struct {
	// adoptionNamespaces selects the namespaces whose LXCContainers may adopt a Proxmox container
	// that carries no owner marker (one made by hand or by another tool). Unset or empty selects
	// none. Adopting a container that carries the marker of an earlier LXCContainer of the same
	// namespace and name (a restore, deletionPolicy Retain) is always allowed.
	// +optional
	AdoptionNamespaces *metav1.LabelSelector `json:"adoptionNamespaces,omitempty"`

	// nodes a container may run on. Empty allows every node.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=256
	// +kubebuilder:validation:items:MaxLength=63
	// +kubebuilder:validation:items:Pattern=`^[a-zA-Z0-9]([-a-zA-Z0-9]*[a-zA-Z0-9])?$`
	Nodes []string `json:"nodes,omitempty"`

	// storages a container's root disk and mount points may use. Empty allows every storage.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=256
	// +kubebuilder:validation:items:MaxLength=64
	// +kubebuilder:validation:items:Pattern=`^[a-zA-Z][-a-zA-Z0-9_.]*$`
	Storages []string `json:"storages,omitempty"`

	// bridges a container's network may attach to. Empty allows every bridge.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=256
	// +kubebuilder:validation:items:MaxLength=15
	// +kubebuilder:validation:items:Pattern=`^[a-zA-Z][-a-zA-Z0-9_.]*$`
	Bridges []string `json:"bridges,omitempty"`

	// vlanTags a container's network may use. Empty allows any tag and untagged traffic; when set,
	// a container must name one of them.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=4094
	// +kubebuilder:validation:items:Minimum=1
	// +kubebuilder:validation:items:Maximum=4094
	VLANTags []int32 `json:"vlanTags,omitempty"`

	// allowPrivileged allows templates with features.unprivileged false. Root in a privileged
	// container is root on the node, so the default is false.
	// +optional
	AllowPrivileged bool `json:"allowPrivileged,omitempty"`

	// features a container may turn on. Empty allows nesting only: nesting is the one feature an
	// API token may set and is safe in an unprivileged container; keyctl, fuse, mknod and mount
	// reach further into the node's kernel and need root@pam.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=5
	Features []FeatureName `json:"features,omitempty"`

	// hostPaths are the directories of the nodes (and everything under them) that bind mount
	// points (mountPoints[].hostPath) may use. Empty allows no bind mount.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MaxLength=255
	// +kubebuilder:validation:items:Pattern=`^(/[A-Za-z0-9._@+-]+)+$`
	// +kubebuilder:validation:items:XValidation:rule="!self.matches('(^|/)[.][.]?(/|$)')",message="hostPaths must not contain . or .. segments"
	HostPaths []string `json:"hostPaths,omitempty"`

	// devices are the device nodes containers may have passed through (devices[].path).
	// Empty allows none.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MaxLength=255
	// +kubebuilder:validation:items:Pattern=`^/dev(/[A-Za-z0-9._@+-]+)+$`
	// +kubebuilder:validation:items:XValidation:rule="!self.matches('(^|/)[.][.]?(/|$)')",message="devices must not contain . or .. segments"
	Devices []string `json:"devices,omitempty"`

	// limits cap each container.
	// +optional
	Limits *ContainerLimits `json:"limits,omitempty"`

	// namespaceQuota caps what the LXCContainers of one namespace ask of this cluster together;
	// status.namespaceUsage reports what they use.
	// +optional
	NamespaceQuota *NamespaceQuota `json:"namespaceQuota,omitempty"`
}

// ContainerLimits are the most one container may ask for. An unset field has no limit.
type ContainerLimits struct {
	// cores is the most CPU cores.
	// +optional
	// +kubebuilder:validation:Minimum=1
	Cores *int32 `json:"cores,omitempty"`
	// memoryMiB is the most memory in MiB.
	// +optional
	// +kubebuilder:validation:Minimum=16
	MemoryMiB *int32 `json:"memoryMiB,omitempty"`
	// diskGiB is the largest root disk in GiB.
	// +optional
	// +kubebuilder:validation:Minimum=1
	DiskGiB *int32 `json:"diskGiB,omitempty"`
	// mountPointGiB is the largest mount point in GiB.
	// +optional
	// +kubebuilder:validation:Minimum=1
	MountPointGiB *int32 `json:"mountPointGiB,omitempty"`
}

// NamespaceQuota is the most the LXCContainers of one namespace may ask of a cluster together.
// Disk counts root disks and mount points. An unset field has no quota.
type NamespaceQuota struct {
	// containers is the most LXCContainers.
	// +optional
	// +kubebuilder:validation:Minimum=0
	Containers *int64 `json:"containers,omitempty"`
	// cores is the most CPU cores.
	// +optional
	// +kubebuilder:validation:Minimum=0
	Cores *int64 `json:"cores,omitempty"`
	// memoryMiB is the most memory in MiB.
	// +optional
	// +kubebuilder:validation:Minimum=0
	MemoryMiB *int64 `json:"memoryMiB,omitempty"`
	// diskGiB is the most disk in GiB.
	// +optional
	// +kubebuilder:validation:Minimum=0
	DiskGiB *int64 `json:"diskGiB,omitempty"`
}

// NamespaceUsage is what the LXCContainers of one namespace ask of a cluster, counted as
// namespaceQuota counts it.
type NamespaceUsage struct {
	// namespace of the LXCContainers.
	Namespace string `json:"namespace"`
	// containers is the number of LXCContainers.
	Containers int64 `json:"containers"`
	// cores is the sum of their CPU cores.
	Cores int64 `json:"cores"`
	// memoryMiB is the sum of their memory in MiB.
	MemoryMiB int64 `json:"memoryMiB"`
	// diskGiB is the sum of their root disks and mount points in GiB.
	DiskGiB int64 `json:"diskGiB"`
}
