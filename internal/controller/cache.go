package controller

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// CacheOptions adds to base what the controllers need of the manager's cache. The Secrets they
// watch are cached as metadata cut down to what identifies them: name, namespace, UID,
// resourceVersion and owner references, and on the controller's own SSH key Secrets the cluster
// they belong to. Labels and annotations of other Secrets are never kept: `kubectl apply` writes
// the whole Secret, data included, into an annotation.
func CacheOptions(base cache.Options) cache.Options {
	secrets := &metav1.PartialObjectMetadata{}
	secrets.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Secret"))
	byObject := make(map[client.Object]cache.ByObject, len(base.ByObject)+1)
	for k, v := range base.ByObject {
		byObject[k] = v
	}
	byObject[secrets] = cache.ByObject{Transform: secretIdentity}
	base.ByObject = byObject
	return base
}

// secretIdentity keeps of a Secret's metadata only what the watches use.
func secretIdentity(obj any) (any, error) {
	m, ok := obj.(*metav1.PartialObjectMetadata)
	if !ok {
		// A typed Secret would hold its data: the manager reads those uncached, never here.
		return obj, nil
	}
	kept := &metav1.PartialObjectMetadata{TypeMeta: m.TypeMeta, ObjectMeta: metav1.ObjectMeta{
		Name: m.Name, Namespace: m.Namespace, UID: m.UID, ResourceVersion: m.ResourceVersion,
		OwnerReferences: m.OwnerReferences, DeletionTimestamp: m.DeletionTimestamp,
	}}
	if cluster, ok := m.Annotations[sshKeyClusterAnnotation]; ok {
		kept.Annotations = map[string]string{sshKeyClusterAnnotation: cluster}
	}
	return kept, nil
}
