package backup

// What the reconcilers of this package need; make manifests turns these into the manager's role.
// The schedule creates and prunes LXCBackups; the restore marks the container it holds.
// +kubebuilder:rbac:groups=lxc.templatemanager.dev,resources=lxcsnapshots;lxcbackups;lxcrestores,verbs=get;list;watch;patch
// +kubebuilder:rbac:groups=lxc.templatemanager.dev,resources=lxcbackups,verbs=create;delete
// +kubebuilder:rbac:groups=lxc.templatemanager.dev,resources=lxcsnapshots,verbs=create;delete
// +kubebuilder:rbac:groups=lxc.templatemanager.dev,resources=lxcrestores,verbs=create
// +kubebuilder:rbac:groups=lxc.templatemanager.dev,resources=lxcsnapshots/status;lxcbackups/status;lxcrestores/status,verbs=patch
