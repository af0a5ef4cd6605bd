package desired

import (
	"context"
	"errors"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
	"templatemanager.dev/lxc-template-manager/internal/outcome"
)

// TestShortSecretValuesAreRefused: a Secret value scripts would see that is too short to
// redact stalls the container, naming the Secret and the key; a long one is taken.
func TestShortSecretValuesAreRefused(t *testing.T) {
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "app-env"},
		Data: map[string][]byte{"PIN": []byte("123"), "TOKEN": []byte("long-enough-token")}}
	r := Resolver{Reader: fake.NewClientBuilder().WithScheme(scheme).WithObjects(secret).Build(), Namespace: "team"}
	tmpl := &lxcv1.LXCTemplate{Spec: lxcv1.LXCTemplateSpec{OSTemplate: "local:vztmpl/debian.tar.zst"}}
	c := &lxcv1.LXCContainer{ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "web"}, Spec: lxcv1.LXCContainerSpec{
		Config: &lxcv1.ContainerConfig{EnvFrom: []lxcv1.EnvFromSource{{SecretRef: &lxcv1.LocalObjectReference{Name: "app-env"}}}}}}

	_, err := Build(context.Background(), r, c, tmpl, nil)
	var stall *outcome.StallError
	if !errors.As(err, &stall) || stall.Reason != lxcv1.InvalidSpecReason ||
		!strings.Contains(err.Error(), "Secret app-env key PIN") {
		t.Fatalf("a 3-character Secret value: %v, want an InvalidSpec stall naming Secret app-env key PIN", err)
	}

	secret.Data["PIN"] = []byte("1234")
	r.Reader = fake.NewClientBuilder().WithScheme(scheme).WithObjects(secret).Build()
	d, err := Build(context.Background(), r, c, tmpl, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Config.Env) != 2 {
		t.Errorf("env %v, want PIN and TOKEN", d.Config.Env)
	}
}
