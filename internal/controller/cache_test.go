package controller

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"templatemanager.dev/lxc-template-manager/internal/testenv"
)

// TestAppliedSecretLeavesNothingInTheCache: a Secret applied with kubectl apply carries its
// data in the last-applied annotation; the manager's cache keeps none of it, nor its labels.
func TestAppliedSecretLeavesNothingInTheCache(t *testing.T) {
	ns := newNamespace(t, nil)
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	value := "s3cret-" + hex.EncodeToString(b)
	manifest := `{"apiVersion":"v1","kind":"Secret","metadata":{"name":"app","namespace":"` + ns +
		`","labels":{"team":"payments"}},"stringData":{"password":"` + value + `"}}`
	cmd := exec.Command(filepath.Join(testenv.RepoRoot(), "bin", "kubectl"), "apply", "-f", "-")
	cmd.Env = append(os.Environ(), "KUBECONFIG="+writeKubeconfig(t))
	cmd.Stdin = strings.NewReader(manifest)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("kubectl apply: %v\n%s", err, out)
	}
	// The API server's copy holds the value in the annotation: what the cache must not keep.
	stored := &corev1.Secret{}
	if err := k8s.Get(testCtx, client.ObjectKey{Namespace: ns, Name: "app"}, stored); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stored.Annotations[corev1.LastAppliedConfigAnnotation], value) {
		t.Fatalf("kubectl apply left no last-applied annotation with the value: %v", stored.Annotations)
	}

	// A cache as bin/manager makes it (cmd/manager passes its options through CacheOptions),
	// read as the manager's service account.
	c, err := cache.New(managerRESTConfig, CacheOptions(cache.Options{Scheme: env.Scheme}))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(testCtx)
	defer cancel()
	go func() { _ = c.Start(ctx) }()
	cached := &metav1.PartialObjectMetadata{}
	cached.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Secret"))
	eventually(t, 20*time.Second, func() error {
		return c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "app"}, cached)
	})
	dump, err := json.Marshal(cached)
	if err != nil {
		t.Fatal(err)
	}
	for _, leak := range []string{value, "last-applied", "payments"} {
		if strings.Contains(string(dump), leak) {
			t.Errorf("the cached Secret holds %q: %s", leak, dump)
		}
	}
	if cached.UID != stored.UID || cached.ResourceVersion == "" || cached.Name != "app" || cached.Namespace != ns {
		t.Errorf("the cached Secret lost what identifies it: %s", dump)
	}
}

// writeKubeconfig writes a kubeconfig for the test control plane's admin.
func writeKubeconfig(t *testing.T) string {
	t.Helper()
	cfg := env.Config
	kc := clientcmdapi.NewConfig()
	kc.Clusters["test"] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthorityData: cfg.CAData}
	kc.AuthInfos["admin"] = &clientcmdapi.AuthInfo{ClientCertificateData: cfg.CertData, ClientKeyData: cfg.KeyData, Token: cfg.BearerToken}
	kc.Contexts["test"] = &clientcmdapi.Context{Cluster: "test", AuthInfo: "admin"}
	kc.CurrentContext = "test"
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		t.Fatal(err)
	}
	return path
}
