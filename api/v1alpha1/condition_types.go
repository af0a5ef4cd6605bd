package v1alpha1

// Condition types. Ready is the summary; Reconciling and Stalled follow kstatus and are present
// only while true; the five phase conditions of an LXCContainer record the pipeline's progress.
const (
	// ReadyCondition is True when the object is what its spec asks for.
	ReadyCondition = "Ready"
	// ReconcilingCondition is True while the controller works towards the spec.
	ReconcilingCondition = "Reconciling"
	// StalledCondition is True when the controller cannot make progress without a change to the
	// spec or to something it references.
	StalledCondition = "Stalled"

	// ContainerCreatedCondition is True once the Proxmox container exists.
	ContainerCreatedCondition = "ContainerCreated"
	// ContainerStartedCondition is True while the container runs and its address is known.
	ContainerStartedCondition = "ContainerStarted"
	// ConfigManagerDeployedCondition is True once config-manager is installed and its last run
	// succeeded for the current configuration.
	ConfigManagerDeployedCondition = "ConfigManagerDeployed"
	// ScriptsCompletedCondition is True once the packages are installed and every script exited 0.
	ScriptsCompletedCondition = "ScriptsCompleted"
	// ServicesDiscoveredCondition is True once the listening services were read and every promised
	// service was found.
	ServicesDiscoveredCondition = "ServicesDiscovered"
)

// Condition reasons. Events about a transition carry the same reason as the condition.
const (
	// SucceededReason: the step finished.
	SucceededReason = "Succeeded"
	// ApplicationImageReason: the container runs an OCI application image (no init, no SSH),
	// so the guest phases have nothing to do.
	ApplicationImageReason = "ApplicationImage"
	// ProgressingReason: the controller is working on the step.
	ProgressingReason = "Progressing"
	// DependencyNotReadyReason: a referenced object is missing or not Ready.
	DependencyNotReadyReason = "DependencyNotReady"
	// InvalidSpecReason: the spec cannot be carried out as written.
	InvalidSpecReason = "InvalidSpec"

	// RootRequiredReason: the spec asks for what Proxmox lets only root@pam set (feature flags
	// other than nesting, a privileged container), and the cluster signs in with an API token or
	// another user. It is the container's stall, never the cluster's failure.
	RootRequiredReason = "RootRequired"
	// AuthenticationFailedReason: Proxmox refused the credentials.
	AuthenticationFailedReason = "AuthenticationFailed"
	// CredentialsNotFoundReason: the referenced credentials Secret or one of its keys is missing.
	CredentialsNotFoundReason = "CredentialsNotFound"
	// CredentialsNamespaceNotAllowedReason: a ProxmoxCluster references a Secret outside the
	// controller's namespace, and the manager was not started with a flag that allows it.
	CredentialsNamespaceNotAllowedReason = "CredentialsNamespaceNotAllowed"
	// TLSFailedReason: the Proxmox certificate could not be verified.
	TLSFailedReason = "TLSFailed"
	// UnreachableReason: the Proxmox API did not answer.
	UnreachableReason = "Unreachable"
	// ProxmoxErrorReason: Proxmox answered with an error.
	ProxmoxErrorReason = "ProxmoxError"
	// PolicyViolationReason: the container asks for what its ProxmoxCluster's spec.policy does
	// not allow; the message names the rule and the field. Nothing is created or changed.
	PolicyViolationReason = "PolicyViolation"
	// NamespaceNotAllowedReason: the cluster's allowedNamespaces excludes the container's namespace.
	NamespaceNotAllowedReason = "NamespaceNotAllowed"

	// PackageBucketNotFoundReason: a referenced PackageBucket does not exist.
	PackageBucketNotFoundReason = "PackageBucketNotFound"
	// OSTemplateNotFoundReason: no cluster lists the template's OS template.
	OSTemplateNotFoundReason = "OSTemplateNotFound"

	// CreatingReason: the Proxmox create task runs.
	CreatingReason = "Creating"
	// CloningReason: the Proxmox clone task makes the container from its template's bake.
	CloningReason = "Cloning"
	// BakingReason: a template's bake is being stopped and made a Proxmox template.
	BakingReason = "Baking"
	// BakedReason: a template's bake became a Proxmox template.
	BakedReason = "Baked"
	// HostKeysRegeneratedReason: a cloned container's SSH host keys, copied from the bake,
	// were made anew.
	HostKeysRegeneratedReason = "HostKeysRegenerated"
	// AdoptedReason: a container carrying this object's marker was found and taken over.
	AdoptedReason = "Adopted"
	// VMIDConflictReason: the VMID is held by a container the controller does not own.
	VMIDConflictReason = "VMIDConflict"
	// NoNodeAvailableReason: no online node can take the container.
	NoNodeAvailableReason = "NoNodeAvailable"
	// TaskWarningsReason: a Proxmox task succeeded but logged warnings (exit status "WARNINGS: n").
	TaskWarningsReason = "TaskWarnings"
	// TaskFailedReason: a Proxmox task ended with an error.
	TaskFailedReason = "TaskFailed"
	// StartingReason: the start task runs.
	StartingReason = "Starting"
	// DriftCorrectedReason: a change made to the container outside the controller (its power
	// state, resources) was set back to the spec.
	DriftCorrectedReason = "DriftCorrected"
	// ResizingReason: a resize task grows the root disk.
	ResizingReason = "Resizing"
	// RecreateRequiredReason: the spec asks for a change Proxmox cannot make to an existing
	// container, and updateStrategy is InPlace.
	RecreateRequiredReason = "RecreateRequired"
	// MigratingReason: the container moves to the node spec.node names (a restart migration, or
	// through HA for an HA-managed container).
	MigratingReason = "Migrating"
	// NodeOfflineReason: spec.node names a node that is not online; the container stays where
	// it is until the node is back.
	NodeOfflineReason = "NodeOffline"
	// NodeMaintenanceReason: spec.node names a node the HA manager has in maintenance mode
	// (ha-manager crm-command node-maintenance enable), which takes no new guests; the new
	// container, or the one to move there, waits until the node leaves maintenance.
	NodeMaintenanceReason = "NodeMaintenance"
	// RecreatingReason: the container is destroyed to be created again (updateStrategy Recreate).
	RecreatingReason = "Recreating"
	// ConfigChangedReason: the spec's new settings were written into the Proxmox container.
	ConfigChangedReason = "ConfigChanged"
	// RestartingReason: the container restarts to take settings Proxmox applies only at a start,
	// or as its restart-requested-at annotation asks.
	RestartingReason = "Restarting"
	// RestartedReason: the container was restarted (or started) as its restart-requested-at
	// annotation asked; the Event names the request.
	RestartedReason = "Restarted"
	// PendingNotAppliedReason: settings the controller wrote are still pending after the restart
	// made to apply them: Proxmox could not apply them at the start (its task log says why, e.g.
	// a volume that could not be allocated). The container is not restarted again for them;
	// change the spec (or fix the cause and request a reconcile) to try again.
	PendingNotAppliedReason = "PendingNotApplied"
	// ConfigConflictReason: the container's configuration changed between read and write.
	ConfigConflictReason = "ConfigConflict"
	// DiskShrinkRefusedReason: the spec asks for a smaller disk than the container has; Proxmox
	// cannot shrink a disk.
	DiskShrinkRefusedReason = "DiskShrinkRefused"
	// StoppedAfterStartReason: the container stopped again right after a start that succeeded —
	// its init died at boot, like a Pod in CrashLoopBackOff. The console log on the node says why.
	StoppedAfterStartReason = "StoppedAfterStart"
	// WaitingForAddressReason: the container runs but has no IPv4 address yet.
	WaitingForAddressReason = "WaitingForAddress"
	// StoppedReason: the container is stopped as its powerState asks.
	StoppedReason = "Stopped"
	// SSHUnreachableReason: the container does not accept SSH connections yet.
	SSHUnreachableReason = "SSHUnreachable"
	// ConnectingReason: the SSH connection to the guest is being opened in the background (the
	// guest may still be booting); the dial's end wakes the container.
	ConnectingReason = "Connecting"
	// AddressConflictReason: the container's address is another's: the machine answering there
	// is not this container (its eth0 MAC address is not net0's), or another container holds
	// the static address; nothing is run there.
	AddressConflictReason = "AddressConflict"
	// UnsupportedGuestReason: the guest lacks what config-manager needs (systemd as init, bash).
	UnsupportedGuestReason = "UnsupportedGuest"
	// SSHKeyLostReason: the container trusts a controller SSH key that the controller's key
	// Secret no longer holds.
	SSHKeyLostReason = "SSHKeyLost"
	// HostKeyMismatchReason: the container's SSH host key differs from the pinned one.
	HostKeyMismatchReason = "HostKeyMismatch"
	// HostKeyAcceptedReason: a changed SSH host key was pinned as the accept-host-key
	// annotation asked.
	HostKeyAcceptedReason = "HostKeyAccepted"
	// ConfigSyncFailedReason: config-manager.service failed.
	ConfigSyncFailedReason = "ConfigSyncFailed"
	// PackagesFailedReason: installing packages failed.
	PackagesFailedReason = "PackagesFailed"
	// ScriptRunningReason: a script runs.
	ScriptRunningReason = "ScriptRunning"
	// WaitingForScriptReason: a change that restarts, resizes, stops or recreates the container
	// waits for the script (or package install) running in it to end, so the script is not
	// killed and run again; the message names both.
	WaitingForScriptReason = "WaitingForScript"
	// ScriptFailedReason: a script exited non-zero or timed out.
	ScriptFailedReason = "ScriptFailed"
	// ServicesMissingReason: a promised service was not found listening.
	ServicesMissingReason = "ServicesMissing"
	// InUseReason: a ProxmoxCluster being deleted still has LXCContainers; it stays until they
	// are gone, so their Proxmox containers can still be destroyed.
	InUseReason = "InUse"
	// DeletingReason: the Proxmox container is being stopped and destroyed.
	DeletingReason = "Deleting"

	// ContainerNotFoundReason: the LXCContainer a snapshot, backup or restore names does not
	// exist, or has no Proxmox container yet.
	ContainerNotFoundReason = "ContainerNotFound"
	// SnapshotUnsupportedReason: a volume of the container is on storage that cannot take
	// snapshots (a dir storage, a bind mount); the message names the volume.
	SnapshotUnsupportedReason = "SnapshotUnsupported"
	// SnapshottingReason: the snapshot task runs.
	SnapshottingReason = "Snapshotting"
	// BackingUpReason: the vzdump task runs.
	BackingUpReason = "BackingUp"
	// RestoringReason: the container is rolled back to a snapshot or made again from a backup.
	RestoringReason = "Restoring"
	// SourceMismatchReason: a restore's snapshot or backup belongs to another container.
	SourceMismatchReason = "SourceMismatch"
	// RolledBackReason: a change failed and the container was rolled back to the snapshot
	// taken before it; the spec is unchanged and the message names the failure.
	RolledBackReason = "RolledBack"
)

// Reasons of Events that announce a change and set no condition.
const (
	// ContainerVanishedReason: a container that was created is gone from Proxmox; it is created again.
	ContainerVanishedReason = "ContainerVanished"
	// RetainedReason: the LXCContainer was deleted and its Proxmox container left in place, as
	// deletionPolicy Retain asks.
	RetainedReason = "Retained"
	// DestroyedReason: the Proxmox container of a deleted LXCContainer is gone.
	DestroyedReason = "Destroyed"
	// AuthorizedKeysChangedReason: root's authorized SSH keys in the guest were set to spec.sshPublicKeys.
	AuthorizedKeysChangedReason = "AuthorizedKeysChanged"
	// RootPasswordChangedReason: root's password in the guest was set from its Secret.
	RootPasswordChangedReason = "RootPasswordChanged"
	// CredentialsProblemReason: a credentials file a script left could not be read, or clashes
	// with another; the readable keys are still stored.
	CredentialsProblemReason = "CredentialsProblem"
	// SSHKeyRotatedReason: the guest now trusts the controller's new SSH key and no longer the old one.
	SSHKeyRotatedReason = "SSHKeyRotated"
	// AddressChangedReason: the DHCP lease of the container moved to another address.
	AddressChangedReason = "AddressChanged"
	// MovedReason: the container runs on another node than status.node says (HA relocated it,
	// or someone migrated it); status.node now follows it there.
	MovedReason = "Moved"
	// RestoredReason: the container was rolled back to a snapshot or made again from a backup.
	RestoredReason = "Restored"
	// BackupScheduledReason: the backup schedule created an LXCBackup.
	BackupScheduledReason = "BackupScheduled"
	// BackupsPrunedReason: the backup schedule's keep rules deleted older scheduled backups.
	BackupsPrunedReason = "BackupsPruned"
	// SnapshotTakenReason: a snapshot was taken before a change (snapshotBeforeChange).
	SnapshotTakenReason = "SnapshotTaken"
)
