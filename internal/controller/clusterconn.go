package controller

import (
	"context"
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
	"templatemanager.dev/lxc-template-manager/internal/outcome"
	"templatemanager.dev/lxc-template-manager/internal/proxmox"
)

// Keys of the credentials Secret a ProxmoxCluster references.
const (
	TokenIDKey     = "tokenID"
	TokenSecretKey = "secret"
	UsernameKey    = "username"
	PasswordKey    = "password"
	// DefaultCAKey is the key of the CA Secret when caSecretRef.key is empty.
	DefaultCAKey = "ca.crt"
)

// ClusterConnector turns a ProxmoxCluster and its Secrets into a Proxmox client. Secrets are
// read through an uncached reader, so the manager never holds every Secret of the cluster in
// memory.
type ClusterConnector struct {
	Secrets client.Reader
	Factory *proxmox.Factory
	// Namespace is the controller's namespace, the only one a ProxmoxCluster's Secrets are read
	// from by default: whoever may create a cluster-scoped ProxmoxCluster must not be able to
	// send any namespace's Secret to an endpoint of their choice.
	Namespace string
	// CredentialsNamespaces are further namespaces allowed for those Secrets; "*" allows every
	// namespace.
	CredentialsNamespaces []string
}

// AnyNamespace in CredentialsNamespaces allows a ProxmoxCluster's Secrets in every namespace.
const AnyNamespace = "*"

// CredentialsNamespacesFlag is the manager flag that sets CredentialsNamespaces.
const CredentialsNamespacesFlag = "credentials-namespaces"

// checkSecretNamespace refuses a Secret reference outside the allowed namespaces; field names
// the reference in the message.
func (c *ClusterConnector) checkSecretNamespace(field, namespace string) error {
	if namespace == c.Namespace || slices.Contains(c.CredentialsNamespaces, namespace) ||
		slices.Contains(c.CredentialsNamespaces, AnyNamespace) {
		return nil
	}
	return outcome.Stall(lxcv1.CredentialsNamespaceNotAllowedReason,
		"%s is in namespace %s, but a ProxmoxCluster takes its Secrets only from the controller's namespace %s "+
			"unless the manager is started with --%s naming another", field, namespace, c.Namespace, CredentialsNamespacesFlag)
}

// Connect returns the client for a cluster. A missing Secret or key is a StallError: nothing
// changes until someone creates it.
func (c *ClusterConnector) Connect(ctx context.Context, cluster *lxcv1.ProxmoxCluster) (proxmox.Client, error) {
	pc, _, err := c.connect(ctx, cluster)
	return pc, err
}

// connect is Connect, also saying who the client signs in as.
func (c *ClusterConnector) connect(ctx context.Context, cluster *lxcv1.ProxmoxCluster) (proxmox.Client, proxmox.Auth, error) {
	settings, err := c.settings(ctx, cluster)
	if err != nil {
		return nil, proxmox.Auth{}, err
	}
	pc, err := c.Factory.ClientFor(cluster.Name, settings)
	if err != nil {
		return nil, proxmox.Auth{}, outcome.Stall(lxcv1.InvalidSpecReason, "cannot build a client for %s: %v", cluster.Spec.Endpoint, err)
	}
	return pc, settings.Auth, nil
}

func (c *ClusterConnector) settings(ctx context.Context, cluster *lxcv1.ProxmoxCluster) (proxmox.Settings, error) {
	ref := cluster.Spec.CredentialsRef
	if err := c.checkSecretNamespace("spec.credentialsRef", ref.Namespace); err != nil {
		return proxmox.Settings{}, err
	}
	if tls := cluster.Spec.TLS; tls != nil && tls.CASecretRef != nil {
		if err := c.checkSecretNamespace("spec.tls.caSecretRef", tls.CASecretRef.Namespace); err != nil {
			return proxmox.Settings{}, err
		}
	}
	data, err := c.secretData(ctx, ref.Namespace, ref.Name)
	if err != nil {
		return proxmox.Settings{}, err
	}
	s := proxmox.Settings{Endpoint: cluster.Spec.Endpoint}
	switch {
	case len(data[TokenIDKey]) > 0 && len(data[TokenSecretKey]) > 0:
		s.Auth = proxmox.Auth{TokenID: string(data[TokenIDKey]), TokenSecret: string(data[TokenSecretKey])}
	case len(data[UsernameKey]) > 0 && len(data[PasswordKey]) > 0:
		s.Auth = proxmox.Auth{Username: string(data[UsernameKey]), Password: string(data[PasswordKey])}
	default:
		return s, outcome.Stall(lxcv1.CredentialsNotFoundReason,
			"Secret %s/%s holds neither %s and %s nor %s and %s", ref.Namespace, ref.Name,
			TokenIDKey, TokenSecretKey, UsernameKey, PasswordKey)
	}
	if tls := cluster.Spec.TLS; tls != nil {
		s.TLS.InsecureSkipVerify = tls.InsecureSkipVerify
		if ca := tls.CASecretRef; ca != nil {
			key := ca.Key
			if key == "" {
				key = DefaultCAKey
			}
			caData, err := c.secretData(ctx, ca.Namespace, ca.Name)
			if err != nil {
				return s, err
			}
			if len(caData[key]) == 0 {
				return s, outcome.Stall(lxcv1.CredentialsNotFoundReason, "Secret %s/%s has no key %s", ca.Namespace, ca.Name, key)
			}
			s.TLS.CAPEM = caData[key]
		}
	}
	return s, nil
}

func (c *ClusterConnector) secretData(ctx context.Context, namespace, name string) (map[string][]byte, error) {
	secret := &corev1.Secret{}
	err := c.Secrets.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, secret)
	if apierrors.IsNotFound(err) {
		return nil, outcome.Stall(lxcv1.CredentialsNotFoundReason, "Secret %s/%s not found", namespace, name)
	}
	if err != nil {
		return nil, fmt.Errorf("reading Secret %s/%s: %w", namespace, name, err)
	}
	return secret.Data, nil
}

// namespaceAllowed reports whether a cluster's allowedNamespaces admits a namespace.
func namespaceAllowed(ctx context.Context, c client.Reader, cluster *lxcv1.ProxmoxCluster, namespace string) (bool, error) {
	sel := cluster.Spec.AllowedNamespaces
	if sel == nil || (len(sel.MatchLabels) == 0 && len(sel.MatchExpressions) == 0) {
		return true, nil
	}
	selector, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		return false, outcome.Stall(lxcv1.InvalidSpecReason, "ProxmoxCluster %s has an invalid allowedNamespaces: %v", cluster.Name, err)
	}
	ns := &corev1.Namespace{}
	if err := c.Get(ctx, types.NamespacedName{Name: namespace}, ns); err != nil {
		return false, fmt.Errorf("reading namespace %s: %w", namespace, err)
	}
	return selector.Matches(labels.Set(ns.Labels)), nil
}

// NamespacePolicy is namespaceAllowed for other packages' reconcilers (snapshots, backups),
// which reach a cluster under the same rule as the containers they act on.
func NamespacePolicy(c client.Reader) func(ctx context.Context, cluster *lxcv1.ProxmoxCluster, namespace string) (bool, error) {
	return func(ctx context.Context, cluster *lxcv1.ProxmoxCluster, namespace string) (bool, error) {
		return namespaceAllowed(ctx, c, cluster, namespace)
	}
}
