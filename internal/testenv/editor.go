package testenv

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"
)

// NamespaceEditor makes, through admin, a ServiceAccount in ns holding the built-in edit role
// and the rules the chart aggregates into it for this API (config/rbac's editor roles but the
// ProxmoxCluster one; test control planes run no controller that aggregates roles). It returns
// a client acting as that account, from cfg.
func NamespaceEditor(t testing.TB, admin client.Client, cfg *rest.Config, ns string) client.Client {
	t.Helper()
	ctx := context.Background()
	rules := APIRoleRules(t, "editor")
	aggregated := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: ns + "-lxctm-edit"}, Rules: rules}
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "editor"}}
	subjects := []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: ns, Name: sa.Name}}
	objs := []client.Object{aggregated, sa}
	for _, role := range []string{"edit", aggregated.Name} {
		objs = append(objs, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "editor-" + role},
			RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role}, Subjects: subjects})
	}
	for _, obj := range objs {
		if err := admin.Create(ctx, obj); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { _ = admin.Delete(context.Background(), aggregated) })
	cfg = rest.CopyConfig(cfg)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: "system:serviceaccount:" + ns + ":editor"}
	c, err := client.New(cfg, client.Options{Scheme: Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// APIRoleRules returns the rules of config/rbac's roles of one kind ("editor" or "viewer") for
// this API's namespaced kinds: the ProxmoxCluster role is left out, as the chart's aggregated
// edit and view roles leave it out (cluster admins' only).
func APIRoleRules(t testing.TB, kind string) []rbacv1.PolicyRule {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(RepoRoot(), "config", "rbac", "*_"+kind+"_role.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("config/rbac/*_%s_role.yaml: %v", kind, err)
	}
	var rules []rbacv1.PolicyRule
	for _, file := range files {
		if strings.Contains(filepath.Base(file), "proxmoxcluster") {
			continue
		}
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		role := &rbacv1.ClusterRole{}
		if err := yaml.Unmarshal(data, role); err != nil {
			t.Fatal(err)
		}
		rules = append(rules, role.Rules...)
	}
	return rules
}
