package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// LXCRestoreSpec brings a container back to a snapshot or a backup. It is carried out once;
// the spec cannot be changed.
// +kubebuilder:validation:XValidation:rule="has(self.snapshotRef) != has(self.backupRef)",message="exactly one of snapshotRef and backupRef is required"
// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="an LXCRestore cannot be changed; create another"
type LXCRestoreSpec struct {
	// containerRef names the LXCContainer in this namespace to restore.
	// +required
	ContainerRef ContainerReference `json:"containerRef"`

	// snapshotRef names an LXCSnapshot of the container: the container is rolled back to it,
	// and started again if it was running.
	// +optional
	SnapshotRef *LocalObjectReference `json:"snapshotRef,omitempty"`

	// backupRef names an LXCBackup: the container is made again from the archive under the
	// same VMID. What it has on its disks now is replaced by the archive's.
	// +optional
	BackupRef *LocalObjectReference `json:"backupRef,omitempty"`
}

// LXCRestoreStatus is the restore's progress.
type LXCRestoreStatus struct {
	// conditions: Ready (the restore is done), Reconciling, Stalled.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// observedGeneration is the last generation that finished.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// vmid of the restored container.
	// +optional
	VMID int32 `json:"vmid,omitempty"`

	// node the restore ran on.
	// +optional
	Node string `json:"node,omitempty"`

	// wasRunning records that the container ran before the restore, so it is started after.
	// +optional
	WasRunning bool `json:"wasRunning,omitempty"`

	// step is where the restore is: Stopping, Restoring, Starting, Done.
	// +optional
	Step string `json:"step,omitempty"`

	// operation is the Proxmox task in flight.
	// +optional
	Operation string `json:"operation,omitempty"`

	// completionTime is when the container was back.
	// +optional
	CompletionTime *metav1.Time `json:"completionTime,omitempty"`
}

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=lxcrestore,categories=lxctm
// +kubebuilder:printcolumn:name="Container",type=string,JSONPath=`.spec.containerRef.name`
// +kubebuilder:printcolumn:name="Snapshot",type=string,JSONPath=`.spec.snapshotRef.name`
// +kubebuilder:printcolumn:name="Backup",type=string,JSONPath=`.spec.backupRef.name`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Status",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].message`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`

// LXCRestore rolls an LXCContainer back to a snapshot or makes it again from a backup.
type LXCRestore struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +required
	Spec LXCRestoreSpec `json:"spec"`

	// +optional
	Status LXCRestoreStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// LXCRestoreList is a list of LXCRestores.
type LXCRestoreList struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []LXCRestore `json:"items"`
}

func init() {
	SchemeBuilder.Register(&LXCRestore{}, &LXCRestoreList{})
}
