package controller

import (
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// The manager's ClusterRole, generated into config/rbac/role.yaml by `make manifests`. Every rule
// is explained in docs/security.md; a verb that no code path needs is not granted.
//
// The API's own kinds: read and watch them, patch the status, and patch the finalizer of an
// LXCContainer or a ProxmoxCluster. Owner references with blockOwnerDeletion on the Secrets a
// container owns need update on its finalizers subresource.
// +kubebuilder:rbac:groups=lxc.templatemanager.dev,resources=lxccontainers;proxmoxclusters,verbs=get;list;watch;patch
// +kubebuilder:rbac:groups=lxc.templatemanager.dev,resources=lxccontainers,verbs=create;delete
// +kubebuilder:rbac:groups=lxc.templatemanager.dev,resources=lxccontainers/status,verbs=patch
// +kubebuilder:rbac:groups=lxc.templatemanager.dev,resources=lxccontainers/finalizers,verbs=update
// +kubebuilder:rbac:groups=lxc.templatemanager.dev,resources=lxctemplates/finalizers,verbs=update
// +kubebuilder:rbac:groups=lxc.templatemanager.dev,resources=lxctemplates;packagebuckets,verbs=get;list;watch
// +kubebuilder:rbac:groups=lxc.templatemanager.dev,resources=lxctemplates/status;packagebuckets/status;proxmoxclusters/status,verbs=patch
//
// Secrets are read one by one with uncached gets (UncachedObjects); list and watch serve only
// the metadata-only watches that notice a changed credentials, CA or owned Secret. create and
// update write the Secrets the controller owns: <name>-root-password, <name>-credentials and
// its SSH key.
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch;create;update
//
// ConfigMaps hold scripts, file contents and envFrom variables; they are read with uncached gets,
// and list and watch serve a metadata-only watch that requeues the containers using a changed one.
// +kubebuilder:rbac:groups="",resources=configmaps,verbs=get;list;watch
//
// Namespaces are matched against a ProxmoxCluster's allowedNamespaces selector (cached).
// +kubebuilder:rbac:groups="",resources=namespaces,verbs=get;list;watch
//
// Events through the events.k8s.io API; patch counts repeats of a series.
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// UncachedObjects are the kinds the manager's client reads straight from the API server: the
// manager never holds every Secret or ConfigMap of the cluster in memory, and needs no list or
// watch on their contents.
func UncachedObjects() []client.Object {
	return []client.Object{&corev1.Secret{}, &corev1.ConfigMap{}}
}
