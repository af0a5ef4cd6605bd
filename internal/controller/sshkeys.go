package controller

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"strings"
	"sync"

	gossh "golang.org/x/crypto/ssh"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// SSHKeySecretName was the one Secret holding the controller's SSH key for every cluster. A
// cluster's own key Secret starts as a copy of it when it exists, so containers created with it
// stay reachable.
const SSHKeySecretName = "lxc-template-manager-ssh-key"

// sshKeySecretPrefix starts the name of each cluster's key Secret in the controller's namespace.
const sshKeySecretPrefix = SSHKeySecretName + "-"

// Annotations of a cluster's SSH key Secret.
const (
	// RotateSSHKeyAnnotation asks for a new key: set it to a new value (a date, a counter) and
	// every container of the cluster gets the new key, then loses the old one.
	RotateSSHKeyAnnotation = "lxc.templatemanager.dev/rotate-ssh-key"
	// sshKeyRotatedAnnotation is the value of RotateSSHKeyAnnotation last carried out.
	sshKeyRotatedAnnotation = "lxc.templatemanager.dev/ssh-key-rotated"
	// sshKeyClusterAnnotation names the ProxmoxCluster a key Secret belongs to.
	sshKeyClusterAnnotation = "lxc.templatemanager.dev/cluster"
)

// Keys of an SSH key Secret. previous_* hold the key a rotation replaces until every container
// has the new one.
const (
	sshPrivateKeyKey         = "id_ed25519"
	sshPublicKeyKey          = "id_ed25519.pub"
	sshPreviousPrivateKeyKey = "previous_id_ed25519"
)

// SSHKeySecretFor is the name of a cluster's key Secret in the controller's namespace.
func SSHKeySecretFor(cluster string) string {
	name := sshKeySecretPrefix + cluster
	if len(name) > 253 {
		sum := sha256.Sum256([]byte(cluster))
		name = sshKeySecretPrefix + cluster[:200] + "-" + hex.EncodeToString(sum[:8])
	}
	return name
}

// sshKey is one key pair.
type sshKey struct {
	signer gossh.Signer
	// authorized is the authorized_keys line: type, base64 key and the comment
	// lxc-template-manager.
	authorized  string
	fingerprint string
}

func parseSSHKey(pemData []byte) (*sshKey, error) {
	signer, err := gossh.ParsePrivateKey(pemData)
	if err != nil {
		return nil, err
	}
	return &sshKey{
		signer:      signer,
		authorized:  strings.TrimSpace(string(gossh.MarshalAuthorizedKey(signer.PublicKey()))) + " lxc-template-manager",
		fingerprint: gossh.FingerprintSHA256(signer.PublicKey()),
	}, nil
}

// ClusterKey is the controller's SSH identity on one cluster.
type ClusterKey struct {
	// Secret is the Secret holding it, namespace/name.
	Secret string
	// Current is the key new containers get and every container is moved to.
	Current *sshKey
	// Previous is the key a rotation replaces; nil when no rotation is under way.
	Previous *sshKey
}

// find returns the key with a fingerprint.
func (k *ClusterKey) find(fingerprint string) *sshKey {
	for _, key := range []*sshKey{k.Current, k.Previous} {
		if key != nil && key.fingerprint == fingerprint {
			return key
		}
	}
	return nil
}

// ControllerKey keeps the controller's SSH keys, one per ProxmoxCluster, in Secrets of its
// namespace, so every replica and every restart use the same keys. Keys are cached until
// Forget, which the watch on the key Secrets calls when one changes.
type ControllerKey struct {
	Client    client.Client
	Reader    client.Reader
	Namespace string

	mu   sync.Mutex
	keys map[string]*ClusterKey
}

// Forget drops the cached key of a cluster.
func (k *ControllerKey) Forget(cluster string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	delete(k.keys, cluster)
}

// Load returns a cluster's key, creating its Secret on first use and carrying out a rotation
// that was asked for. Replicas racing to write the Secret agree on whichever write the API
// server took first.
func (k *ControllerKey) Load(ctx context.Context, cluster string) (*ClusterKey, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if key := k.keys[cluster]; key != nil {
		return key, nil
	}
	name := SSHKeySecretFor(cluster)
	var key *ClusterKey
	var err error
	for range 5 {
		if key, err = k.load(ctx, cluster, name); !apierrors.IsConflict(err) && !apierrors.IsAlreadyExists(err) {
			break
		}
	}
	if err != nil {
		return nil, fmt.Errorf("loading the controller's SSH key from Secret %s/%s: %w", k.Namespace, name, err)
	}
	if k.keys == nil {
		k.keys = map[string]*ClusterKey{}
	}
	k.keys[cluster] = key
	return key, nil
}

func (k *ControllerKey) load(ctx context.Context, cluster, name string) (*ClusterKey, error) {
	secret := &corev1.Secret{}
	err := k.Reader.Get(ctx, types.NamespacedName{Namespace: k.Namespace, Name: name}, secret)
	if apierrors.IsNotFound(err) {
		return nil, k.create(ctx, cluster, name)
	}
	if err != nil {
		return nil, err
	}
	if want := secret.Annotations[RotateSSHKeyAnnotation]; want != "" && want != secret.Annotations[sshKeyRotatedAnnotation] &&
		len(secret.Data[sshPreviousPrivateKeyKey]) == 0 {
		// A rotation still under way keeps its old key; the next one waits for it to finish.
		return nil, k.rotate(ctx, secret, want)
	}
	key := &ClusterKey{Secret: k.Namespace + "/" + name}
	if key.Current, err = parseSSHKey(secret.Data[sshPrivateKeyKey]); err != nil {
		return nil, fmt.Errorf("key %s is not an SSH private key", sshPrivateKeyKey)
	}
	if prev := secret.Data[sshPreviousPrivateKeyKey]; len(prev) > 0 {
		if key.Previous, err = parseSSHKey(prev); err != nil {
			return nil, fmt.Errorf("key %s is not an SSH private key", sshPreviousPrivateKeyKey)
		}
	}
	return key, nil
}

// errRetry makes Load read the Secret again after writing it.
var errRetry = apierrors.NewConflict(corev1.Resource("secrets"), "", fmt.Errorf("written; read again"))

// create writes a cluster's key Secret: a copy of the shared key of earlier versions when there
// is one, else a new key.
func (k *ControllerKey) create(ctx context.Context, cluster, name string) error {
	data := map[string][]byte{}
	legacy := &corev1.Secret{}
	err := k.Reader.Get(ctx, types.NamespacedName{Namespace: k.Namespace, Name: SSHKeySecretName}, legacy)
	switch {
	case err == nil && len(legacy.Data[sshPrivateKeyKey]) > 0:
		data[sshPrivateKeyKey] = legacy.Data[sshPrivateKeyKey]
		data[sshPublicKeyKey] = legacy.Data[sshPublicKeyKey]
	case err != nil && !apierrors.IsNotFound(err):
		return err
	default:
		if data[sshPrivateKeyKey], data[sshPublicKeyKey], err = newSSHKey(); err != nil {
			return err
		}
	}
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			Name:        name,
			Namespace:   k.Namespace,
			Labels:      map[string]string{"app.kubernetes.io/managed-by": "lxc-template-manager"},
			Annotations: map[string]string{sshKeyClusterAnnotation: cluster},
		},
		Type: corev1.SecretTypeOpaque,
		Data: data,
	}
	if err := k.Client.Create(ctx, secret); err != nil {
		return err
	}
	return errRetry
}

// rotate makes a new key current and keeps the old one as previous until every container has
// the new one.
func (k *ControllerKey) rotate(ctx context.Context, secret *corev1.Secret, request string) error {
	private, public, err := newSSHKey()
	if err != nil {
		return err
	}
	secret.Data[sshPreviousPrivateKeyKey] = secret.Data[sshPrivateKeyKey]
	secret.Data[sshPrivateKeyKey] = private
	secret.Data[sshPublicKeyKey] = public
	secret.Annotations[sshKeyRotatedAnnotation] = request
	if err := k.Client.Update(ctx, secret); err != nil {
		return err
	}
	return errRetry
}

// Retire removes the previous key of a cluster once current is still the current key: every
// container has been moved to it.
func (k *ControllerKey) Retire(ctx context.Context, cluster, current string) error {
	secret := &corev1.Secret{}
	if err := k.Reader.Get(ctx, types.NamespacedName{Namespace: k.Namespace, Name: SSHKeySecretFor(cluster)}, secret); err != nil {
		return client.IgnoreNotFound(err)
	}
	key, err := parseSSHKey(secret.Data[sshPrivateKeyKey])
	if err != nil || key.fingerprint != current || len(secret.Data[sshPreviousPrivateKeyKey]) == 0 {
		return nil
	}
	delete(secret.Data, sshPreviousPrivateKeyKey)
	if err := k.Client.Update(ctx, secret); err != nil && !apierrors.IsConflict(err) {
		return err
	}
	k.Forget(cluster)
	return nil
}

// newSSHKey generates an ed25519 key pair: the private key in OpenSSH PEM form and the public
// key as an authorized_keys line.
func newSSHKey() (private, public []byte, err error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	block, err := gossh.MarshalPrivateKey(priv, "lxc-template-manager")
	if err != nil {
		return nil, nil, err
	}
	signer, err := gossh.NewSignerFromKey(priv)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(block), gossh.MarshalAuthorizedKey(signer.PublicKey()), nil
}
