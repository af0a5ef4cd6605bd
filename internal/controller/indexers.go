package controller

import (
	"context"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
	"templatemanager.dev/lxc-template-manager/internal/desired"
)

// Field indexes: each names, for an object, the objects it references, so a change to the
// referenced object requeues exactly its referrers.
const (
	// clusterSecretIndex: ProxmoxCluster → "<namespace>/<name>" of its credentials and CA Secrets.
	clusterSecretIndex = ".spec.secretRefs"
	// templateBucketIndex: LXCTemplate → names of its PackageBuckets.
	templateBucketIndex = ".spec.packageBucketRefs"
	// containerTemplateIndex: LXCContainer → name of its LXCTemplate.
	containerTemplateIndex = ".spec.templateRef"
	// containerClusterIndex: LXCContainer → name of its ProxmoxCluster.
	containerClusterIndex = ".spec.clusterRef"
	// contentRefIndex: LXCTemplate and LXCContainer → "Secret/<name>" and "ConfigMap/<name>"
	// of the objects their files, scripts, envFrom and root password come from.
	contentRefIndex = ".spec.contentRefs"
)

// contentRef is the index key of a referenced Secret or ConfigMap.
func contentRef(secret bool, name string) string { return desired.KindName(secret) + "/" + name }

func templateContentRefs(t *lxcv1.LXCTemplate) []string {
	var refs []string
	for _, f := range t.Spec.Files {
		if f.SecretRef != nil {
			refs = append(refs, contentRef(true, f.SecretRef.Name))
		}
		if f.ConfigMapRef != nil {
			refs = append(refs, contentRef(false, f.ConfigMapRef.Name))
		}
	}
	for _, sc := range t.Spec.Scripts {
		if sc.ConfigMapRef != nil {
			refs = append(refs, contentRef(false, sc.ConfigMapRef.Name))
		}
	}
	return refs
}

func containerContentRefs(c *lxcv1.LXCContainer) []string {
	var refs []string
	if c.Spec.Config != nil {
		for _, src := range c.Spec.Config.EnvFrom {
			if src.SecretRef != nil {
				refs = append(refs, contentRef(true, src.SecretRef.Name))
			}
			if src.ConfigMapRef != nil {
				refs = append(refs, contentRef(false, src.ConfigMapRef.Name))
			}
		}
	}
	if ref := c.Spec.RootPasswordSecretRef; ref != nil {
		refs = append(refs, contentRef(true, ref.Name))
	} else {
		refs = append(refs, contentRef(true, c.Name+"-root-password"))
	}
	return refs
}

// SetupIndexes registers the field indexes the reconcilers list by.
func SetupIndexes(ctx context.Context, mgr ctrl.Manager) error {
	idx := mgr.GetFieldIndexer()
	if err := idx.IndexField(ctx, &lxcv1.ProxmoxCluster{}, clusterSecretIndex, func(o client.Object) []string {
		c := o.(*lxcv1.ProxmoxCluster)
		keys := []string{c.Spec.CredentialsRef.Namespace + "/" + c.Spec.CredentialsRef.Name}
		if c.Spec.TLS != nil && c.Spec.TLS.CASecretRef != nil {
			keys = append(keys, c.Spec.TLS.CASecretRef.Namespace+"/"+c.Spec.TLS.CASecretRef.Name)
		}
		return keys
	}); err != nil {
		return err
	}
	if err := idx.IndexField(ctx, &lxcv1.LXCTemplate{}, templateBucketIndex, func(o client.Object) []string {
		return bucketNames(o.(*lxcv1.LXCTemplate))
	}); err != nil {
		return err
	}
	if err := idx.IndexField(ctx, &lxcv1.LXCContainer{}, containerTemplateIndex, func(o client.Object) []string {
		return []string{o.(*lxcv1.LXCContainer).Spec.TemplateRef.Name}
	}); err != nil {
		return err
	}
	if err := idx.IndexField(ctx, &lxcv1.LXCTemplate{}, contentRefIndex, func(o client.Object) []string {
		return templateContentRefs(o.(*lxcv1.LXCTemplate))
	}); err != nil {
		return err
	}
	if err := idx.IndexField(ctx, &lxcv1.LXCContainer{}, contentRefIndex, func(o client.Object) []string {
		return containerContentRefs(o.(*lxcv1.LXCContainer))
	}); err != nil {
		return err
	}
	return idx.IndexField(ctx, &lxcv1.LXCContainer{}, containerClusterIndex, func(o client.Object) []string {
		return []string{o.(*lxcv1.LXCContainer).Spec.ClusterRef.Name}
	})
}

func bucketNames(t *lxcv1.LXCTemplate) []string {
	names := make([]string, 0, len(t.Spec.PackageBucketRefs))
	for _, ref := range t.Spec.PackageBucketRefs {
		names = append(names, ref.Name)
	}
	return names
}
