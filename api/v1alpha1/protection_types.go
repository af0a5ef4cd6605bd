package v1alpha1

// ContainerReference names an LXCContainer in the same namespace.
type ContainerReference struct {
	// name of the LXCContainer.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$`
	Name string `json:"name"`
}

// BackupMode is how vzdump keeps a running container consistent while it is archived.
// +kubebuilder:validation:Enum=snapshot;suspend;stop
type BackupMode string

const (
	// BackupModeSnapshot archives a storage snapshot while the container runs; on storage
	// without snapshots Proxmox falls back to suspend.
	BackupModeSnapshot BackupMode = "snapshot"
	// BackupModeSuspend syncs the files twice, suspending the container for the second pass.
	BackupModeSuspend BackupMode = "suspend"
	// BackupModeStop shuts the container down for the backup and starts it again after.
	BackupModeStop BackupMode = "stop"
)

// BackupCompression is the archive's compression.
// +kubebuilder:validation:Enum=zstd;gzip;lzo;none
type BackupCompression string

// SnapshotBeforeChange takes a snapshot of the container before a change that restarts it,
// runs a script again or changes its files, so there is a way back.
type SnapshotBeforeChange struct {
	// keep is how many of these snapshots are kept per container; older ones are deleted.
	// Default 3.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=32
	Keep *int32 `json:"keep,omitempty"`

	// rollbackOnFailure rolls the container back to the snapshot when a script or the start
	// fails after the change. The spec is not changed: fix it in Git and the change is tried
	// again.
	// +optional
	RollbackOnFailure bool `json:"rollbackOnFailure,omitempty"`
}

// BackupSchedule backs a container up on a schedule and prunes its scheduled backups.
type BackupSchedule struct {
	// schedule is a cron expression (five fields, or @daily, @hourly, @every 1h…) in UTC.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=128
	Schedule string `json:"schedule"`

	// storage receives the archives; it must hold content "backup".
	// +required
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:Pattern=`^[A-Za-z][A-Za-z0-9_.-]*$`
	Storage string `json:"storage"`

	// mode is snapshot (default), suspend or stop.
	// +optional
	// +kubebuilder:default=snapshot
	Mode BackupMode `json:"mode,omitempty"`

	// keep says which scheduled backups survive pruning. A backup is kept when any rule keeps
	// it. When no rule is set, the last 7 are kept.
	// +optional
	Keep *BackupRetention `json:"keep,omitempty"`
}

// BackupRetention keeps the newest backups, and the newest of each of the last days, weeks
// and months, as Proxmox's prune-backups does.
type BackupRetention struct {
	// last keeps the newest N backups.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000
	Last *int32 `json:"last,omitempty"`
	// daily keeps the newest backup of each of the last N days that have one.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000
	Daily *int32 `json:"daily,omitempty"`
	// weekly keeps the newest backup of each of the last N ISO weeks that have one.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000
	Weekly *int32 `json:"weekly,omitempty"`
	// monthly keeps the newest backup of each of the last N months that have one.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000
	Monthly *int32 `json:"monthly,omitempty"`
}

// RestoreSource is a backup a new container is made from instead of an OS template.
// +kubebuilder:validation:XValidation:rule="has(self.backupRef) != has(self.archive)",message="exactly one of backupRef and archive is required"
type RestoreSource struct {
	// backupRef names an LXCBackup in this namespace.
	// +optional
	BackupRef *LocalObjectReference `json:"backupRef,omitempty"`

	// archive is a backup's Proxmox volume id, e.g.
	// local:backup/vzdump-lxc-100-2026_12_07-05_00_00.tar.zst.
	// +optional
	// +kubebuilder:validation:MaxLength=255
	// +kubebuilder:validation:Pattern=`^[A-Za-z][A-Za-z0-9_.-]*:backup/vzdump-lxc-[0-9]+-[0-9_-]+\.tar(\.(zst|gz|lzo))?$`
	Archive string `json:"archive,omitempty"`
}
