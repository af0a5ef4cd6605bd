package v1alpha1

// HA makes the container a resource of Proxmox's HA stack (ha-manager, /cluster/ha/resources,
// sid ct:VMID): the cluster resource manager then starts, stops and recovers it.
// +kubebuilder:validation:XValidation:rule="!has(self.state) || self.state != 'ignored' || (!has(self.maxRestart) && !has(self.maxRelocate))",message="maxRestart and maxRelocate have no effect on an ignored HA resource"
// +kubebuilder:validation:XValidation:rule="!has(self.state) || self.state != 'ignored' || !has(self.nodes)",message="nodes have no effect on an ignored HA resource",fieldPath=".nodes"
// +kubebuilder:validation:XValidation:rule="!has(self.strict) || has(self.nodes)",message="strict needs nodes: it keeps the container on them",fieldPath=".strict"
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

	// nodes are the nodes the HA stack is to run the container on, through a PVE 9 HA rule of
	// type node-affinity (/cluster/ha/rules, id lxctm-VMID) that names only this container.
	// The HA stack runs it on the online node of the highest priority and moves it there when
	// it runs elsewhere; while it runs on one of the highest-priority nodes it stays there.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=32
	Nodes []HANode `json:"nodes,omitempty"`

	// strict keeps the container on the nodes listed: when none of them is online it is not
	// run anywhere else (Proxmox: strict=1). Without it the container may fall back to any
	// other node. Default false.
	// +optional
	Strict *bool `json:"strict,omitempty"`
}

// HANode is a node of a node-affinity rule with its priority (Proxmox: node[:priority]).
type HANode struct {
	// name is the Proxmox node's name.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?$`
	Name string `json:"name"`

	// priority orders the nodes: the higher, the more preferred (default 0). Only the order
	// matters; nodes of the same priority are equally good.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=1000000
	Priority *int32 `json:"priority,omitempty"`
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
