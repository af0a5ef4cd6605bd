package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// LXCBackupSpec is a vzdump backup of a container to make and keep.
type LXCBackupSpec struct {
	// containerRef names the LXCContainer in this namespace to back up. It cannot be changed.
	// The backup outlives the container: deleting the LXCContainer never deletes its backups.
	// +required
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="containerRef cannot be changed"
	ContainerRef ContainerReference `json:"containerRef"`

	// storage receives the archive; it must hold content "backup". Default local.
	// +optional
	// +kubebuilder:default=local
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:Pattern=`^[A-Za-z][A-Za-z0-9_.-]*$`
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="storage cannot be changed"
	Storage string `json:"storage,omitempty"`

	// mode is snapshot (default), suspend or stop.
	// +optional
	// +kubebuilder:default=snapshot
	Mode BackupMode `json:"mode,omitempty"`

	// compress is zstd (default), gzip, lzo or none.
	// +optional
	// +kubebuilder:default=zstd
	Compress BackupCompression `json:"compress,omitempty"`

	// notes are stored with the archive in Proxmox. vzdump reads {{…}} as its variables, so
	// they cannot hold "{{".
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	// +kubebuilder:validation:XValidation:rule="!self.contains('{{')",message="notes cannot contain {{ (vzdump's template variables)"
	Notes string `json:"notes,omitempty"`

	// deletionPolicy is Delete (default: deleting this object deletes the archive) or Retain.
	// +optional
	// +kubebuilder:default=Delete
	DeletionPolicy DeletionPolicy `json:"deletionPolicy,omitempty"`
}

// LXCBackupStatus is the archive as made.
type LXCBackupStatus struct {
	// conditions: Ready, Reconciling, Stalled.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// observedGeneration is the last generation that finished.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// archive is the Proxmox volume id of the archive.
	// +optional
	Archive string `json:"archive,omitempty"`

	// size of the archive in bytes.
	// +optional
	Size int64 `json:"size,omitempty"`

	// vmid of the container that was backed up.
	// +optional
	VMID int32 `json:"vmid,omitempty"`

	// node that ran the backup; the archive is on its storage.
	// +optional
	Node string `json:"node,omitempty"`

	// startTime is when the backup task started.
	// +optional
	StartTime *metav1.Time `json:"startTime,omitempty"`

	// completionTime is when the archive was finished.
	// +optional
	CompletionTime *metav1.Time `json:"completionTime,omitempty"`

	// operation is the Proxmox task in flight.
	// +optional
	Operation string `json:"operation,omitempty"`
}

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=lxcbak,categories=lxctm
// +kubebuilder:printcolumn:name="Container",type=string,JSONPath=`.spec.containerRef.name`
// +kubebuilder:printcolumn:name="Size",type=integer,JSONPath=`.status.size`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Archive",type=string,JSONPath=`.status.archive`,priority=1
// +kubebuilder:printcolumn:name="Status",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].message`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`

// LXCBackup is a vzdump archive of an LXCContainer.
type LXCBackup struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +required
	Spec LXCBackupSpec `json:"spec"`

	// +optional
	Status LXCBackupStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// LXCBackupList is a list of LXCBackups.
type LXCBackupList struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []LXCBackup `json:"items"`
}

func init() {
	SchemeBuilder.Register(&LXCBackup{}, &LXCBackupList{})
}
