package packaging

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/client"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
)

const fieldOwner = client.FieldOwner("lxctm-packaging-test")

// apiKinds is the number of kinds, and so of CRDs, in the API group.
const apiKinds = 7

// ensureNamespace creates a namespace for real: objects in it cannot even be dry-run before it exists.
func ensureNamespace(t *testing.T, c client.Client, name string) {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if err := c.Create(context.Background(), ns); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatalf("namespace %s: %v", name, err)
	}
}

// applyAll server-side applies the objects, for real or as a dry run, and returns how many of each
// kind the API server accepted. Namespaces in the list are created first, for real.
func applyAll(t *testing.T, c client.Client, objs []*unstructured.Unstructured, dryRun bool) map[string]int {
	t.Helper()
	ctx := context.Background()
	for _, o := range only(objs, "Namespace") {
		ensureNamespace(t, c, o.GetName())
	}
	accepted := map[string]int{}
	for _, o := range objs {
		// The test API server has no monitoring.coreos.com CRDs (the Prometheus Operator's), so a
		// ServiceMonitor cannot be applied here; the tests of the rendering check it instead.
		if o.GetKind() == "ServiceMonitor" {
			continue
		}
		opts := []client.ApplyOption{fieldOwner}
		if dryRun {
			opts = append(opts, client.DryRunAll)
		}
		if err := c.Apply(ctx, client.ApplyConfigurationFromUnstructured(o.DeepCopy()), opts...); err != nil {
			t.Errorf("%s %s/%s rejected: %v", o.GetKind(), o.GetNamespace(), o.GetName(), err)
			continue
		}
		accepted[o.GetKind()]++
	}
	return accepted
}

func TestChartAppliesToAPIServer(t *testing.T) {
	e := apiServer(t)
	ensureNamespace(t, e.Client, chartNS)
	flags := append([]string{"--include-crds", "--set", "metrics.certSecretName=metrics-tls"}, monitoringFlags...)
	objs := helmTemplate(t, "lxctm", chartNS, flags...)
	accepted := applyAll(t, e.Client, objs, true)
	for _, kind := range []string{"CustomResourceDefinition", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding", "Service", "Deployment", "ConfigMap", "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"} {
		if accepted[kind] == 0 {
			t.Errorf("no %s accepted (accepted: %v)", kind, accepted)
		}
	}
	if accepted["CustomResourceDefinition"] != apiKinds {
		t.Errorf("%d CRDs accepted, want %d", accepted["CustomResourceDefinition"], apiKinds)
	}
}

func TestKustomizeAppliesToAPIServer(t *testing.T) {
	e := apiServer(t)
	objs := kustomizeBuild(t, "config/default")
	accepted := applyAll(t, e.Client, objs, true)
	total := 0
	for _, n := range accepted {
		total += n
	}
	if total != len(objs) {
		t.Errorf("%d of %d objects accepted: %v", total, len(objs), accepted)
	}
}

// TestChartInstallsWithHelm installs and uninstalls the chart with helm itself against the test
// API server: Helm's own create path, the CRDs from crds/, and the NOTES a user reads.
func TestChartInstallsWithHelm(t *testing.T) {
	e := apiServer(t)
	dir := t.TempDir()
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["test"] = &clientcmdapi.Cluster{Server: e.Config.Host, CertificateAuthorityData: e.Config.CAData}
	cfg.AuthInfos["admin"] = &clientcmdapi.AuthInfo{ClientCertificateData: e.Config.CertData, ClientKeyData: e.Config.KeyData, Token: e.Config.BearerToken}
	cfg.Contexts["test"] = &clientcmdapi.Context{Cluster: "test", AuthInfo: "admin"}
	cfg.CurrentContext = "test"
	kubeconfig := filepath.Join(dir, "kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, kubeconfig); err != nil {
		t.Fatal(err)
	}
	helmEnv := []string{"KUBECONFIG=" + kubeconfig, "HELM_CACHE_HOME=" + filepath.Join(dir, "cache"),
		"HELM_CONFIG_HOME=" + filepath.Join(dir, "config"), "HELM_DATA_HOME=" + filepath.Join(dir, "data")}

	out, err := runEnv(t, helmEnv, "helm", "install", "lxctm-helm", chartDir, "--namespace", "lxctm-helm", "--create-namespace",
		"--set", "dashboard.enabled=true", "--set", "console.enabled=true")
	if err != nil {
		t.Fatalf("helm install: %v\n%s", err, out)
	}
	for _, want := range []string{
		"STATUS: deployed",
		"kubectl --namespace lxctm-helm rollout status deployment/lxctm-helm-lxc-template-manager",
		"--clusterrole=lxctm-helm-lxc-template-manager-metrics-reader",
		"ConfigMap lxctm-helm-lxc-template-manager-dashboard",
		"port-forward svc/lxctm-helm-lxc-template-manager-console 8090",
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("helm install output lacks %q:\n%s", want, out)
		}
	}
	ctx := context.Background()
	d := &appsv1.Deployment{}
	for _, name := range []string{"lxctm-helm-lxc-template-manager", "lxctm-helm-lxc-template-manager-console"} {
		if err := e.Client.Get(ctx, client.ObjectKey{Namespace: "lxctm-helm", Name: name}, d); err != nil {
			t.Errorf("the installed Deployment %s: %v", name, err)
		}
	}
	crds := &unstructured.UnstructuredList{}
	crds.SetAPIVersion("apiextensions.k8s.io/v1")
	crds.SetKind("CustomResourceDefinitionList")
	if err := e.Client.List(ctx, crds); err != nil {
		t.Fatal(err)
	}
	found := 0
	for _, crd := range crds.Items {
		if group, _, _ := unstructured.NestedString(crd.Object, "spec", "group"); group == lxcv1.GroupVersion.Group {
			found++
		}
	}
	if found != apiKinds {
		t.Errorf("%d CRDs of group %s after install", found, lxcv1.GroupVersion.Group)
	}

	if out, err := runEnv(t, helmEnv, "helm", "uninstall", "lxctm-helm", "--namespace", "lxctm-helm", "--wait", "--timeout", "60s"); err != nil {
		t.Fatalf("helm uninstall: %v\n%s", err, out)
	}
	role := &rbacv1.ClusterRole{}
	if err := e.Client.Get(ctx, client.ObjectKey{Name: "lxctm-helm-lxc-template-manager-manager"}, role); !apierrors.IsNotFound(err) {
		t.Errorf("the manager ClusterRole after uninstall: %v", err)
	}
}
