package controller

import (
	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"

	"context"
	"crypto/rand"
	"fmt"
	"math/big"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"templatemanager.dev/lxc-template-manager/internal/outcome"
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
		v, err := resolver{reader: r.APIReader, namespace: obj.Namespace}.key(ctx, true, ref.Name, ref.Key)
		if err != nil {
			return "", err
		}
		obj.Status.RootPasswordSecretRef = ref.DeepCopy()
		return string(v), nil
	}
	name := obj.Name + "-root-password"
	secret := &corev1.Secret{}
	err := r.APIReader.Get(ctx, types.NamespacedName{Namespace: obj.Namespace, Name: name}, secret)
	switch {
	case apierrors.IsNotFound(err):
		password, err := generatePassword(rootPasswordLength)
		if err != nil {
			return "", err
		}
		secret = &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: obj.Namespace,
				Labels: map[string]string{"app.kubernetes.io/managed-by": "lxc-template-manager"}},
			Type: corev1.SecretTypeOpaque,
			Data: map[string][]byte{rootPasswordKey: []byte(password)},
		}
		if err := controllerutil.SetControllerReference(obj, secret, r.Scheme()); err != nil {
			return "", err
		}
		if err := r.Create(ctx, secret); err != nil {
			return "", fmt.Errorf("creating Secret %s: %w", name, err)
		}
	case err != nil:
		return "", fmt.Errorf("reading Secret %s: %w", name, err)
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
