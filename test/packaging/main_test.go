// Package packaging tests the ways the controller ships: the kustomize tree under config/, the
// Helm chart under charts/, and the image's Dockerfile. The manifests are rendered with the
// project's own tools (bin/helm, bin/kustomize), checked against what the code generates, applied
// to a real kube-apiserver, and the manager is run under the RBAC they grant.
package packaging

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"

	"templatemanager.dev/lxc-template-manager/internal/testenv"
	"templatemanager.dev/lxc-template-manager/internal/testkit"
)

const (
	chartDir         = "charts/lxc-template-manager"
	controllerNS     = "lxc-template-manager-system"
	managerRoleFile  = "config/rbac/role.yaml"
	crdBasesDir      = "config/crd/bases"
	leaderElectionID = "lxc-template-manager.lxc.templatemanager.dev"
)

var (
	root = testenv.RepoRoot()

	// The control plane starts with the first test that needs it and stops in TestMain.
	envOnce sync.Once
	env     *testenv.Env
	envErr  error

	// The manager is built once, the way the Dockerfile builds it.
	buildOnce  sync.Once
	managerBin string
	buildErr   error
	scratchDir string
)

func TestMain(m *testing.M) {
	var err error
	scratchDir, err = os.MkdirTemp("", "lxctm-packaging-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	if env != nil {
		if err := env.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "stopping the control plane:", err)
		}
	}
	os.RemoveAll(scratchDir)
	os.Exit(code)
}

// apiServer returns the shared control plane, starting it on first use.
func apiServer(t *testing.T) *testenv.Env {
	t.Helper()
	testkit.SkipUnlessFull(t, testkit.ControlPlane)
	envOnce.Do(func() { env, envErr = testenv.Start() })
	if envErr != nil {
		t.Fatalf("control plane: %v", envErr)
	}
	return env
}

// manager returns the path of a manager binary built from this tree with CGO_ENABLED=0, as the
// image builds it.
func manager(t *testing.T) string {
	t.Helper()
	testkit.SkipUnlessFull(t, "the manager built from this tree (go build)")
	buildOnce.Do(func() {
		managerBin = filepath.Join(scratchDir, "manager")
		cmd := exec.Command("go", "build", "-o", managerBin, "./cmd/manager")
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOTOOLCHAIN=local", "GOFLAGS=-buildvcs=false")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build ./cmd/manager: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return managerBin
}

// tool returns bin/<name>, failing the test with the way to get it when it is missing.
func tool(t *testing.T, name string) string {
	t.Helper()
	testkit.SkipUnlessFull(t, "bin/"+name+" (make tools)")
	path := filepath.Join(root, "bin", name)
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("%s not found in bin/: run 'make tools'", name)
	}
	return path
}

// run runs a tool from the repository root and returns its standard output.
func run(t *testing.T, name string, args ...string) []byte {
	t.Helper()
	out, err := runErr(t, name, args...)
	if err != nil {
		t.Fatalf("%s %s: %v", name, strings.Join(args, " "), err)
	}
	return out
}

// runErr is run for commands expected to fail; the error carries the command's stderr.
func runErr(t *testing.T, name string, args ...string) ([]byte, error) {
	t.Helper()
	return runEnv(t, nil, name, args...)
}

// runEnv runs a tool with extra environment variables.
func runEnv(t *testing.T, env []string, name string, args ...string) ([]byte, error) {
	t.Helper()
	cmd := exec.Command(tool(t, name), args...)
	cmd.Dir = root
	if env != nil {
		cmd.Env = append(os.Environ(), env...)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.Bytes(), fmt.Errorf("%w: %s", err, strings.TrimSpace(stderr.String()))
	}
	return stdout.Bytes(), nil
}

// helmTemplate renders the chart as release lxctm in namespace ns with extra helm flags.
func helmTemplate(t *testing.T, release, ns string, flags ...string) []*unstructured.Unstructured {
	t.Helper()
	args := append([]string{"template", release, chartDir, "--namespace", ns}, flags...)
	return decodeAll(t, run(t, "helm", args...))
}

// kustomizeBuild builds a kustomization directory relative to the repository root.
func kustomizeBuild(t *testing.T, dir string) []*unstructured.Unstructured {
	t.Helper()
	if dir == "config/default" {
		if _, err := os.Stat(filepath.Join(root, "config", "crd", "kustomization.yaml")); err != nil {
			t.Fatalf("config/default includes ../crd, which needs config/crd/kustomization.yaml listing bases/*.yaml")
		}
	}
	return decodeAll(t, run(t, "kustomize", "build", dir))
}

// decodeAll splits a multi-document YAML stream into objects, skipping empty documents.
func decodeAll(t *testing.T, data []byte) []*unstructured.Unstructured {
	t.Helper()
	var objs []*unstructured.Unstructured
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	for {
		obj := &unstructured.Unstructured{}
		if err := dec.Decode(&obj.Object); err != nil {
			if err == io.EOF {
				break
			}
			t.Fatalf("decoding manifests: %v", err)
		}
		if len(obj.Object) == 0 {
			continue
		}
		objs = append(objs, obj)
	}
	if len(objs) == 0 {
		t.Fatal("no objects rendered")
	}
	return objs
}

// readObject reads a single-object YAML file relative to the repository root.
func readObject(t *testing.T, path string) *unstructured.Unstructured {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(root, path))
	if err != nil {
		t.Fatal(err)
	}
	objs := decodeAll(t, data)
	if len(objs) != 1 {
		t.Fatalf("%s: want one object, found %d", path, len(objs))
	}
	return objs[0]
}

// only returns the objects of one kind.
func only(objs []*unstructured.Unstructured, kind string) []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for _, o := range objs {
		if o.GetKind() == kind {
			out = append(out, o)
		}
	}
	return out
}

// one returns the single object of a kind, failing when there is not exactly one.
func one(t *testing.T, objs []*unstructured.Unstructured, kind string) *unstructured.Unstructured {
	t.Helper()
	found := only(objs, kind)
	if len(found) != 1 {
		t.Fatalf("want one %s, found %d", kind, len(found))
	}
	return found[0]
}

// named returns the object of a kind and name, or nil.
func named(objs []*unstructured.Unstructured, kind, name string) *unstructured.Unstructured {
	for _, o := range objs {
		if o.GetKind() == kind && o.GetName() == name {
			return o
		}
	}
	return nil
}

// kinds counts the objects by kind.
func kinds(objs []*unstructured.Unstructured) map[string]int {
	n := map[string]int{}
	for _, o := range objs {
		n[o.GetKind()]++
	}
	return n
}
