package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ProxmoxClusterSpec says how to reach a Proxmox VE cluster.
type ProxmoxClusterSpec struct {
	// endpoint is the URL of the Proxmox VE API, such as https://pve.example.com:8006/api2/json.
	// The path /api2/json is added when missing.
	// +required
	// +kubebuilder:validation:MinLength=9
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:XValidation:rule="isURL(self) && url(self).getScheme() == 'https' && url(self).getHostname() != ''",message="endpoint must be an https URL with a host, such as https://pve.example.com:8006/api2/json"
	// +kubebuilder:validation:XValidation:rule="url(self).getQuery().size() == 0 && !self.contains('#')",message="endpoint must not carry a query or a fragment"
	Endpoint string `json:"endpoint"`

	// credentialsRef names the Secret that holds either an API token (keys tokenID, such as
	// root@pam!lxctm, and secret) or a user's credentials (keys username, such as root@pam, and
	// password). API tokens are preferred.
	// +required
	CredentialsRef NamespacedObjectReference `json:"credentialsRef"`

	// tls configures how the API server's certificate is verified. By default the system's
	// certificate authorities are trusted.
	// +optional
	TLS *ClusterTLS `json:"tls,omitempty"`

	// allowedNamespaces selects the namespaces whose LXCContainers may use this cluster.
	// Empty or unset allows every namespace.
	// +optional
	AllowedNamespaces *metav1.LabelSelector `json:"allowedNamespaces,omitempty"`

	// syncInterval is how often the cluster's nodes, templates and guests are read. Default 5m.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$`
	SyncInterval *metav1.Duration `json:"syncInterval,omitempty"`

	// policy is what LXCContainers may ask of this cluster: nodes, storages, bridges, VLAN tags,
	// privileged containers, features, sizes, a quota per namespace, and who may adopt a
	// container made outside the controller. Unset, the defaults of each field apply: no
	// privileged containers, nesting as the only feature, no adoption of unmarked containers.
	// +optional
	Policy ClusterPolicy `json:"policy,omitempty"`
}

// ClusterTLS configures the verification of the Proxmox API certificate.
// +kubebuilder:validation:XValidation:rule="!(has(self.caSecretRef) && has(self.insecureSkipVerify) && self.insecureSkipVerify)",message="caSecretRef and insecureSkipVerify are mutually exclusive"
type ClusterTLS struct {
	// caSecretRef names a Secret whose key (default ca.crt) holds the PEM certificate authority that
	// signed the API server's certificate (for Proxmox: /etc/pve/pve-root-ca.pem).
	// +optional
	CASecretRef *SecretKeyReference `json:"caSecretRef,omitempty"`

	// insecureSkipVerify disables certificate verification. Use only for testing.
	// +optional
	InsecureSkipVerify bool `json:"insecureSkipVerify,omitempty"`
}

// SecretKeyReference selects a key of a Secret in a given namespace.
type SecretKeyReference struct {
	// namespace of the Secret.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	Namespace string `json:"namespace"`

	// name of the Secret.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$`
	Name string `json:"name"`

	// key within the Secret. Default ca.crt.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[-._a-zA-Z0-9]+$`
	Key string `json:"key,omitempty"`
}

// ProxmoxClusterStatus is what the controller last read from the cluster.
type ProxmoxClusterStatus struct {
	// conditions: Ready says whether the cluster answers with the given credentials.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// observedGeneration is the generation last synced.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// version is the Proxmox VE version, such as 9.1.3.
	// +optional
	Version string `json:"version,omitempty"`

	// nodes are the cluster's nodes with their capacity.
	// +optional
	// +listType=map
	// +listMapKey=name
	Nodes []ClusterNode `json:"nodes,omitempty"`

	// storages are the storages of each node.
	// +optional
	// +listType=atomic
	Storages []ClusterStorage `json:"storages,omitempty"`

	// templates are the OS templates found in storages with vztmpl content.
	// +optional
	// +listType=atomic
	Templates []ClusterTemplate `json:"templates,omitempty"`

	// lastSyncTime is when the cluster was last read successfully.
	// +optional
	LastSyncTime *metav1.Time `json:"lastSyncTime,omitempty"`

	// retry counts the consecutive failed attempts to read the cluster and says when the next
	// one is due.
	// +optional
	Retry *RetryStatus `json:"retry,omitempty"`

	// rootLogin is true when the cluster signs in as root@pam with a password: the only login
	// real Proxmox lets set feature flags other than nesting, or make a privileged container.
	// Under an API token or another user, containers asking for those stall with RootRequired,
	// and their templates say so.
	// +optional
	RootLogin bool `json:"rootLogin,omitempty"`

	// namespaceUsage is what the LXCContainers of each namespace ask of this cluster, as
	// spec.policy.namespaceQuota counts it; the admission policy reads it to refuse a container
	// over the quota.
	// +optional
	// +listType=map
	// +listMapKey=namespace
	NamespaceUsage []NamespaceUsage `json:"namespaceUsage,omitempty"`
}

// ClusterNode is one node of a Proxmox cluster.
type ClusterNode struct {
	// name of the node.
	Name string `json:"name"`
	// status is online, offline or unknown.
	Status string `json:"status"`
	// cpu is the node's CPU load (0–1 per core, as Proxmox reports it).
	// +optional
	CPU string `json:"cpu,omitempty"`
	// maxCPU is the number of CPUs.
	// +optional
	MaxCPU int32 `json:"maxCPU,omitempty"`
	// maxMemory is the node's memory in bytes.
	// +optional
	MaxMemory int64 `json:"maxMemory,omitempty"`
	// freeMemory is the node's unused memory in bytes.
	// +optional
	FreeMemory int64 `json:"freeMemory,omitempty"`
}

// ClusterStorage is one storage of one node.
type ClusterStorage struct {
	// node the storage belongs to.
	Node string `json:"node"`
	// name of the storage.
	Name string `json:"name"`
	// content types, such as vztmpl,rootdir.
	// +optional
	Content string `json:"content,omitempty"`
	// active says whether the storage is usable.
	// +optional
	Active bool `json:"active,omitempty"`
}

// ClusterTemplate is an OS template found on a node.
type ClusterTemplate struct {
	// node where the template is stored.
	Node string `json:"node"`
	// storage holding the template.
	Storage string `json:"storage"`
	// volid of the template, such as local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst.
	VolID string `json:"volid"`
}

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,shortName=pvec,categories=lxctm
// +kubebuilder:printcolumn:name="Endpoint",type=string,JSONPath=`.spec.endpoint`
// +kubebuilder:printcolumn:name="Version",type=string,JSONPath=`.status.version`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Status",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].message`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`

// ProxmoxCluster is a Proxmox VE cluster the controller can create containers on.
type ProxmoxCluster struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec says how to reach the cluster.
	// +required
	Spec ProxmoxClusterSpec `json:"spec"`

	// status is what the controller last read from the cluster.
	// +optional
	// +kubebuilder:default:={"observedGeneration":-1}
	Status ProxmoxClusterStatus `json:"status,omitempty"`
}

// GetConditions returns the status conditions.
func (in *ProxmoxCluster) GetConditions() []metav1.Condition { return in.Status.Conditions }

// SetConditions replaces the status conditions.
func (in *ProxmoxCluster) SetConditions(c []metav1.Condition) { in.Status.Conditions = c }

// +kubebuilder:object:root=true

// ProxmoxClusterList is a list of ProxmoxClusters.
type ProxmoxClusterList struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ProxmoxCluster `json:"items"`
}

func init() {
	SchemeBuilder.Register(&ProxmoxCluster{}, &ProxmoxClusterList{})
}
