package importer

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
	"templatemanager.dev/lxc-template-manager/internal/testenv"
)

// TestAPIServer runs the checks that need a real kube-apiserver under one control plane.
func TestAPIServer(t *testing.T) {
	env, err := testenv.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := env.Stop(); err != nil {
			t.Errorf("stopping the control plane: %v", err)
		}
	})
	t.Run("SampleManifestsAreStored", func(t *testing.T) { testSampleManifestsAreStored(t, env) })
	t.Run("ApplyAndDryRun", func(t *testing.T) { testApplyAndDryRun(t, env) })
}

func createNamespace(t *testing.T, env *testenv.Env, ns string) {
	t.Helper()
	if err := env.Client.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}
}

// testSampleManifestsAreStored imports the sample store, decodes the YAML the command writes
// and creates every object for real, then reads a template back.
func testSampleManifestsAreStored(t *testing.T, env *testenv.Env) {
	ctx := context.Background()
	const ns = "imported"
	createNamespace(t, env, ns)
	var out, stderr bytes.Buffer
	if code := RunCommand([]string{"--namespace", ns, sampleDir}, &out, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	dec := utilyaml.NewYAMLOrJSONDecoder(&out, 4096)
	var created []string
	for {
		obj := &unstructured.Unstructured{}
		if err := dec.Decode(&obj.Object); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("decoding the output: %v", err)
		}
		if err := env.Client.Create(ctx, obj); err != nil {
			t.Errorf("%s %s rejected: %v", obj.GetKind(), obj.GetName(), err)
			continue
		}
		created = append(created, obj.GetKind()+"/"+obj.GetName())
	}
	want := "PackageBucket/base PackageBucket/cli PackageBucket/edge-base PackageBucket/tools LXCTemplate/devbox LXCTemplate/edge LXCTemplate/minimal"
	if got := strings.Join(created, " "); got != want {
		t.Fatalf("created %s, want %s", got, want)
	}
	var dev lxcv1.LXCTemplate
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "devbox"}, &dev); err != nil {
		t.Fatal(err)
	}
	if len(dev.Spec.Scripts) != 6 || dev.Spec.Scripts[4].Check == nil || len(dev.Spec.Files) != 3 || dev.Spec.OSTemplate != "debian-12-standard" {
		t.Errorf("stored template lost entries: %+v", dev.Spec)
	}
}

// testApplyAndDryRun applies the sample store with the command: a dry run changes nothing, an
// apply creates everything, a second apply changes nothing, and a changed store shows what changes.
func testApplyAndDryRun(t *testing.T, env *testenv.Env) {
	ctx := context.Background()
	const ns = "applied"
	createNamespace(t, env, ns)
	config := func(string) (*rest.Config, error) { return env.Config, nil }
	run := func(dir string, args ...string) string {
		t.Helper()
		var stdout, stderr bytes.Buffer
		if code := runCommand(append(args, "--namespace", ns, "--apply", dir), &stdout, &stderr, config); code != 0 {
			t.Fatalf("exit %d: %s", code, stderr.String())
		}
		return stdout.String()
	}

	out := run(sampleDir, "--dry-run")
	if strings.Count(out, " created (dry run)\n") != 7 {
		t.Errorf("dry run:\n%s", out)
	}
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "devbox"}, &lxcv1.LXCTemplate{}); !apierrors.IsNotFound(err) {
		t.Fatalf("the dry run stored devbox: %v", err)
	}
	if out := run(sampleDir); strings.Count(out, " created\n") != 7 {
		t.Errorf("apply:\n%s", out)
	}
	if out := run(sampleDir); strings.Count(out, " unchanged\n") != 7 {
		t.Errorf("second apply:\n%s", out)
	}

	// A copy of the store with one more core for devbox.
	root := t.TempDir()
	if err := os.CopyFS(root, os.DirFS(filepath.Join("testdata", "repo"))); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(root, "infra", "lxc", "templates", "devbox", "template.conf")
	data, err := os.ReadFile(conf)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(conf, bytes.Replace(data, []byte("TEMPLATE_CPU:-2"), []byte("TEMPLATE_CPU:-3"), 1), 0o644); err != nil {
		t.Fatal(err)
	}
	out = run(filepath.Join(root, "infra", "lxc", "templates"), "--dry-run")
	if !strings.Contains(out, "LXCTemplate/devbox configured (dry run): [spec.resources]\n") || strings.Count(out, "unchanged (dry run)") != 6 {
		t.Errorf("dry run of a change:\n%s", out)
	}
	var dev lxcv1.LXCTemplate
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "devbox"}, &dev); err != nil || *dev.Spec.Resources.Cores != 2 {
		t.Errorf("the dry run changed devbox: %v", err)
	}
}
