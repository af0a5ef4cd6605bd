package v1alpha1

// HA makes the container a resource of Proxmox's HA stack (ha-manager, /cluster/ha/resources,
// sid ct:VMID): the cluster resource manager then starts, stops and recovers it.
// +kubebuilder:validation:XValidation:rule="!has(self.state) || self.state != 'ignored' || (!has(self.maxRestart) && !has(self.maxRelocate))",message="maxRestart and maxRelocate have no effect on an ignored HA resource"
type HA struct {
	// state is the state the HA stack keeps the container in: started (run it, and restart
	// or recover it elsewhere when it or its node fails), stopped (keep it stopped) or
	// ignored (HA leaves it alone, as if it were not managed). While the container is HA
	// managed its power follows this state, so spec.powerState must agree with it.
	// +optional
	// +kubebuilder:default=started
	State HAState `json:"state,omitempty"`

	// maxRestart is how often the HA stack restarts the container on its node after a
	// failed start before it relocates it (Proxmox's default: 1).
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=10
	MaxRestart *int32 `json:"maxRestart,omitempty"`

	// maxRelocate is how often the HA stack relocates the container to another node after
	// failed starts (Proxmox's default: 1).
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=10
	MaxRelocate *int32 `json:"maxRelocate,omitempty"`
}

// HAState is the requested state of an HA resource. Proxmox's disabled (stop and stay
// unmanaged by recovery) is left out: stopped says the same for a container, and disabled
// containers are not moved when their node fails, which a manifest asking for HA never wants.
// +kubebuilder:validation:Enum=started;stopped;ignored
type HAState string

const (
	HAStarted HAState = "started"
	HAStopped HAState = "stopped"
	HAIgnored HAState = "ignored"
)

// PoolID is a Proxmox resource pool id (pve-poolid: up to three levels, letters, digits,
// '.', '-' and '_').
// +kubebuilder:validation:MaxLength=128
// +kubebuilder:validation:Pattern=`^[A-Za-z0-9.\-_]+(/[A-Za-z0-9.\-_]+){0,2}$`
type PoolID string
