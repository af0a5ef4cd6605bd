package ownedsecret

import (
	"context"
	"errors"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
)

func TestCreateMakesAValueOnceAndApplyConverges(t *testing.T) {
	ctx := context.Background()
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	owner := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "web", UID: "u1"}}
	stranger := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "web-taken"}}
	c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(owner, stranger).Build()
	w := Writer{Client: c, Reader: c}

	calls := 0
	gen := func() (map[string][]byte, error) {
		calls++
		return map[string][]byte{"password": []byte("first")}, nil
	}
	for range 2 {
		s, err := w.Create(ctx, owner, "web-root-password", gen)
		if err != nil {
			t.Fatal(err)
		}
		if string(s.Data["password"]) != "first" {
			t.Fatalf("password %q", s.Data["password"])
		}
	}
	if calls != 1 {
		t.Errorf("generated %d times, want once", calls)
	}
	got := &corev1.Secret{}
	if err := c.Get(ctx, types.NamespacedName{Namespace: "team", Name: "web-root-password"}, got); err != nil {
		t.Fatal(err)
	}
	if !metav1.IsControlledBy(got, owner) || got.Labels[ManagedByLabel] != "lxc-template-manager" {
		t.Errorf("the Secret is not the owner's: %v %v", got.OwnerReferences, got.Labels)
	}

	if err := w.Apply(ctx, owner, "web-credentials", map[string][]byte{"A": []byte("1")}); err != nil {
		t.Fatal(err)
	}
	if err := w.Apply(ctx, owner, "web-credentials", map[string][]byte{"B": []byte("2")}); err != nil {
		t.Fatal(err)
	}
	if err := c.Get(ctx, types.NamespacedName{Namespace: "team", Name: "web-credentials"}, got); err != nil {
		t.Fatal(err)
	}
	if len(got.Data) != 1 || string(got.Data["B"]) != "2" {
		t.Errorf("credentials %v, want exactly B=2", got.Data)
	}
	if err := w.Apply(ctx, owner, "web-taken", map[string][]byte{"A": []byte("1")}); !errors.Is(err, ErrNotOwned) {
		t.Errorf("writing a Secret the owner does not control: %v, want ErrNotOwned", err)
	}
	if err := c.Get(ctx, types.NamespacedName{Namespace: "team", Name: "web-taken"}, got); err != nil || len(got.Data) != 0 {
		t.Errorf("the stranger's Secret changed: %v %v", got.Data, err)
	}
}
