package controller

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
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

// SSHKeySecretName is the Secret in the controller's namespace holding its SSH key pair.
const SSHKeySecretName = "lxc-template-manager-ssh-key"

// Keys of the SSH key Secret.
const (
	sshPrivateKeyKey = "id_ed25519"
	sshPublicKeyKey  = "id_ed25519.pub"
)

// ControllerKey is the controller's SSH identity: the key it installs into every container at
// creation and logs in with. It lives in a Secret so every replica, and every restart, uses the
// same key.
type ControllerKey struct {
	Client    client.Client
	Reader    client.Reader
	Namespace string

	mu        sync.Mutex
	signer    gossh.Signer
	publicKey string
}

// Load returns the signer and the public key line, creating the Secret on first use. Two
// replicas racing to create it agree on whichever Secret the API server stored first.
func (k *ControllerKey) Load(ctx context.Context) (gossh.Signer, string, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.signer != nil {
		return k.signer, k.publicKey, nil
	}
	secret := &corev1.Secret{}
	err := k.Reader.Get(ctx, types.NamespacedName{Namespace: k.Namespace, Name: SSHKeySecretName}, secret)
	if apierrors.IsNotFound(err) {
		secret, err = k.create(ctx)
		if apierrors.IsAlreadyExists(err) {
			err = k.Reader.Get(ctx, types.NamespacedName{Namespace: k.Namespace, Name: SSHKeySecretName}, secret)
		}
	}
	if err != nil {
		return nil, "", fmt.Errorf("loading the controller's SSH key from Secret %s/%s: %w", k.Namespace, SSHKeySecretName, err)
	}
	signer, err := gossh.ParsePrivateKey(secret.Data[sshPrivateKeyKey])
	if err != nil {
		return nil, "", fmt.Errorf("Secret %s/%s: key %s is not an SSH private key", k.Namespace, SSHKeySecretName, sshPrivateKeyKey)
	}
	k.signer = signer
	k.publicKey = strings.TrimSpace(string(gossh.MarshalAuthorizedKey(signer.PublicKey()))) + " lxc-template-manager"
	return k.signer, k.publicKey, nil
}

func (k *ControllerKey) create(ctx context.Context) (*corev1.Secret, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	block, err := gossh.MarshalPrivateKey(priv, "lxc-template-manager")
	if err != nil {
		return nil, err
	}
	signer, err := gossh.NewSignerFromKey(priv)
	if err != nil {
		return nil, err
	}
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			Name:      SSHKeySecretName,
			Namespace: k.Namespace,
			Labels:    map[string]string{"app.kubernetes.io/managed-by": "lxc-template-manager"},
		},
		Type: corev1.SecretTypeOpaque,
		Data: map[string][]byte{
			sshPrivateKeyKey: pem.EncodeToMemory(block),
			sshPublicKeyKey:  gossh.MarshalAuthorizedKey(signer.PublicKey()),
		},
	}
	return secret, k.Client.Create(ctx, secret)
}
