package controller

import (
	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"

	"context"
	"crypto/rand"
	"math/big"

	"templatemanager.dev/lxc-template-manager/internal/desired"
	"templatemanager.dev/lxc-template-manager/internal/outcome"
	"templatemanager.dev/lxc-template-manager/internal/ownedsecret"
)

// rootPasswordKey is the key of the generated root password Secret.
const rootPasswordKey = "password"

// rootPasswordLength is the length of generated root passwords.
const rootPasswordLength = 16

const passwordAlphabet = "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"

// rootPassword returns the root password: from the referenced Secret, or generated once into
// the Secret <name>-root-password owned by the container. Only the reference reaches status.
func (r *LXCContainerReconciler) rootPassword(ctx context.Context, obj *lxcv1.LXCContainer) (string, error) {
	if ref := obj.Spec.RootPasswordSecretRef; ref != nil {
		v, err := desired.Resolver{Reader: r.APIReader, Namespace: obj.Namespace}.Key(ctx, true, ref.Name, ref.Key)
		if err != nil {
			return "", err
		}
		obj.Status.RootPasswordSecretRef = ref.DeepCopy()
		return string(v), nil
	}
	name := obj.Name + "-root-password"
	secret, err := r.ownedSecrets().Create(ctx, obj, name, func() (map[string][]byte, error) {
		password, err := generatePassword(rootPasswordLength)
		return map[string][]byte{rootPasswordKey: []byte(password)}, err
	})
	if err != nil {
		return "", err
	}
	password := string(secret.Data[rootPasswordKey])
	if password == "" {
		return "", outcome.Stall(lxcv1.InvalidSpecReason, "Secret %s has no key %s", name, rootPasswordKey)
	}
	obj.Status.RootPasswordSecretRef = &lxcv1.KeySelector{Name: name, Key: rootPasswordKey}
	return password, nil
}

func generatePassword(n int) (string, error) {
	b := make([]byte, n)
	max := big.NewInt(int64(len(passwordAlphabet)))
	for i := range b {
		k, err := rand.Int(rand.Reader, max)
		if err != nil {
			return "", err
		}
		b[i] = passwordAlphabet[k.Int64()]
	}
	return string(b), nil
}

// ownedSecrets writes the Secrets a container owns.
func (r *LXCContainerReconciler) ownedSecrets() ownedsecret.Writer {
	return ownedsecret.Writer{Client: r.Client, Reader: r.APIReader}
}
