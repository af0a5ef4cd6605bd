package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// PowerState is the power state a container is kept in.
// +kubebuilder:validation:Enum=Running;Stopped
type PowerState string

const (
	PowerStateRunning PowerState = "Running"
	PowerStateStopped PowerState = "Stopped"
)

// DeletionPolicy says what happens to the Proxmox container when its LXCContainer is deleted.
// +kubebuilder:validation:Enum=Delete;Retain
type DeletionPolicy string

const (
	// DeletionPolicyDelete stops and destroys (purges) the Proxmox container.
	DeletionPolicyDelete DeletionPolicy = "Delete"
	// DeletionPolicyRetain leaves the Proxmox container as it is.
	DeletionPolicyRetain DeletionPolicy = "Retain"
)

// UpdateStrategy says what happens when the spec asks for a change Proxmox cannot make to an
// existing container (its OS template, its root disk's storage, unprivileged).
// +kubebuilder:validation:Enum=InPlace;Recreate
type UpdateStrategy string

const (
	// UpdateStrategyInPlace changes what Proxmox can change in place and stalls with reason
	// RecreateRequired, naming the fields, on what it cannot.
	UpdateStrategyInPlace UpdateStrategy = "InPlace"
	// UpdateStrategyRecreate destroys the container and creates it again from the spec, then
	// runs the whole pipeline anew. Data on the root disk is lost; mount points are lost too.
	UpdateStrategyRecreate UpdateStrategy = "Recreate"
)

// StartupOrder orders a container's start and shutdown when its node boots and shuts down.
type StartupOrder struct {
	// order: containers with a lower order start first and stop last.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100000
	Order *int32 `json:"order,omitempty"`

	// upDelaySeconds is how long to wait after this container started before starting the next.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=86400
	UpDelaySeconds *int32 `json:"upDelaySeconds,omitempty"`

	// downDelaySeconds is how long to wait for this container to stop at shutdown.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=86400
	DownDelaySeconds *int32 `json:"downDelaySeconds,omitempty"`
}

// SSHPublicKey is one OpenSSH public key line: type, base64 key and an optional comment.
// +kubebuilder:validation:MinLength=16
// +kubebuilder:validation:MaxLength=16384
// +kubebuilder:validation:Pattern=`^(ssh-ed25519|ssh-rsa|ssh-dss|ecdsa-sha2-nistp256|ecdsa-sha2-nistp384|ecdsa-sha2-nistp521|sk-ssh-ed25519@openssh\.com|sk-ecdsa-sha2-nistp256@openssh\.com) [A-Za-z0-9+/]+={0,3}( [^\r\n]*)?$`
type SSHPublicKey string

// LXCContainerSpec is a container to provision from a template.
// +kubebuilder:validation:XValidation:rule="!has(oldSelf.vmid) || (has(self.vmid) && self.vmid == oldSelf.vmid)",message="vmid cannot be changed once set",fieldPath=".vmid"
// +kubebuilder:validation:XValidation:rule="!has(self.ha) || !has(self.ha.state) || self.ha.state != 'stopped' || (has(self.powerState) && self.powerState == 'Stopped')",message="ha.state stopped needs powerState Stopped: the HA stack keeps the container's power",fieldPath=".ha.state"
// +kubebuilder:validation:XValidation:rule="!has(self.ha) || (has(self.ha.state) && self.ha.state != 'started') || !has(self.powerState) || self.powerState == 'Running'",message="ha.state started needs powerState Running: the HA stack keeps the container's power",fieldPath=".ha.state"
// +kubebuilder:validation:XValidation:rule="!has(self.node) || !has(self.ha) || !has(self.ha.nodes) || self.ha.nodes.exists(n, n.name == self.node)",message="node must be one of ha.nodes: the HA stack places the container on them",fieldPath=".node"
// +kubebuilder:validation:XValidation:rule="!has(self.restoreFrom) || has(oldSelf.restoreFrom)",message="restoreFrom is read only when the container is created; it cannot be added later",fieldPath=".restoreFrom"
type LXCContainerSpec struct {
	// clusterRef names the ProxmoxCluster the container lives on. It cannot be changed.
	// +required
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="clusterRef cannot be changed"
	ClusterRef ClusterReference `json:"clusterRef"`

	// templateRef names the LXCTemplate in this namespace the container is made from.
	// +required
	TemplateRef LocalObjectReference `json:"templateRef"`

	// node is the Proxmox node to create the container on. When unset, the online node with the
	// most free memory is chosen and recorded in status.node. Changing it migrates the container
	// to the new node (a restart migration, or through HA for an HA-managed container); a
	// container moved outside the controller is followed to its node, and moved back only when
	// a later change of the spec asks for it.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?$`
	Node string `json:"node,omitempty"`

	// vmid is the Proxmox VMID (100–999999999). When unset, the next free one is allocated and
	// recorded in status.vmid.
	// +optional
	// +kubebuilder:validation:Minimum=100
	// +kubebuilder:validation:Maximum=999999999
	VMID *int32 `json:"vmid,omitempty"`

	// hostname of the container: a DNS label. Default metadata.name.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([a-z0-9-]*[a-z0-9])?$`
	Hostname string `json:"hostname,omitempty"`

	// resources override the template's resources field by field.
	// +optional
	Resources *Resources `json:"resources,omitempty"`

	// storage overrides the template's storage.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:Pattern=`^[A-Za-z][A-Za-z0-9_.-]*$`
	Storage string `json:"storage,omitempty"`

	// network overrides the template's network field by field.
	// +optional
	Network *Network `json:"network,omitempty"`

	// rootPasswordSecretRef selects the root password. When unset, a 16-character password is
	// generated into the Secret <name>-root-password, key password.
	// +optional
	RootPasswordSecretRef *KeySelector `json:"rootPasswordSecretRef,omitempty"`

	// sshPublicKeys are authorized for root, beside the controller's own key.
	// +optional
	// +kubebuilder:validation:MaxItems=32
	// +listType=atomic
	SSHPublicKeys []SSHPublicKey `json:"sshPublicKeys,omitempty"`

	// packages adjust the template's packages.
	// +optional
	Packages *ContainerPackages `json:"packages,omitempty"`

	// scripts adjust the template's scripts.
	// +optional
	Scripts *ContainerScripts `json:"scripts,omitempty"`

	// config adds to the template's config.env.
	// +optional
	Config *ContainerConfig `json:"config,omitempty"`

	// powerState is Running or Stopped. Default Running.
	// +optional
	// +kubebuilder:default=Running
	PowerState PowerState `json:"powerState,omitempty"`

	// deletionPolicy is Delete (stop and destroy the Proxmox container) or Retain (leave it).
	// Default Delete.
	// +optional
	// +kubebuilder:default=Delete
	DeletionPolicy DeletionPolicy `json:"deletionPolicy,omitempty"`

	// updateStrategy is InPlace (default: a change Proxmox cannot make in place stalls with
	// reason RecreateRequired) or Recreate (the container is destroyed and created again, and
	// the data on its disks is lost).
	// +optional
	// +kubebuilder:default=InPlace
	UpdateStrategy UpdateStrategy `json:"updateStrategy,omitempty"`

	// onBoot starts the container when its node boots. Default: true unless powerState is Stopped.
	// +optional
	OnBoot *bool `json:"onBoot,omitempty"`

	// startup orders the container's start and shutdown at node boot.
	// +optional
	Startup *StartupOrder `json:"startup,omitempty"`

	// protection keeps the container from being destroyed, and its disks from being changed,
	// through Proxmox. The controller lifts it itself when it deletes the container.
	// +optional
	Protection bool `json:"protection,omitempty"`

	// mountPoints are volumes mounted into the container beside the template's; one with the
	// index of a template's mount point replaces it. They grow like the root disk and cannot
	// shrink; one removed from the spec is detached and its volume kept, unused, in Proxmox.
	// +optional
	// +kubebuilder:validation:MaxItems=16
	// +listType=map
	// +listMapKey=index
	// +kubebuilder:validation:XValidation:rule="self.all(m, self.exists_one(o, o.path == m.path))",message="mount point paths must be unique"
	MountPoints []MountPoint `json:"mountPoints,omitempty"`

	// devices are device nodes of the Proxmox node passed through into the container beside
	// the template's; one with the path of a template's device replaces it.
	// +optional
	// +kubebuilder:validation:MaxItems=16
	// +listType=map
	// +listMapKey=path
	Devices []Device `json:"devices,omitempty"`

	// restoreFrom makes the container from a backup instead of the template's OS template:
	// its data comes back, then the pipeline makes it match the spec. Only read when the
	// container is created; it cannot be changed.
	// +optional
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="restoreFrom cannot be changed"
	RestoreFrom *RestoreSource `json:"restoreFrom,omitempty"`

	// snapshotBeforeChange takes an LXCSnapshot (or, where snapshots are unsupported, an
	// LXCBackup) before a change that restarts the container, runs a script again or changes
	// its files. It replaces the template's.
	// +optional
	SnapshotBeforeChange *SnapshotBeforeChange `json:"snapshotBeforeChange,omitempty"`

	// backup backs the container up on a schedule and prunes the scheduled backups. It
	// replaces the template's.
	// +optional
	Backup *BackupSchedule `json:"backup,omitempty"`

	// firewall is the container's Proxmox firewall: switch, policies and rules. It replaces
	// the template's whole. When neither sets one, the controller leaves the container's
	// firewall as it is.
	// +optional
	Firewall *Firewall `json:"firewall,omitempty"`

	// ha makes the container an HA resource of Proxmox's HA stack. It replaces the
	// template's. While it is set with state started or stopped, the container's power is
	// the HA state's: powerState must say the same. Removing it removes the HA resource.
	// +optional
	HA *HA `json:"ha,omitempty"`

	// pool is the Proxmox resource pool the container belongs to; the pool must exist. It
	// replaces the template's. Changing it moves the container to the new pool; removing it
	// takes the container out of the pool.
	// +optional
	Pool PoolID `json:"pool,omitempty"`
}

// ClusterReference names a ProxmoxCluster.
type ClusterReference struct {
	// name of the ProxmoxCluster.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$`
	Name string `json:"name"`
}

// ContainerPackages adjust the packages a container gets from its template.
type ContainerPackages struct {
	// excludeBuckets names template package buckets not to install.
	// +optional
	// +kubebuilder:validation:MaxItems=32
	// +listType=set
	// +kubebuilder:validation:items:MaxLength=253
	// +kubebuilder:validation:items:Pattern=`^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$`
	ExcludeBuckets []string `json:"excludeBuckets,omitempty"`

	// extra are packages installed in addition to the template's.
	// +optional
	// +kubebuilder:validation:MaxItems=8
	// +listType=atomic
	Extra []PackageList `json:"extra,omitempty"`
}

// ContainerScripts adjust the scripts a container runs.
type ContainerScripts struct {
	// skip names template scripts not to run.
	// +optional
	// +kubebuilder:validation:MaxItems=64
	// +listType=set
	// +kubebuilder:validation:items:MaxLength=63
	// +kubebuilder:validation:items:Pattern=`^[a-z0-9]([a-z0-9._-]*[a-z0-9])?$`
	Skip []string `json:"skip,omitempty"`
}

// ContainerConfig adds to the template's config.env; its variables win over the template's.
type ContainerConfig struct {
	// env are variables set one by one.
	// +optional
	// +kubebuilder:validation:MaxItems=256
	// +listType=map
	// +listMapKey=name
	Env []EnvVar `json:"env,omitempty"`

	// envFrom takes every key of a ConfigMap or Secret in this namespace as a variable. Later
	// sources win; env wins over all of them.
	// +optional
	// +kubebuilder:validation:MaxItems=16
	// +listType=atomic
	EnvFrom []EnvFromSource `json:"envFrom,omitempty"`
}

// EnvFromSource is a ConfigMap or Secret whose keys become variables.
// +kubebuilder:validation:XValidation:rule="has(self.configMapRef) != has(self.secretRef)",message="exactly one of configMapRef or secretRef must be set"
type EnvFromSource struct {
	// prefix is put before every key.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:Pattern=`^[A-Za-z_][A-Za-z0-9_]*$`
	Prefix string `json:"prefix,omitempty"`

	// configMapRef names a ConfigMap in this namespace.
	// +optional
	ConfigMapRef *LocalObjectReference `json:"configMapRef,omitempty"`

	// secretRef names a Secret in this namespace.
	// +optional
	SecretRef *LocalObjectReference `json:"secretRef,omitempty"`
}

// ScriptStatus is the outcome of one script.
type ScriptStatus struct {
	// name of the script.
	Name string `json:"name"`
	// hash of the script content that ran (sha256, hex).
	// +optional
	Hash string `json:"hash,omitempty"`
	// exitCode of the script; unset while it runs.
	// +optional
	ExitCode *int32 `json:"exitCode,omitempty"`
	// startedAt is when the script started.
	// +optional
	StartedAt *metav1.Time `json:"startedAt,omitempty"`
	// finishedAt is when the script finished.
	// +optional
	FinishedAt *metav1.Time `json:"finishedAt,omitempty"`
	// outputTail holds the last lines of the script's output.
	// +optional
	OutputTail string `json:"outputTail,omitempty"`
}

// DiscoveredService is a service found listening in the container.
type DiscoveredService struct {
	// name of the service: the promised name, else the systemd unit without .service, else the process.
	Name string `json:"name"`
	// port the service listens on.
	Port int32 `json:"port"`
	// protocol is TCP or UDP.
	Protocol Protocol `json:"protocol"`
	// address the socket is bound to, such as 0.0.0.0 or 127.0.0.1.
	// +optional
	Address string `json:"address,omitempty"`
	// process is the name of the listening process.
	// +optional
	Process string `json:"process,omitempty"`
	// unit is the systemd unit the process belongs to.
	// +optional
	Unit string `json:"unit,omitempty"`
	// url reaches the service from outside the container.
	// +optional
	URL string `json:"url,omitempty"`
}

// LXCContainerStatus is the observed state of a container.
type LXCContainerStatus struct {
	// phase summarises progress for printing only; use conditions in automation.
	// +optional
	Phase string `json:"phase,omitempty"`

	// conditions: Ready, Reconciling, Stalled, and one per phase: ContainerCreated,
	// ContainerStarted, ConfigManagerDeployed, ScriptsCompleted, ServicesDiscovered.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// observedGeneration is the last generation that finished (Ready or Stalled).
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// vmid of the Proxmox container.
	// +optional
	VMID int32 `json:"vmid,omitempty"`

	// node the container lives on.
	// +optional
	Node string `json:"node,omitempty"`

	// osTemplate is the volume id of the OS template the container was created from: the
	// template's osTemplate, or the volume its short form resolved to on the node.
	// +optional
	OSTemplate string `json:"osTemplate,omitempty"`

	// ociImage is the OCI image the container was created from, pinned by digest, when its
	// template's osTemplate is an oci:// reference.
	// +optional
	OCIImage *PinnedOCIImage `json:"ociImage,omitempty"`

	// ipAddress of eth0.
	// +optional
	IPAddress string `json:"ipAddress,omitempty"`

	// operation is the work in flight: a Proxmox task UPID or an SSH run id.
	// +optional
	Operation string `json:"operation,omitempty"`

	// scripts are the outcomes of the template's scripts, in order.
	// +optional
	// +listType=map
	// +listMapKey=name
	Scripts []ScriptStatus `json:"scripts,omitempty"`

	// services are the services discovered in the container.
	// +optional
	// +listType=atomic
	Services []DiscoveredService `json:"services,omitempty"`

	// credentialsSecretRef names the Secret that holds what scripts wrote to
	// /etc/config-manager/credentials.
	// +optional
	CredentialsSecretRef *LocalObjectReference `json:"credentialsSecretRef,omitempty"`

	// rootPasswordSecretRef selects the root password in use.
	// +optional
	RootPasswordSecretRef *KeySelector `json:"rootPasswordSecretRef,omitempty"`

	// sshHostKey is the pinned SHA256 fingerprint of the container's SSH host key.
	// +optional
	SSHHostKey string `json:"sshHostKey,omitempty"`

	// clonedFrom is the VMID of the template's bake this container was cloned from; zero
	// for a container built from the OS template.
	// +optional
	ClonedFrom int32 `json:"clonedFrom,omitempty"`

	// baked says this container is its template's bake and has been made a Proxmox template.
	// +optional
	Baked bool `json:"baked,omitempty"`

	// sshKeyFingerprint is the SHA256 fingerprint of the controller's SSH key the container
	// trusts: the cluster's current key, or during a key rotation the key being replaced.
	// +optional
	SSHKeyFingerprint string `json:"sshKeyFingerprint,omitempty"`

	// configHash identifies the config-manager bundle last deployed.
	// +optional
	ConfigHash string `json:"configHash,omitempty"`

	// packagesHash identifies the package set last installed.
	// +optional
	PackagesHash string `json:"packagesHash,omitempty"`

	// lastHandledReconcileAt is the value of the reconcile-requested-at annotation last handled.
	// +optional
	LastHandledReconcileAt string `json:"lastHandledReconcileAt,omitempty"`

	// lastHandledRestartAt is the value of the restart-requested-at annotation last handled:
	// the container was restarted after it was set, or was left stopped as spec.powerState asks.
	// +optional
	LastHandledRestartAt string `json:"lastHandledRestartAt,omitempty"`

	// restartRequestInFlight is the value of the restart-requested-at annotation that the reboot
	// or start in status.operation meets; it becomes lastHandledRestartAt when that task succeeds.
	// +optional
	RestartRequestInFlight string `json:"restartRequestInFlight,omitempty"`

	// appliedConfigHash identifies the Proxmox configuration (resources, network, features,
	// mount points, options) last applied to the container.
	// +optional
	AppliedConfigHash string `json:"appliedConfigHash,omitempty"`

	// restartPending names the settings that reach the guest only when the container starts
	// again (Proxmox keeps them pending on a running container); the controller restarts it.
	// +optional
	// +listType=set
	RestartPending []string `json:"restartPending,omitempty"`

	// pendingWritten names the settings the controller itself wrote that Proxmox keeps pending
	// until the container's next start. Only these restart a running container: a setting
	// someone else left pending waits for a start that happens anyway.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=256
	PendingWritten []string `json:"pendingWritten,omitempty"`

	// restartedFor is the last restart the controller made to apply pending settings. It
	// restarts a container at most once for the same generation and settings: settings still
	// pending after that restart could not be applied at the start, and stall with
	// PendingNotApplied.
	// +optional
	RestartedFor *PendingRestart `json:"restartedFor,omitempty"`

	// rootPasswordVersion is the resourceVersion of the root password Secret last set in the guest.
	// +optional
	RootPasswordVersion string `json:"rootPasswordVersion,omitempty"`

	// appliedFirewallHash identifies the firewall (switch, policies, rules) last made the
	// container's in Proxmox; empty when the spec sets none.
	// +optional
	AppliedFirewallHash string `json:"appliedFirewallHash,omitempty"`

	// appliedHA is the HA state last made the container's HA resource ("" when the
	// controller made none).
	// +optional
	AppliedHA string `json:"appliedHA,omitempty"`

	// pool is the Proxmox pool the controller last put the container in.
	// +optional
	Pool string `json:"pool,omitempty"`

	// authorizedKeysHash identifies the spec's SSH public keys last written into the guest.
	// +optional
	AuthorizedKeysHash string `json:"authorizedKeysHash,omitempty"`

	// retry counts the consecutive failed attempts and says when the next one is due.
	// +optional
	Retry *RetryStatus `json:"retry,omitempty"`

	// backup records the backup schedule's runs.
	// +optional
	Backup *BackupScheduleStatus `json:"backup,omitempty"`

	// changeProtection records the way back taken before the change in progress
	// (snapshotBeforeChange).
	// +optional
	ChangeProtection *ChangeProtectionStatus `json:"changeProtection,omitempty"`
}

// ChangeProtectionStatus is the way back of a change: what the container was last Ready with,
// and the snapshot (or backup) taken before it changed.
type ChangeProtectionStatus struct {
	// appliedKey identifies the configuration, files and scripts the container was last Ready with.
	// +optional
	AppliedKey string `json:"appliedKey,omitempty"`
	// key identifies the change the way back was taken for.
	// +optional
	Key string `json:"key,omitempty"`
	// snapshot names the LXCSnapshot taken before the change.
	// +optional
	Snapshot string `json:"snapshot,omitempty"`
	// backup names the LXCBackup taken instead where snapshots are unsupported.
	// +optional
	Backup string `json:"backup,omitempty"`
	// rolledBack is the failure the change was rolled back for. The container stays as it was
	// before the change until the spec (or its template) changes again, or a reconcile is
	// requested.
	// +optional
	RolledBack string `json:"rolledBack,omitempty"`
}

// BackupScheduleStatus records the runs of a container's backup schedule.
type BackupScheduleStatus struct {
	// lastScheduleTime is the slot of the schedule the last scheduled backup was made for.
	// +optional
	LastScheduleTime *metav1.Time `json:"lastScheduleTime,omitempty"`
	// lastBackup names the LXCBackup made for that slot.
	// +optional
	LastBackup string `json:"lastBackup,omitempty"`
	// lastSuccessfulTime is when the newest Ready backup of the container finished.
	// +optional
	LastSuccessfulTime *metav1.Time `json:"lastSuccessfulTime,omitempty"`
}

// PendingRestart is a restart made to apply settings Proxmox kept pending.
type PendingRestart struct {
	// generation of the spec the restart applied.
	Generation int64 `json:"generation"`
	// settings the restart was for (Proxmox option names, e.g. mp0, nameserver).
	// +listType=set
	// +kubebuilder:validation:MaxItems=256
	Settings []string `json:"settings"`
}

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=lxcc,categories=lxctm
// +kubebuilder:printcolumn:name="Template",type=string,JSONPath=`.spec.templateRef.name`
// +kubebuilder:printcolumn:name="Node",type=string,JSONPath=`.status.node`
// +kubebuilder:printcolumn:name="VMID",type=integer,JSONPath=`.status.vmid`
// +kubebuilder:printcolumn:name="IP",type=string,JSONPath=`.status.ipAddress`
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Status",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].message`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:validation:XValidation:rule="has(self.spec.hostname) || self.metadata.name.matches('^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$')",message="spec.hostname is required when metadata.name is not a DNS label"

// LXCContainer is a Proxmox LXC container provisioned from an LXCTemplate.
type LXCContainer struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the desired container.
	// +required
	Spec LXCContainerSpec `json:"spec"`

	// status is the observed container.
	// +optional
	// +kubebuilder:default:={"observedGeneration":-1}
	Status LXCContainerStatus `json:"status,omitempty"`
}

// GetConditions returns the status conditions.
func (in *LXCContainer) GetConditions() []metav1.Condition { return in.Status.Conditions }

// SetConditions replaces the status conditions.
func (in *LXCContainer) SetConditions(c []metav1.Condition) { in.Status.Conditions = c }

// +kubebuilder:object:root=true

// LXCContainerList is a list of LXCContainers.
type LXCContainerList struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []LXCContainer `json:"items"`
}

func init() {
	SchemeBuilder.Register(&LXCContainer{}, &LXCContainerList{})
}

// PinnedOCIImage is an OCI image reference and the manifest digest its tag had when pulled.
type PinnedOCIImage struct {
	// reference is REGISTRY/IMAGE:TAG, as in the template's osTemplate without oci://.
	Reference string `json:"reference"`
	// digest of the image manifest (sha256:…) the tag resolved to.
	// +optional
	Digest string `json:"digest,omitempty"`
	// volid is the oci-archive on the node's storage the container was created from; its name
	// carries the digest, so a new digest of the same tag never meets an existing file.
	// +optional
	Volid string `json:"volid,omitempty"`
}
