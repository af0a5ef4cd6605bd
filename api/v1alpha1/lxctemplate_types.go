package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// LXCTemplateSpec describes what a container is: its OS, size, features, network, packages,
// provisioning scripts and managed files.
// +kubebuilder:validation:XValidation:rule="!has(self.application) || self.osTemplate.startsWith('oci://')",message="application needs an OCI image: osTemplate oci://REGISTRY/IMAGE:TAG"
// +kubebuilder:validation:XValidation:rule="!has(self.application) || (!has(self.scripts) && !has(self.packages) && !has(self.packageBucketRefs) && !has(self.files) && !has(self.services))",message="an application image runs no guest phases: application cannot have scripts, packages, packageBucketRefs, files or services"
type LXCTemplateSpec struct {
	// description says what containers made from this template are for.
	// +optional
	// +kubebuilder:validation:MaxLength=4096
	Description string `json:"description,omitempty"`

	// tags are added to every container as Proxmox tags, beside the controller's own tag.
	// +optional
	// +kubebuilder:validation:MaxItems=32
	// +listType=set
	Tags []Tag `json:"tags,omitempty"`

	// osTemplate is the OS template: a Proxmox volume id such as
	// local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst, or the short form debian-12-standard
	// (the file name up to its first _), which the controller resolves to the newest version of
	// that template on the node it places the container on; or an OCI image
	// oci://REGISTRY/IMAGE:TAG (Proxmox VE 9.1), which the controller pulls onto the node's
	// storage with oci-registry-pull and pins by digest (see docs/oci-images.md). The tag is
	// required, as Proxmox's reference pattern has it; changing it is a RecreateRequired change.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=255
	// +kubebuilder:validation:XValidation:rule="!self.startsWith('oci://') || self.matches('^oci://(([a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])([.]([a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]))*(:[0-9]+)?/)?[a-z0-9]+(([._]|__|[-]*)[a-z0-9]+)*(/[a-z0-9]+(([._]|__|[-]*)[a-z0-9]+)*)*:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$')",message="osTemplate oci://REGISTRY/IMAGE:TAG must name a lowercase repository and a tag (no @sha256 digest), such as oci://registry.example.com:5000/team/app:1.2"
	// +kubebuilder:validation:XValidation:rule="self.startsWith('oci://') || self.matches('^[A-Za-z][A-Za-z0-9_.-]*:vztmpl/[A-Za-z0-9_.+-]+[.](tar[.](gz|xz|zst|bz2)|tgz)$') || self.matches('^[a-z0-9][a-z0-9.+-]*$')",message="osTemplate must be a volume id of the form <storage>:vztmpl/<file>.tar.(gz|xz|zst), such as local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst, or a short form such as debian-12-standard (lowercase letters, digits and . + -)"
	OSTemplate string `json:"osTemplate"`

	// resources size the containers. Unset fields take the Proxmox defaults (1 core, 512 MiB memory,
	// 512 MiB swap, 8 GiB disk).
	// +optional
	Resources Resources `json:"resources,omitempty"`

	// storage is the Proxmox storage of the root disk. Default local-lvm.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:Pattern=`^[A-Za-z][A-Za-z0-9_.-]*$`
	Storage string `json:"storage,omitempty"`

	// features are the container's LXC features.
	// +optional
	Features Features `json:"features,omitempty"`

	// containerUser is the user scripts know as CONTAINER_USER and run_as_user runs as; it is
	// created in the container, with a home directory, before files and scripts. Unset: the
	// scripts' helper library takes the first user with a UID from 1000, as the original
	// system did (CONFIG_CONTAINER_USER).
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:Pattern=`^[a-z_][a-z0-9_-]*$`
	// +kubebuilder:validation:XValidation:rule="self != 'root'",message="containerUser must not be root: scripts already run as root"
	ContainerUser string `json:"containerUser,omitempty"`

	// mountPoints are volumes every container of this template gets (a container's own
	// mount point of the same index replaces one).
	// +optional
	// +kubebuilder:validation:MaxItems=16
	// +listType=map
	// +listMapKey=index
	// +kubebuilder:validation:XValidation:rule="self.all(m, self.exists_one(o, o.path == m.path))",message="mount point paths must be unique"
	MountPoints []MountPoint `json:"mountPoints,omitempty"`

	// devices are device nodes of the Proxmox node every container of this template gets
	// (Proxmox's dev<n>, numbered in list order); a container's own device of the same path
	// replaces one.
	// +optional
	// +kubebuilder:validation:MaxItems=16
	// +listType=map
	// +listMapKey=path
	Devices []Device `json:"devices,omitempty"`

	// network configures eth0. Default: bridge vmbr0 with DHCP.
	// +optional
	Network Network `json:"network,omitempty"`

	// packages are installed before the scripts run, with the packages of packageBucketRefs.
	// +optional
	// +kubebuilder:validation:MaxItems=8
	// +listType=atomic
	Packages []PackageList `json:"packages,omitempty"`

	// packageBucketRefs name PackageBuckets in this namespace whose packages are installed.
	// +optional
	// +kubebuilder:validation:MaxItems=32
	// +listType=map
	// +listMapKey=name
	PackageBucketRefs []LocalObjectReference `json:"packageBucketRefs,omitempty"`

	// scripts run in list order once the packages are installed. A script that finished
	// successfully does not run again until its content changes.
	// +optional
	// +kubebuilder:validation:MaxItems=64
	// +listType=map
	// +listMapKey=name
	Scripts []Script `json:"scripts,omitempty"`

	// files are managed files written into the container by config-sync.
	// +optional
	// +kubebuilder:validation:MaxItems=64
	// +listType=map
	// +listMapKey=path
	Files []ManagedFile `json:"files,omitempty"`

	// config is rendered into /etc/config-manager/config.env and given to every script.
	// Container config is added after it and wins on equal names.
	// +optional
	Config ConfigSource `json:"config,omitempty"`

	// services are the services the template promises; discovery must find each of them listening.
	// +optional
	// +kubebuilder:validation:MaxItems=64
	// +listType=map
	// +listMapKey=name
	Services []ServicePromise `json:"services,omitempty"`

	// snapshotBeforeChange takes a snapshot of each container before a change that restarts
	// it, runs a script again or changes its files. A container's own setting replaces it.
	// +optional
	SnapshotBeforeChange *SnapshotBeforeChange `json:"snapshotBeforeChange,omitempty"`

	// backup backs each container up on a schedule. A container's own setting replaces it.
	// +optional
	Backup *BackupSchedule `json:"backup,omitempty"`

	// firewall is each container's Proxmox firewall: switch, policies and rules. A
	// container's own firewall replaces it whole. Unset, the controller leaves the
	// containers' firewalls as they are.
	// +optional
	Firewall *Firewall `json:"firewall,omitempty"`

	// ha makes each container an HA resource of Proxmox's HA stack. A container's own
	// setting replaces it. A container whose powerState is Stopped gets HA state stopped
	// for a template's started.
	// +optional
	HA *HA `json:"ha,omitempty"`

	// pool is the Proxmox resource pool each container belongs to. A container's own
	// setting replaces it.
	// +optional
	Pool PoolID `json:"pool,omitempty"`

	// bake asks for the template to be baked: on each cluster and node its containers are
	// placed on, the controller provisions one container from it through all five phases and
	// turns it into a Proxmox template; new containers there are cloned from it and then get
	// only what differs per container. See docs/baked-templates.md.
	// +optional
	Bake *Bake `json:"bake,omitempty"`

	// application says the OCI image of osTemplate is an application image: no init system, no
	// SSH. Its containers run the entrypoint with the env given here, skip the guest phases
	// (config-manager, scripts, services) and are Ready when running. Unset, an OCI image is a
	// system image (systemd, sshd) that goes through the whole pipeline.
	// +optional
	Application *Application `json:"application,omitempty"`
}

// Bake is how a template is baked.
type Bake struct {
	// enabled turns baking on; false removes the template's bakes.
	// +required
	Enabled *bool `json:"enabled"`

	// clone is how containers are cloned from a bake: Auto makes a linked clone where the
	// bake's storage can, else a full one; Full always copies the whole disk, so the
	// container does not depend on the bake's base volume.
	// +optional
	// +kubebuilder:validation:Enum=Auto;Full
	Clone BakeClone `json:"clone,omitempty"`
}

// BakeClone is how containers are cloned from a bake.
type BakeClone string

const (
	BakeCloneAuto BakeClone = "Auto"
	BakeCloneFull BakeClone = "Full"
)

// BakeStatus is one bake of a template: a Proxmox template on one node of one cluster.
type BakeStatus struct {
	// cluster is the ProxmoxCluster of the bake.
	// +required
	Cluster string `json:"cluster"`
	// node is the Proxmox node the bake lives on.
	// +required
	Node string `json:"node"`
	// vmid is the bake's VMID.
	// +optional
	VMID int32 `json:"vmid,omitempty"`
	// templateHash is the template's content hash the bake was made from.
	// +required
	TemplateHash string `json:"templateHash"`
	// container is the LXCContainer that provisions the bake.
	// +required
	Container string `json:"container"`
	// ready says the bake is a Proxmox template new containers are cloned from.
	// +optional
	Ready bool `json:"ready,omitempty"`
}

// Application is how an application image runs.
type Application struct {
	// entrypoint replaces the image's entrypoint and command (Proxmox's entrypoint option): the
	// command and its arguments, separated by spaces. Unset keeps the image's.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=1024
	// +kubebuilder:validation:XValidation:rule="!self.matches('[\\x00-\\x1f\\x7f]')",message="entrypoint must not contain control characters"
	Entrypoint *string `json:"entrypoint,omitempty"`

	// env are the environment variables the entrypoint runs with (Proxmox's env option). They
	// replace the image's own environment, so name PATH here when the entrypoint needs it.
	// +optional
	// +kubebuilder:validation:MaxItems=64
	// +listType=map
	// +listMapKey=name
	Env []ApplicationEnv `json:"env,omitempty"`
}

// ApplicationEnv is one environment variable of an application container.
type ApplicationEnv struct {
	// name of the variable: letters, digits and _, not starting with a digit.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=128
	// +kubebuilder:validation:Pattern=`^[A-Za-z_][A-Za-z0-9_]*$`
	Name string `json:"name"`

	// value of the variable; no control characters other than tab.
	// +optional
	// +kubebuilder:validation:MaxLength=4096
	// +kubebuilder:validation:XValidation:rule="!self.matches('[\\x00-\\x08\\x0a-\\x1f\\x7f]')",message="env value must not contain control characters"
	Value string `json:"value,omitempty"`
}

// Tag is a Proxmox tag: letters, digits and _ - + . only.
// +kubebuilder:validation:MinLength=1
// +kubebuilder:validation:MaxLength=64
// +kubebuilder:validation:Pattern=`^[a-z0-9_][a-z0-9_+.-]*$`
type Tag string

// Features are the LXC features of a container.
type Features struct {
	// unprivileged runs the container with mapped user ids. Default true.
	// +optional
	// +kubebuilder:default=true
	Unprivileged *bool `json:"unprivileged,omitempty"`

	// nesting allows nested containers and is needed by recent systemd versions.
	// +optional
	Nesting bool `json:"nesting,omitempty"`

	// keyctl allows the keyctl() system call (for Docker in an unprivileged container).
	// +optional
	Keyctl bool `json:"keyctl,omitempty"`

	// fuse allows FUSE mounts.
	// +optional
	Fuse bool `json:"fuse,omitempty"`

	// mknod lets an unprivileged container create character and block device nodes (Proxmox
	// passes the mknod calls to the host to check them).
	// +optional
	Mknod bool `json:"mknod,omitempty"`

	// mount lists the file system types the container may mount, such as nfs or cifs
	// (Proxmox's mount=nfs;cifs).
	// +optional
	// +kubebuilder:validation:MaxItems=16
	// +listType=set
	Mount []FilesystemType `json:"mount,omitempty"`
}

// FilesystemType is a file system type as the mount command names it, such as nfs, cifs or ext4.
// +kubebuilder:validation:MinLength=1
// +kubebuilder:validation:MaxLength=32
// +kubebuilder:validation:Pattern=`^[a-z0-9_]+$`
type FilesystemType string

// Script is a provisioning script. It is uploaded as a file and run detached inside the container
// with the variables of config.env in its environment.
// +kubebuilder:validation:XValidation:rule="has(self.content) != has(self.configMapRef)",message="exactly one of content or configMapRef must be set"
type Script struct {
	// name identifies the script in status and in container.spec.scripts.skip.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([a-z0-9._-]*[a-z0-9])?$`
	Name string `json:"name"`

	// content is the script itself, with a #! line (default interpreter /bin/sh). An empty
	// script is refused: it would run as nothing and pass.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=262144
	Content *string `json:"content,omitempty"`

	// configMapRef takes the script from a key of a ConfigMap in this namespace.
	// +optional
	ConfigMapRef *KeySelector `json:"configMapRef,omitempty"`

	// timeoutSeconds stops the script after this long and counts it as failed. Default 600.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=86400
	TimeoutSeconds *int32 `json:"timeoutSeconds,omitempty"`

	// check is a shell command (run with bash -c) that exits 0 when what the script installs is
	// already in place; the script then does not run. It is checked again before the script
	// runs, after it ran (a script that leaves the check failing has failed), and whenever a
	// reconcile is requested with the reconcile-requested-at annotation.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=4096
	Check *string `json:"check,omitempty"`

	// env adds variables for this script only.
	// +optional
	// +kubebuilder:validation:MaxItems=64
	// +listType=map
	// +listMapKey=name
	Env []EnvVar `json:"env,omitempty"`
}

// FilePolicy says how config-sync treats a managed file that already exists.
// +kubebuilder:validation:Enum=replace;default;backup
type FilePolicy string

const (
	// FilePolicyReplace always writes the desired content.
	FilePolicyReplace FilePolicy = "replace"
	// FilePolicyDefault writes the file only when it is absent.
	FilePolicyDefault FilePolicy = "default"
	// FilePolicyBackup keeps a different existing file as <path>.bak, then writes the desired content.
	FilePolicyBackup FilePolicy = "backup"
)

// ManagedFile is a file config-sync keeps in the container.
// +kubebuilder:validation:XValidation:rule="(has(self.content) ? 1 : 0) + (has(self.secretRef) ? 1 : 0) + (has(self.configMapRef) ? 1 : 0) == 1",message="exactly one of content, secretRef or configMapRef must be set"
type ManagedFile struct {
	// path is the absolute path of the file in the container.
	// +required
	// +kubebuilder:validation:MinLength=2
	// +kubebuilder:validation:MaxLength=512
	// +kubebuilder:validation:Pattern=`^/[A-Za-z0-9._@+=,:~ -]+(/[A-Za-z0-9._@+=,:~ -]+)*$`
	// +kubebuilder:validation:XValidation:rule="!self.matches('(^|/)[.][.]?(/|$)')",message="path must not contain . or .. segments"
	// +kubebuilder:validation:XValidation:rule="!self.startsWith('/etc/config-manager/') && !self.startsWith('/var/lib/config-manager/')",message="path must not be inside the config-manager's own directories"
	// +kubebuilder:validation:XValidation:rule="!['/proc', '/sys', '/dev', '/run'].exists(d, self == d || self.startsWith(d + '/'))",message="path must not be inside /proc, /sys, /dev or /run"
	Path string `json:"path"`

	// content is the file's content; it is never empty (write a newline for an empty file).
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=1048576
	Content *string `json:"content,omitempty"`

	// secretRef takes the content from a key of a Secret in the container's namespace.
	// +optional
	SecretRef *KeySelector `json:"secretRef,omitempty"`

	// configMapRef takes the content from a key of a ConfigMap in the container's namespace.
	// +optional
	ConfigMapRef *KeySelector `json:"configMapRef,omitempty"`

	// mode is the octal file mode. Default 0644.
	// +optional
	// +kubebuilder:validation:Pattern=`^0?[0-7]{3}$`
	Mode string `json:"mode,omitempty"`

	// owner is user or user:group. Default root:root.
	// +optional
	// +kubebuilder:validation:MaxLength=65
	// +kubebuilder:validation:Pattern=`^[a-z_][a-z0-9_-]*(:[a-z_][a-z0-9_-]*)?$`
	Owner string `json:"owner,omitempty"`

	// policy is replace (always overwrite), default (write only when absent) or backup (keep
	// the old file as <path>.bak, then overwrite). Default replace.
	// +optional
	// +kubebuilder:default=replace
	Policy FilePolicy `json:"policy,omitempty"`
}

// ConfigSource is the environment rendered into config.env.
type ConfigSource struct {
	// env are variables set one by one.
	// +optional
	// +kubebuilder:validation:MaxItems=256
	// +listType=map
	// +listMapKey=name
	Env []EnvVar `json:"env,omitempty"`
}

// Protocol is a transport protocol.
// +kubebuilder:validation:Enum=TCP;UDP
type Protocol string

const (
	ProtocolTCP Protocol = "TCP"
	ProtocolUDP Protocol = "UDP"
)

// ServicePromise is a service a template promises to provide.
type ServicePromise struct {
	// name of the service, as shown in status.services.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([a-z0-9._-]*[a-z0-9])?$`
	Name string `json:"name"`

	// port the service listens on.
	// +required
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	Port int32 `json:"port"`

	// protocol is TCP or UDP. Default TCP.
	// +optional
	// +kubebuilder:default=TCP
	Protocol Protocol `json:"protocol,omitempty"`
}

// LXCTemplateStatus reports whether the template can be used.
type LXCTemplateStatus struct {
	// conditions: Ready says every reference resolves and the OS template was seen on a cluster.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// observedGeneration is the generation last reconciled.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// resolvedPackages are the packages of the template and its buckets, per manager.
	// +optional
	// +listType=atomic
	ResolvedPackages []ResolvedPackages `json:"resolvedPackages,omitempty"`

	// usedBy is the number of LXCContainers in the namespace that use the template.
	// +optional
	UsedBy int32 `json:"usedBy,omitempty"`

	// osTemplates are the volume ids osTemplate stands for on each node of the Ready clusters
	// allowed for the namespace: the volid itself, or for a short form the newest matching one.
	// +optional
	// +listType=atomic
	OSTemplates []ResolvedOSTemplate `json:"osTemplates,omitempty"`

	// templateHash is the hash of what the template makes a container of; a bake made from
	// another hash is outdated.
	// +optional
	TemplateHash string `json:"templateHash,omitempty"`

	// bakes are the template's bakes, by cluster and node.
	// +optional
	// +listType=atomic
	Bakes []BakeStatus `json:"bakes,omitempty"`
}

// ResolvedOSTemplate is the OS template volume a template uses on one node.
type ResolvedOSTemplate struct {
	// cluster is the ProxmoxCluster.
	Cluster string `json:"cluster"`
	// node of the cluster.
	Node string `json:"node"`
	// volid used on that node.
	VolID string `json:"volid"`
}

// ResolvedPackages are the packages one manager installs, merged from the template and its buckets.
type ResolvedPackages struct {
	// manager installs these packages.
	Manager PackageManager `json:"manager"`
	// names of the packages, in installation order without duplicates.
	// +listType=atomic
	Names []string `json:"names"`
}

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=lxct,categories=lxctm
// +kubebuilder:printcolumn:name="OS Template",type=string,JSONPath=`.spec.osTemplate`
// +kubebuilder:printcolumn:name="Used By",type=integer,JSONPath=`.status.usedBy`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Status",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].message`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`

// LXCTemplate describes what a container is; LXCContainers point at one.
type LXCTemplate struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec describes the containers made from this template.
	// +required
	Spec LXCTemplateSpec `json:"spec"`

	// status reports whether the template can be used.
	// +optional
	// +kubebuilder:default:={"observedGeneration":-1}
	Status LXCTemplateStatus `json:"status,omitempty"`
}

// GetConditions returns the status conditions.
func (in *LXCTemplate) GetConditions() []metav1.Condition { return in.Status.Conditions }

// SetConditions replaces the status conditions.
func (in *LXCTemplate) SetConditions(c []metav1.Condition) { in.Status.Conditions = c }

// +kubebuilder:object:root=true

// LXCTemplateList is a list of LXCTemplates.
type LXCTemplateList struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []LXCTemplate `json:"items"`
}

func init() {
	SchemeBuilder.Register(&LXCTemplate{}, &LXCTemplateList{})
}
