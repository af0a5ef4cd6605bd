package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// LXCSnapshotSpec is a Proxmox snapshot of a container to take and keep.
type LXCSnapshotSpec struct {
	// containerRef names the LXCContainer in this namespace to snapshot. It cannot be changed.
	// +required
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="containerRef cannot be changed"
	ContainerRef ContainerReference `json:"containerRef"`

	// description is stored with the snapshot in Proxmox.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Description string `json:"description,omitempty"`

	// deletionPolicy is Delete (default: deleting this object deletes the snapshot in Proxmox)
	// or Retain (the snapshot stays).
	// +optional
	// +kubebuilder:default=Delete
	DeletionPolicy DeletionPolicy `json:"deletionPolicy,omitempty"`
}

// LXCSnapshotStatus is the snapshot as taken.
type LXCSnapshotStatus struct {
	// conditions: Ready, Reconciling, Stalled.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// observedGeneration is the last generation that finished.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// snapshotName is the snapshot's name in Proxmox.
	// +optional
	SnapshotName string `json:"snapshotName,omitempty"`

	// vmid of the container the snapshot belongs to.
	// +optional
	VMID int32 `json:"vmid,omitempty"`

	// node the container was on when the snapshot was taken.
	// +optional
	Node string `json:"node,omitempty"`

	// creationTime is when Proxmox took the snapshot.
	// +optional
	CreationTime *metav1.Time `json:"creationTime,omitempty"`

	// operation is the Proxmox task in flight.
	// +optional
	Operation string `json:"operation,omitempty"`
}

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=lxcsnap,categories=lxctm
// +kubebuilder:printcolumn:name="Container",type=string,JSONPath=`.spec.containerRef.name`
// +kubebuilder:printcolumn:name="Snapshot",type=string,JSONPath=`.status.snapshotName`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Status",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].message`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`

// LXCSnapshot is a Proxmox snapshot of an LXCContainer.
type LXCSnapshot struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +required
	Spec LXCSnapshotSpec `json:"spec"`

	// +optional
	Status LXCSnapshotStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// LXCSnapshotList is a list of LXCSnapshots.
type LXCSnapshotList struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []LXCSnapshot `json:"items"`
}

func init() {
	SchemeBuilder.Register(&LXCSnapshot{}, &LXCSnapshotList{})
}
