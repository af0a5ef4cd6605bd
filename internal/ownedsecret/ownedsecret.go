// Package ownedsecret writes the Secrets an object owns: the generated root password and the
// credentials scripts leave. Each carries a controller reference to its owner, so that it goes
// with the owner, and the project's managed-by label. A Secret of the same name that the owner
// does not control is never overwritten.
package ownedsecret

import (
	"context"
	"errors"
	"fmt"
	"maps"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
)

// ManagedByLabel marks the Secrets the controller writes.
const ManagedByLabel = "app.kubernetes.io/managed-by"

// ErrNotOwned is returned for a Secret of the name that the owner does not control.
var ErrNotOwned = errors.New("exists and is not owned by this object")

// Writer writes an owner's Secrets. Reader reads them uncached: the manager keeps no Secret's
// data in memory.
type Writer struct {
	Client client.Client
	Reader client.Reader
}

// Create returns the owner's Secret name as it is, or creates it with what generate makes when
// it does not exist yet: a value generated once stays.
func (w Writer) Create(ctx context.Context, owner client.Object, name string, generate func() (map[string][]byte, error)) (*corev1.Secret, error) {
	secret, err := w.read(ctx, owner, name)
	if err != nil || secret != nil {
		return secret, err
	}
	data, err := generate()
	if err != nil {
		return nil, err
	}
	return w.create(ctx, owner, name, data)
}

// Apply makes the owner's Secret name hold exactly data, creating it when missing. A Secret of
// that name the owner does not control is refused with ErrNotOwned.
func (w Writer) Apply(ctx context.Context, owner client.Object, name string, data map[string][]byte) error {
	secret, err := w.read(ctx, owner, name)
	switch {
	case err != nil:
		return err
	case secret == nil:
		_, err := w.create(ctx, owner, name, data)
		return err
	case !metav1.IsControlledBy(secret, owner):
		return fmt.Errorf("Secret %s %w", name, ErrNotOwned)
	case maps.EqualFunc(secret.Data, data, func(a, b []byte) bool { return string(a) == string(b) }):
		return nil
	}
	secret.Data = data
	if err := w.Client.Update(ctx, secret); err != nil {
		return fmt.Errorf("updating Secret %s: %w", name, err)
	}
	return nil
}

// read returns the Secret, or nil when there is none.
func (w Writer) read(ctx context.Context, owner client.Object, name string) (*corev1.Secret, error) {
	secret := &corev1.Secret{}
	err := w.Reader.Get(ctx, types.NamespacedName{Namespace: owner.GetNamespace(), Name: name}, secret)
	switch {
	case apierrors.IsNotFound(err):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("reading Secret %s: %w", name, err)
	}
	return secret, nil
}

func (w Writer) create(ctx context.Context, owner client.Object, name string, data map[string][]byte) (*corev1.Secret, error) {
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: owner.GetNamespace(),
			Labels: map[string]string{ManagedByLabel: "lxc-template-manager"}},
		Type: corev1.SecretTypeOpaque,
		Data: data,
	}
	if err := controllerutil.SetControllerReference(owner, secret, w.Client.Scheme()); err != nil {
		return nil, err
	}
	if err := w.Client.Create(ctx, secret); err != nil {
		return nil, fmt.Errorf("creating Secret %s: %w", name, err)
	}
	return secret, nil
}
