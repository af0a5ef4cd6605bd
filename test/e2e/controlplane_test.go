package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"sigs.k8s.io/yaml"
)

// TestLocalControlPlane brings up the local control plane with hack/local-up.sh, applies the CRDs
// and the samples with kubectl, and checks what a user sees: printer columns and field docs.
func TestLocalControlPlane(t *testing.T) {
	t.Parallel()
	cp := StartLocalControlPlane(t)

	cp.Kubectl(t, "apply", "--server-side", "-f", filepath.Join(RepoRoot, "config", "crd", "bases"))
	cp.Kubectl(t, "wait", "--for=condition=Established", "--timeout=60s",
		"crd/lxccontainers.lxc.templatemanager.dev", "crd/lxctemplates.lxc.templatemanager.dev",
		"crd/packagebuckets.lxc.templatemanager.dev", "crd/proxmoxclusters.lxc.templatemanager.dev")
	out := cp.Kubectl(t, "apply", "-f", filepath.Join(RepoRoot, "config", "samples"))
	for _, want := range []string{
		"proxmoxcluster.lxc.templatemanager.dev/pve created",
		"packagebucket.lxc.templatemanager.dev/web-base created",
		"lxctemplate.lxc.templatemanager.dev/web created",
		"lxccontainer.lxc.templatemanager.dev/web-1 created",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("kubectl apply -f config/samples/ did not report %q:\n%s", want, out)
		}
	}

	columns := map[string][]string{
		"lxcc": {"NAME", "TEMPLATE", "NODE", "VMID", "IP", "PHASE", "READY", "AGE"},
		"lxct": {"NAME", "OS TEMPLATE", "USED BY", "READY", "AGE"},
		"pkgb": {"NAME", "MANAGER", "PACKAGES", "USED BY", "READY", "AGE"},
		"pvec": {"NAME", "ENDPOINT", "VERSION", "READY", "AGE"},
	}
	for short, want := range columns {
		out := cp.Kubectl(t, "get", short)
		header := strings.SplitN(out, "\n", 2)[0]
		for _, col := range want {
			if !strings.Contains(header, col) {
				t.Errorf("kubectl get %s: header %q lacks column %s", short, header, col)
			}
		}
	}
	all := cp.Kubectl(t, "get", "lxcc,lxct,pkgb,pvec")
	for _, name := range []string{"lxccontainer.lxc.templatemanager.dev/web-1", "lxctemplate.lxc.templatemanager.dev/web",
		"packagebucket.lxc.templatemanager.dev/web-base", "proxmoxcluster.lxc.templatemanager.dev/pve"} {
		if !strings.Contains(all, name) {
			t.Errorf("kubectl get lxcc,lxct,pkgb,pvec does not list %s:\n%s", name, all)
		}
	}
	if out := cp.Kubectl(t, "get", "lxctm"); !strings.Contains(out, "web-1") || !strings.Contains(out, "web-base") {
		t.Errorf("the lxctm category does not list the samples:\n%s", out)
	}

	// kubectl explain documents every field of the container spec, recursively.
	explained := cp.Kubectl(t, "explain", "lxccontainer.spec", "--recursive")
	crd := readCRD(t, "lxc.templatemanager.dev_lxccontainers.yaml")
	spec := crd.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["spec"]
	walkSchema("spec", spec, func(path string, s apiextensionsv1.JSONSchemaProps) {
		name := path[strings.LastIndex(path, ".")+1:]
		if !strings.Contains(explained, name) {
			t.Errorf("kubectl explain lxccontainer.spec --recursive does not show %s", path)
		}
		if strings.TrimSpace(s.Description) == "" {
			t.Errorf("%s has no description", path)
		}
	})
	// Each field's own documentation is reachable through explain.
	top := cp.Kubectl(t, "explain", "lxccontainer.spec")
	for name, s := range spec.Properties {
		firstWords := strings.Join(strings.Fields(s.Description)[:3], " ")
		if !strings.Contains(strings.Join(strings.Fields(top), " "), firstWords) {
			t.Errorf("kubectl explain lxccontainer.spec does not document %s (%q)", name, firstWords)
		}
	}
}

func readCRD(t testing.TB, file string) *apiextensionsv1.CustomResourceDefinition {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(RepoRoot, "config", "crd", "bases", file))
	if err != nil {
		t.Fatal(err)
	}
	crd := &apiextensionsv1.CustomResourceDefinition{}
	if err := yaml.Unmarshal(data, crd); err != nil {
		t.Fatal(err)
	}
	return crd
}

// walkSchema calls fn for every property below s, depth first, with its dotted path.
func walkSchema(path string, s apiextensionsv1.JSONSchemaProps, fn func(string, apiextensionsv1.JSONSchemaProps)) {
	for name, p := range s.Properties {
		fn(path+"."+name, p)
		walkSchema(path+"."+name, p, fn)
	}
	if s.Items != nil && s.Items.Schema != nil {
		walkSchema(path, *s.Items.Schema, fn)
	}
}
