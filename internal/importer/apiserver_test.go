package importer

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strconv"
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
	"templatemanager.dev/lxc-template-manager/internal/testkit"
)

// TestAPIServer runs the checks that need a real kube-apiserver under one control plane.
func TestAPIServer(t *testing.T) {
	testkit.SkipUnlessFull(t, testkit.ControlPlane)
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
	t.Run("VerdictsMatchTheAPIServer", func(t *testing.T) { testVerdictsMatchTheAPIServer(t, env) })
}

// testVerdictsMatchTheAPIServer imports one-template stores that are valid or break one rule
// and checks that the API server accepts exactly the objects the importer accepts, so the
// importer's checks are the API's rules rather than a guess at them.
func testVerdictsMatchTheAPIServer(t *testing.T, env *testenv.Env) {
	ctx := context.Background()
	conf := func(lines ...string) map[string]string {
		return map[string]string{tp + "template.conf": strings.Join(lines, "\n") + "\n"}
	}
	with := func(store map[string]string, kv ...string) map[string]string {
		for i := 0; i < len(kv); i += 2 {
			store[tp+"container-configs/"+kv[i]] = kv[i+1]
		}
		return store
	}
	file := func(name, dir, policy string) []string {
		return []string{"files/" + name, "x\n", "files/" + name + ".path", dir + "\n", "files/" + name + ".policy", policy + "\n"}
	}
	cases := []struct {
		name  string
		store map[string]string
		valid bool
	}{
		{"upper bounds", conf("TEMPLATE_CPU=8192", "TEMPLATE_RAM=268435456", "TEMPLATE_DISK=131072"), true},
		{"lower bounds", conf("TEMPLATE_CPU=1", "TEMPLATE_RAM=16", "TEMPLATE_DISK=1"), true},
		{"32 tags", conf(`TEMPLATE_TAGS="` + tags(32) + `"`), true},
		{"ubuntu short form", conf("TEMPLATE_OS=ubuntu", "TEMPLATE_VERSION=24.04"), true},
		{"longest description", conf(`TEMPLATE_DESCRIPTION="` + strings.Repeat("é", 4096) + `"`), true},
		{"privileged", conf("TEMPLATE_UNPRIVILEGED=0"), true},
		{"script names", with(conf(), "scripts/00-a_b.c-d.sh", "true\n", "scripts/99-z.sh", "true\n"), true},
		{"files at their paths", with(conf(), append(file("a b@c+d=e,f:g~h", "/srv/www", "Default"), file("x", "/etc/", "backup")...)...), true},
		{"custom installer", with(conf(), "packages/t.custom", "Tool One|command -v one|curl -fsSL x && echo ok|86400\n"), true},
		{"cores 0", conf("TEMPLATE_CPU=0"), false},
		{"cores 8193", conf("TEMPLATE_CPU=8193"), false},
		{"memory 15", conf("TEMPLATE_RAM=15"), false},
		{"disk 0", conf("TEMPLATE_DISK=0"), false},
		{"uppercase tag", conf("TEMPLATE_TAGS=Web"), false},
		{"tag too long", conf("TEMPLATE_TAGS=" + strings.Repeat("t", 65)), false},
		{"33 tags", conf(`TEMPLATE_TAGS="` + tags(33) + `"`), false},
		{"uppercase OS", conf("TEMPLATE_OS=Debian"), false},
		{"OS with a blank", conf(`TEMPLATE_OS="debian bookworm"`), false},
		{"description too long", conf(`TEMPLATE_DESCRIPTION="` + strings.Repeat("é", 4097) + `"`), false},
		{"uppercase script name", with(conf(), "scripts/00-Setup.sh", "true\n"), false},
		{"relative .path", with(conf(), file("motd", "etc", "replace")...), false},
		{"file under /proc", with(conf(), file("x", "/proc/sys", "replace")...), false},
		{"file in config-manager", with(conf(), file("state", "/var/lib/config-manager", "replace")...), false},
		{"unknown policy", with(conf(), file("motd", "/etc", "merge")...), false},
		{"custom timeout 0", with(conf(), "packages/t.custom", "tool|true|true|0\n"), false},
		{"custom timeout above a day", with(conf(), "packages/t.custom", "tool|true|true|86401\n"), false},
		{"custom check too long", with(conf(), "packages/t.custom", "tool|"+strings.Repeat("x", 4097)+"|true\n"), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res, problems := load(writeStore(t, tc.store), Options{Namespace: "default"})
			if got := len(problems) == 0; got != tc.valid {
				t.Fatalf("importer accepted=%v, want %v: %v", got, tc.valid, problems.Error())
			}
			if len(res.Templates) != 1 {
				t.Fatalf("%d templates, want 1", len(res.Templates))
			}
			err := env.Client.Create(ctx, &res.Templates[0], client.DryRunAll)
			if (err == nil) != tc.valid {
				t.Errorf("API server accepted=%v, importer accepted=%v (importer: %v; server: %v)", err == nil, tc.valid, problems.Error(), err)
			}
		})
	}
	// Package names: the bucket the importer accepts, the API server accepts, and the other way round.
	names := []struct {
		manager, name string
		valid         bool
	}{
		{"apt", "nodejs=24.*", true}, {"apt", "nginx/bookworm-backports", true}, {"apt", "libc6:amd64=2.36-9", true},
		{"dnf", "nodejs-24.*", true}, {"pip", "requests>=2.31,<3", true}, {"npm", "typescript@^5.4", true}, {"apk", "curl~8", true},
		{"apt", "Curl", false}, {"apt", "node*", false}, {"apt", "nodejs=24.*;id", false}, {"pip", "requests>=2, <3", false},
		{"npm", "tool@^1.2;id", false}, {"apk", "curl>", false}, {"dnf", "$(id)", false},
		{"pip", "requests[socks]==2.31", true}, {"npm", "@scope/tool@~1.2.3", true}, {"apt", "0ad", true},
		{"apt", "a", false}, {"apt", "libc6:" + strings.Repeat("a", 33), false}, {"apt", "nginx/" + strings.Repeat("b", 65), false},
		{"dnf", strings.Repeat("d", 129), false}, {"apk", "a;rm -rf /", false}, {"pip", "`id`", false},
	}
	for _, n := range names {
		t.Run(n.manager+" "+n.name, func(t *testing.T) {
			store := with(conf(), "packages/b."+n.manager, n.name+"\n")
			res, problems := load(writeStore(t, store), Options{Namespace: "default"})
			if got := len(problems) == 0; got != n.valid {
				t.Fatalf("importer accepted=%v, want %v: %v", got, n.valid, problems.Error())
			}
			if len(res.Buckets) != 1 {
				t.Fatalf("%d buckets, want 1", len(res.Buckets))
			}
			err := env.Client.Create(ctx, &res.Buckets[0], client.DryRunAll)
			if (err == nil) != n.valid {
				t.Errorf("API server accepted=%v, importer accepted=%v (server: %v)", err == nil, n.valid, err)
			}
		})
	}
}

// tags is n distinct tags separated by ;.
func tags(n int) string {
	var out []string
	for i := range n {
		out = append(out, "t"+strconv.Itoa(i))
	}
	return strings.Join(out, ";")
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
