package backup

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
	"templatemanager.dev/lxc-template-manager/internal/outcome"
	"templatemanager.dev/lxc-template-manager/internal/proxmox"
	"templatemanager.dev/lxc-template-manager/internal/shard"
)

// Connector opens a ProxmoxCluster's client; the container reconciler's ClusterConnector is one.
type Connector interface {
	Connect(ctx context.Context, cluster *lxcv1.ProxmoxCluster) (proxmox.Client, error)
}

// NamespacePolicy says whether a cluster serves a namespace (spec.allowedNamespaces).
type NamespacePolicy func(ctx context.Context, cluster *lxcv1.ProxmoxCluster, namespace string) (bool, error)

// Clusters reaches the Proxmox cluster of an LXCContainer, under the same rules as the
// container reconciler: the cluster must exist, serve the namespace and connect.
type Clusters struct {
	client.Client
	Connector Connector
	Allowed   NamespacePolicy
	// Shard picks the snapshots, backups and restores this manager reconciles: those of the
	// containers it selects; the zero Shard picks all.
	Shard shard.Selector
}

// target is the Proxmox container an LXCContainer has.
type target struct {
	container *lxcv1.LXCContainer
	px        proxmox.Client
	node      string
	vmid      int
}

// containerTarget reads the LXCContainer name in namespace and opens its cluster. A container
// that does not exist stalls (the field is named); one not created yet waits for it.
func (c *Clusters) containerTarget(ctx context.Context, namespace, name, field string) (target, error) {
	obj := &lxcv1.LXCContainer{}
	if err := c.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, obj); err != nil {
		if apierrors.IsNotFound(err) {
			return target{}, outcome.Stall(lxcv1.ContainerNotFoundReason, "%s: LXCContainer %s not found in namespace %s", field, name, namespace)
		}
		return target{}, err
	}
	if obj.Status.VMID == 0 || obj.Status.Node == "" {
		return target{}, outcome.Wait(outcome.DependencyRetry, lxcv1.ContainerNotFoundReason, "%s: LXCContainer %s has no Proxmox container yet", field, name)
	}
	px, err := c.connect(ctx, obj)
	if err != nil {
		return target{}, err
	}
	return target{container: obj, px: px, node: obj.Status.Node, vmid: int(obj.Status.VMID)}, nil
}

// connect opens the cluster of an LXCContainer.
func (c *Clusters) connect(ctx context.Context, obj *lxcv1.LXCContainer) (proxmox.Client, error) {
	return c.connectCluster(ctx, obj.Spec.ClusterRef.Name, obj.Namespace)
}

// connectCluster opens a cluster by name for an object of namespace.
func (c *Clusters) connectCluster(ctx context.Context, name, namespace string) (proxmox.Client, error) {
	cluster := &lxcv1.ProxmoxCluster{}
	if err := c.Get(ctx, types.NamespacedName{Name: name}, cluster); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, outcome.Wait(outcome.DependencyRetry, lxcv1.DependencyNotReadyReason, "ProxmoxCluster %s not found", name)
		}
		return nil, err
	}
	if c.Allowed != nil {
		ok, err := c.Allowed(ctx, cluster, namespace)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, outcome.Stall(lxcv1.NamespaceNotAllowedReason, "ProxmoxCluster %s does not allow namespace %s", name, namespace)
		}
	}
	px, err := c.Connector.Connect(ctx, cluster)
	if err != nil {
		if outcome.IsStallOrWait(err) {
			return nil, outcome.Wait(outcome.DependencyRetry, lxcv1.DependencyNotReadyReason, "ProxmoxCluster %s: %v", name, err)
		}
		return nil, fmt.Errorf("ProxmoxCluster %s: %w", name, err)
	}
	return px, nil
}
