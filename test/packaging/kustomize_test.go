package packaging

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
)

const namePrefix = "lxc-template-manager-"

func TestKustomizeDefault(t *testing.T) {
	objs := kustomizeBuild(t, "config/default")
	b := bundle{objs}

	ns := one(t, objs, "Namespace")
	if ns.GetName() != controllerNS {
		t.Errorf("Namespace %q, want %q", ns.GetName(), controllerNS)
	}
	if ns.GetLabels()["pod-security.kubernetes.io/enforce"] != "restricted" {
		t.Errorf("Namespace labels %v do not enforce the restricted Pod Security Standard", ns.GetLabels())
	}
	for _, o := range objs {
		switch o.GetKind() {
		case "Namespace", "CustomResourceDefinition":
			continue
		case "ClusterRole", "ClusterRoleBinding", "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding":
			if o.GetNamespace() != "" {
				t.Errorf("%s %s has a namespace", o.GetKind(), o.GetName())
			}
		default:
			if o.GetNamespace() != controllerNS {
				t.Errorf("%s %s is in namespace %q", o.GetKind(), o.GetName(), o.GetNamespace())
			}
		}
		if !strings.HasPrefix(o.GetName(), namePrefix) {
			t.Errorf("%s %s lacks the name prefix %s", o.GetKind(), o.GetName(), namePrefix)
		}
	}

	// The CRDs are controller-gen's, unchanged.
	crds := only(objs, "CustomResourceDefinition")
	bases, _ := filepath.Glob(filepath.Join(root, crdBasesDir, "*.yaml"))
	if len(crds) != len(bases) || len(bases) != apiKinds {
		t.Errorf("%d CRDs built, %d in %s", len(crds), len(bases), crdBasesDir)
	}
	for _, path := range bases {
		base := readObject(t, filepath.Join(crdBasesDir, filepath.Base(path)))
		built := named(objs, "CustomResourceDefinition", base.GetName())
		if built == nil || !reflect.DeepEqual(built.Object, base.Object) {
			t.Errorf("CRD %s differs from %s", base.GetName(), path)
		}
	}

	checkAdmissionPolicy(t, objs, namePrefix+"cluster-policy")

	d := b.deployment(t)
	checkDeploymentSecurity(t, d)
	checkManagerContainer(t, d)
	checkRBAC(t, b)
	svc := checkMetricsService(t, b)
	if svc.Spec.Ports[0].Name != "https" {
		t.Errorf("metrics port named %q", svc.Spec.Ports[0].Name)
	}
	if v, _ := flagValue(managerContainer(t, d).Args, "metrics-bind-address"); v != ":8443" {
		t.Errorf("--metrics-bind-address=%q, want :8443", v)
	}

	// Every RBAC object the kustomization lists is in the build, and the user-facing roles cover
	// all four kinds.
	for _, kind := range []string{"lxccontainer", "lxctemplate", "packagebucket", "proxmoxcluster"} {
		for _, role := range []string{"admin", "editor", "viewer"} {
			if named(objs, "ClusterRole", namePrefix+kind+"-"+role+"-role") == nil {
				t.Errorf("no ClusterRole %s%s-%s-role", namePrefix, kind, role)
			}
		}
	}
}

// TestKustomizePrometheus enables ../prometheus in a copy of config/ the way its comment in
// config/default says, and checks the ServiceMonitor finds the metrics Service.
func TestKustomizePrometheus(t *testing.T) {
	standalone := kustomizeBuild(t, "config/prometheus")
	if one(t, standalone, "ServiceMonitor") == nil {
		t.Fatal("config/prometheus builds no ServiceMonitor")
	}

	dir := t.TempDir()
	copyTree(t, filepath.Join(root, "config"), filepath.Join(dir, "config"))
	kfile := filepath.Join(dir, "config", "default", "kustomization.yaml")
	data, err := os.ReadFile(kfile)
	if err != nil {
		t.Fatal(err)
	}
	enabled := bytes.Replace(data, []byte("#- ../prometheus"), []byte("- ../prometheus"), 1)
	if bytes.Equal(enabled, data) {
		t.Fatal("config/default/kustomization.yaml has no '#- ../prometheus' line to enable")
	}
	if err := os.WriteFile(kfile, enabled, 0o644); err != nil {
		t.Fatal(err)
	}
	out := run(t, "kustomize", "build", filepath.Join(dir, "config", "default"))
	objs := decodeAll(t, out)
	svc := checkMetricsService(t, bundle{objs})
	sm := one(t, objs, "ServiceMonitor")
	if sm.GetNamespace() != controllerNS || !strings.HasPrefix(sm.GetName(), namePrefix) {
		t.Errorf("ServiceMonitor %s/%s", sm.GetNamespace(), sm.GetName())
	}
	sel, _, _ := unstructured.NestedStringMap(sm.Object, "spec", "selector", "matchLabels")
	if len(sel) == 0 || !labels.SelectorFromSet(sel).Matches(labels.Set(svc.Labels)) {
		t.Errorf("ServiceMonitor selector %v does not match the metrics Service labels %v", sel, svc.Labels)
	}
	endpoints, _, _ := unstructured.NestedSlice(sm.Object, "spec", "endpoints")
	if len(endpoints) != 1 || endpoints[0].(map[string]any)["port"] != svc.Spec.Ports[0].Name || endpoints[0].(map[string]any)["scheme"] != "https" {
		t.Errorf("ServiceMonitor endpoints %v do not scrape port %s over https", endpoints, svc.Spec.Ports[0].Name)
	}
}

// copyTree copies regular files from src to dst.
func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(target, data, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}
