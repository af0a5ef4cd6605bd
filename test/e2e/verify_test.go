package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"templatemanager.dev/lxc-template-manager/internal/testkit"
)

// cloneRepo clones the committed state of the repository into a temporary directory, as CI does.
func cloneRepo(t testing.TB) string {
	t.Helper()
	testkit.SkipUnlessFull(t, "make and the tools it builds, run in a clone of the repository")
	dir := filepath.Join(t.TempDir(), "clone")
	run(t, os.Environ(), "git", "clone", "-q", "--no-hardlinks", RepoRoot, dir)
	return dir
}

func runIn(dir string, name string, args ...string) (string, error) {
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestToolsComeFromTheCache shows that a fresh clone links the tools built before instead of
// rebuilding them: hack/tools.sh reports no build and every tool in bin/ points into the cache.
func TestToolsComeFromTheCache(t *testing.T) {
	t.Parallel()
	clone := cloneRepo(t)
	tools := []string{"kube-apiserver", "etcd", "kubectl", "controller-gen", "kustomize", "helm"}
	out, err := runIn(clone, "hack/tools.sh", tools...)
	if err != nil {
		t.Fatalf("hack/tools.sh: %v\n%s", err, out)
	}
	if strings.Contains(out, "building") {
		t.Errorf("a fresh clone rebuilt tools that were already built:\n%s", out)
	}
	for _, tool := range tools {
		target, err := os.Readlink(filepath.Join(clone, "bin", tool))
		if err != nil {
			t.Errorf("bin/%s is not a link into the cache: %v", tool, err)
			continue
		}
		if strings.HasPrefix(target, clone) {
			t.Errorf("bin/%s points into the clone (%s), not the cache", tool, target)
		}
	}
}

// TestVerifyCatchesStaleGeneratedFiles shows that make verify passes on the committed tree and
// fails once an API type changes without regenerating the CRDs and deepcopy code.
func TestVerifyCatchesStaleGeneratedFiles(t *testing.T) {
	t.Parallel()
	clone := cloneRepo(t)
	if out, err := runIn(clone, "make", "verify"); err != nil {
		t.Fatalf("make verify fails on the committed tree: %v\n%s", err, out)
	}

	types := filepath.Join(clone, "api", "v1alpha1", "packagebucket_types.go")
	src, err := os.ReadFile(types)
	if err != nil {
		t.Fatal(err)
	}
	changed := strings.Replace(string(src), "type PackageBucketSpec struct {",
		"type PackageBucketSpec struct {\n\t// mirror is a field added without regenerating.\n\t// +optional\n\tMirror []string `json:\"mirror,omitempty\"`\n", 1)
	if changed == string(src) {
		t.Fatal("could not change the PackageBucketSpec type")
	}
	if err := os.WriteFile(types, []byte(changed), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := runIn(clone, "git", "commit", "-qam", "change a type"); err != nil {
		t.Fatal(err)
	}
	out, err := runIn(clone, "make", "verify")
	if err == nil {
		t.Fatalf("make verify passed although a type changed without regeneration:\n%s", out)
	}
	for _, want := range []string{"Generated files are out of date", "lxc.templatemanager.dev_packagebuckets.yaml", "zz_generated.deepcopy.go"} {
		if !strings.Contains(out, want) {
			t.Errorf("make verify output does not mention %q:\n%s", want, out)
		}
	}
}
