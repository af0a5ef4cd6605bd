package v1alpha1_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"templatemanager.dev/lxc-template-manager/internal/testenv"
	"templatemanager.dev/lxc-template-manager/internal/testkit"
)

// installAdmissionPolicy creates the objects of config/admission, as shipped.
func installAdmissionPolicy(t *testing.T, ctx context.Context) {
	t.Helper()
	for _, file := range []string{"policy.yaml", "binding.yaml"} {
		data, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "config", "admission", file))
		if err != nil {
			t.Fatal(err)
		}
		obj := decode(t, string(data))
		if err := env.Client.Create(ctx, obj); err != nil {
			t.Fatalf("config/admission/%s: %v", file, err)
		}
		t.Cleanup(func() { _ = env.Client.Delete(context.Background(), obj) })
	}
}

const policyCluster = `apiVersion: lxc.templatemanager.dev/v1alpha1
kind: ProxmoxCluster
metadata: {name: policy-pve}
spec:
  endpoint: https://pve.example.com:8006/api2/json
  credentialsRef: {namespace: lxc-template-manager-system, name: pve-token}
  allowedNamespaces: {matchLabels: {policy-test: "yes"}}
  policy:
    storages: [local-lvm]
    bridges: [vmbr0]
    limits: {cores: 4, memoryMiB: 4096, diskGiB: 32, mountPointGiB: 50}
    hostPaths: [/srv/shared]
    devices: [/dev/net/tun]
    namespaceQuota: {containers: 3, cores: 5}
`

// TestAdmissionPolicyHoldsAnEditorToTheClusterPolicy: a namespace editor (a ServiceAccount
// with the edit role and what the chart aggregates into it) is refused, at admission, a
// privileged template, a feature the policy does not list, a bridge or storage outside the
// allowed lists, a container over the per-container limits and one over the namespace quota,
// each with a message naming the field and the rule; what the policy allows is admitted.
func TestAdmissionPolicyHoldsAnEditorToTheClusterPolicy(t *testing.T) {
	testkit.SkipUnlessFull(t, testkit.ControlPlane)
	if env == nil {
		t.Fatal("the control plane did not start")
	}
	ctx := context.Background()
	ns := "policy-editor"
	if err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: map[string]string{"policy-test": "yes"}}}); err != nil {
		t.Fatal(err)
	}
	cluster := decode(t, policyCluster)
	if err := env.Client.Create(ctx, cluster); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Client.Delete(context.Background(), cluster) })
	setUsage(t, ctx, cluster, ns, 1, 2)
	// Made before the policy: it breaks the bridge rule.
	earlier := decode(t, fmt.Sprintf("apiVersion: lxc.templatemanager.dev/v1alpha1\nkind: LXCContainer\nmetadata: {name: earlier, namespace: %s}\nspec:\n  clusterRef: {name: policy-pve}\n  templateRef: {name: t}\n  network: {bridge: vmbr9}\n", ns))
	if err := env.Client.Create(ctx, earlier); err != nil {
		t.Fatal(err)
	}
	// A cluster without a policy, admitting other namespaces only.
	open := decode(t, "apiVersion: lxc.templatemanager.dev/v1alpha1\nkind: ProxmoxCluster\nmetadata: {name: open-pve}\nspec:\n  endpoint: https://pve2.example.com:8006/api2/json\n  credentialsRef: {namespace: lxc-template-manager-system, name: pve-token}\n  allowedNamespaces: {matchLabels: {elsewhere: \"yes\"}}\n")
	if err := env.Client.Create(ctx, open); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Client.Delete(context.Background(), open) })
	for name, selector := range map[string]string{"adopt-here": "{matchLabels: {policy-test: \"yes\"}}", "adopt-none": "{}"} {
		c := decode(t, fmt.Sprintf("apiVersion: lxc.templatemanager.dev/v1alpha1\nkind: ProxmoxCluster\nmetadata: {name: %s}\nspec:\n  endpoint: https://%s.example.com:8006/api2/json\n  credentialsRef: {namespace: lxc-template-manager-system, name: pve-token}\n  policy: {adoptionNamespaces: %s}\n", name, name, selector))
		if err := env.Client.Create(ctx, c); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = env.Client.Delete(context.Background(), c) })
	}
	installAdmissionPolicy(t, ctx)
	editor := testenv.NamespaceEditor(t, env.Client, env.Config, ns)
	// The editor holds no more than a namespace editor: ProxmoxClusters, and so the policy, are not theirs.
	other := decode(t, strings.Replace(policyCluster, "name: policy-pve", "name: editors-own", 1))
	if err := editor.Create(ctx, other, client.DryRunAll); !apierrors.IsForbidden(err) {
		t.Errorf("the editor creating a ProxmoxCluster: got %v, want Forbidden", err)
	}

	template := func(features string) string {
		return fmt.Sprintf("apiVersion: lxc.templatemanager.dev/v1alpha1\nkind: LXCTemplate\nmetadata: {name: t, namespace: %s}\nspec:\n  osTemplate: local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst\n  features: %s\n", ns, features)
	}
	container := func(name, extra string) string {
		return fmt.Sprintf("apiVersion: lxc.templatemanager.dev/v1alpha1\nkind: LXCContainer\nmetadata: {name: %s, namespace: %s}\nspec:\n  clusterRef: {name: policy-pve}\n  templateRef: {name: t}\n%s", name, ns, extra)
	}
	refused := func(name, manifest string, parts ...string) {
		t.Helper()
		err := editor.Create(ctx, decode(t, manifest), client.DryRunAll)
		if err == nil {
			t.Errorf("%s: admitted, want refused naming %v", name, parts)
			return
		}
		for _, p := range parts {
			if !strings.Contains(err.Error(), p) {
				t.Errorf("%s: %v\nwant %q named", name, err, p)
			}
		}
	}
	admitted := func(name, manifest string) {
		t.Helper()
		if err := editor.Create(ctx, decode(t, manifest), client.DryRunAll); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}

	// The policy takes effect once the API server has loaded it.
	testkit.Eventually(t, 30*time.Second, func() error {
		if err := editor.Create(ctx, decode(t, template("{unprivileged: false}")), client.DryRunAll); err == nil {
			return fmt.Errorf("a privileged template is still admitted")
		}
		return nil
	})
	// A write that leaves spec alone (the manager's finalizer and annotation patches) is not
	// held to a policy made stricter; a change of spec is.
	earlier.SetAnnotations(map[string]string{"note": "metadata only"})
	earlier.SetFinalizers([]string{"lxc.templatemanager.dev/finalizer"})
	if err := editor.Update(ctx, earlier); err != nil {
		t.Errorf("a metadata-only update of a container made before the policy: %v", err)
	}
	earlier.Object["spec"].(map[string]any)["hostname"] = "changed"
	if err := editor.Update(ctx, earlier, client.DryRunAll); err == nil || !strings.Contains(err.Error(), "spec.network.bridge") {
		t.Errorf("a spec change of a container breaking the policy: got %v, want refused naming spec.network.bridge", err)
	}
	if err := env.Client.Delete(ctx, earlier); err != nil {
		t.Fatal(err)
	}
	if err := env.Client.Get(ctx, client.ObjectKeyFromObject(earlier), earlier); err != nil {
		t.Fatal(err)
	}
	earlier.SetFinalizers(nil)
	if err := editor.Update(ctx, earlier); err != nil {
		t.Errorf("removing the finalizer of a deleted container breaking the policy: %v", err)
	}
	refused("privileged template", template("{unprivileged: false}"), "spec.features.unprivileged", "spec.policy.allowPrivileged")
	refused("keyctl", template("{keyctl: true}"), "spec.features.keyctl", "spec.policy.features")
	admitted("nesting", template("{nesting: true}"))
	refused("mknod", template("{mknod: true}"), "spec.features.mknod", "spec.policy.features")
	refused("mount", template("{mount: [nfs]}"), "spec.features.mount", "spec.policy.features")
	// Bind mounts and devices: a template is held to every cluster that admits its namespace,
	// and these clusters allow none.
	refused("template bind mount", template("{nesting: true}")+"  mountPoints: [{index: 0, path: /data, hostPath: /srv/shared}]\n",
		"spec.mountPoints[].hostPath", "/srv/shared", "no bind mount is", "spec.policy.hostPaths")
	refused("template device", template("{nesting: true}")+"  devices: [{path: /dev/net/tun}]\n",
		"spec.devices[].path", "/dev/net/tun", "spec.policy.devices")

	if err := editor.Create(ctx, decode(t, container("c", "  network: {bridge: vmbr9}\n")), client.DryRunAll); err != nil {
		t.Logf("A refusal reads: %v", err)
	}
	refused("bridge", container("c", "  network: {bridge: vmbr9}\n"), "spec.network.bridge", "vmbr9", "spec.policy.bridges")
	refused("storage", container("c", "  storage: ceph\n"), "spec.storage", "ceph", "spec.policy.storages")
	refused("mount point storage", container("c", "  mountPoints: [{index: 0, path: /data, sizeGiB: 10, storage: ceph}]\n"), "spec.mountPoints[].storage", "spec.policy.storages")
	refused("bind mount outside hostPaths", container("c", "  mountPoints: [{index: 0, path: /data, hostPath: /srv/sharedother}]\n"),
		"spec.mountPoints[].hostPath", "/srv/sharedother", "/srv/shared", "spec.policy.hostPaths")
	refused("device not allowed", container("c", "  devices: [{path: /dev/kvm}]\n"), "spec.devices[].path", "/dev/kvm", "spec.policy.devices")
	admitted("bind mount and device within the policy", container("c", "  mountPoints: [{index: 0, path: /data, hostPath: /srv/shared/data, readOnly: true}]\n  devices: [{path: /dev/net/tun}]\n"))
	refused("cores", container("c", "  resources: {cores: 5}\n"), "spec.resources.cores", "spec.policy.limits.cores")
	refused("memory", container("c", "  resources: {memoryMiB: 8192}\n"), "spec.resources.memoryMiB", "spec.policy.limits.memoryMiB")
	refused("disk", container("c", "  resources: {diskGiB: 64}\n"), "spec.resources.diskGiB", "spec.policy.limits.diskGiB")
	refused("mount point size", container("c", "  mountPoints: [{index: 0, path: /data, sizeGiB: 51}]\n"), "spec.mountPoints[].sizeGiB", "spec.policy.limits.mountPointGiB")
	refused("cores quota", container("c", "  resources: {cores: 4}\n"), "spec.resources.cores", "spec.policy.namespaceQuota.cores")
	within := container("c", "  resources: {cores: 4}\n  storage: local-lvm\n  network: {bridge: vmbr0}\n  mountPoints: [{index: 0, path: /data, sizeGiB: 50, storage: local-lvm}]\n")
	within = strings.Replace(within, "cores: 4", "cores: 2", 1)
	admitted("within the policy", within)

	// A container answers only to the cluster it names: one without a policy takes any bridge.
	admitted("another cluster's container", strings.Replace(container("c", "  network: {bridge: vmbr9}\n"), "name: policy-pve", "name: open-pve", 1))

	adoptionRefusedAtAdmission(t, ctx, editor, ns, within)

	setUsage(t, ctx, cluster, ns, 3, 2)
	testkit.Eventually(t, 30*time.Second, func() error {
		if err := editor.Create(ctx, decode(t, within), client.DryRunAll); err == nil {
			return fmt.Errorf("a container over the containers quota is still admitted")
		}
		return nil
	})
	refused("containers quota", within, "spec.policy.namespaceQuota.containers", ns)
}

// adoptionRefusedAtAdmission: the editor may not set the adopt annotation, on create or on a
// later update, unless the cluster's adoptionNamespaces selects the namespace (an empty
// selector selects none); spec.vmid alone, which adopts only an earlier incarnation's
// container, is admitted.
func adoptionRefusedAtAdmission(t *testing.T, ctx context.Context, editor client.Client, ns, within string) {
	t.Helper()
	adopting := strings.Replace(within, "metadata: {", `metadata: {annotations: {lxc.templatemanager.dev/adopt: "true"}, `, 1) + "  vmid: 4242\n"
	for name, manifest := range map[string]string{
		"adoption":                           adopting,
		"adoption, empty adoptionNamespaces": strings.Replace(adopting, "name: policy-pve", "name: adopt-none", 1),
	} {
		err := editor.Create(ctx, decode(t, manifest), client.DryRunAll)
		if err == nil || !strings.Contains(err.Error(), "metadata.annotations[lxc.templatemanager.dev/adopt]") ||
			!strings.Contains(err.Error(), "spec.policy.adoptionNamespaces") {
			t.Errorf("%s: got %v, want refused naming the annotation and spec.policy.adoptionNamespaces", name, err)
		}
	}
	byVMID := strings.Replace(within, "name: c,", "name: kept,", 1) + "  vmid: 4243\n"
	if err := editor.Create(ctx, decode(t, byVMID), client.DryRunAll); err != nil {
		t.Errorf("spec.vmid alone (an earlier incarnation's container): %v", err)
	}
	// Set later, on an object admitted without it.
	later := decode(t, byVMID)
	if err := editor.Create(ctx, later); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Client.Delete(context.Background(), later) })
	later.SetAnnotations(map[string]string{"lxc.templatemanager.dev/adopt": "true"})
	if err := editor.Update(ctx, later, client.DryRunAll); err == nil || !strings.Contains(err.Error(), "spec.policy.adoptionNamespaces") {
		t.Errorf("the annotation added by an update: got %v, want refused", err)
	}
	// A cluster whose policy selects the namespace admits it.
	allowed := strings.Replace(adopting, "name: policy-pve", "name: adopt-here", 1)
	if err := editor.Create(ctx, decode(t, allowed), client.DryRunAll); err != nil {
		t.Errorf("adoption in a namespace adoptionNamespaces selects: %v", err)
	}
}

// setUsage writes a namespace's usage into the cluster's status, as the controller does.
func setUsage(t *testing.T, ctx context.Context, cluster client.Object, ns string, containers, cores int64) {
	t.Helper()
	patch := fmt.Sprintf(`{"status":{"namespaceUsage":[{"namespace":%q,"containers":%d,"cores":%d,"memoryMiB":0,"diskGiB":0}]}}`, ns, containers, cores)
	if err := env.Client.Status().Patch(ctx, cluster, client.RawPatch("application/merge-patch+json", []byte(patch))); err != nil {
		t.Fatal(err)
	}
}
