package v1alpha1_test

import (
	"context"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"templatemanager.dev/lxc-template-manager/internal/testkit"
)

// TestBackupKindsAdmission: what the API server refuses of snapshots, backups, restores and
// the backup fields of a container, each naming the field.
func TestBackupKindsAdmission(t *testing.T) {
	testkit.SkipUnlessFull(t, testkit.ControlPlane)
	if env == nil {
		t.Fatal("the control plane did not start")
	}
	ctx := context.Background()
	refused := []struct{ name, yaml, want string }{
		{"restore with two sources", `apiVersion: lxc.templatemanager.dev/v1alpha1
kind: LXCRestore
metadata: {name: two, namespace: default}
spec: {containerRef: {name: web}, snapshotRef: {name: s}, backupRef: {name: b}}
`, "exactly one of snapshotRef and backupRef"},
		{"restore with no source", `apiVersion: lxc.templatemanager.dev/v1alpha1
kind: LXCRestore
metadata: {name: none, namespace: default}
spec: {containerRef: {name: web}}
`, "exactly one of snapshotRef and backupRef"},
		{"backup mode", `apiVersion: lxc.templatemanager.dev/v1alpha1
kind: LXCBackup
metadata: {name: mode, namespace: default}
spec: {containerRef: {name: web}, mode: live}
`, "spec.mode"},
		{"backup without container", `apiVersion: lxc.templatemanager.dev/v1alpha1
kind: LXCBackup
metadata: {name: nothing, namespace: default}
spec: {storage: local}
`, "spec.containerRef"},
		{"snapshot keep", `apiVersion: lxc.templatemanager.dev/v1alpha1
kind: LXCContainer
metadata: {name: keep, namespace: default}
spec: {clusterRef: {name: pve}, templateRef: {name: web}, snapshotBeforeChange: {keep: 0}}
`, "spec.snapshotBeforeChange.keep"},
		{"restore archive", `apiVersion: lxc.templatemanager.dev/v1alpha1
kind: LXCContainer
metadata: {name: archive, namespace: default}
spec: {clusterRef: {name: pve}, templateRef: {name: web}, restoreFrom: {archive: "local:vztmpl/debian.tar.zst"}}
`, "spec.restoreFrom.archive"},
	}
	for _, c := range refused {
		err := env.Client.Create(ctx, decode(t, c.yaml), client.DryRunAll)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want it refused naming %q", c.name, err, c.want)
		}
	}

	restore := decode(t, `apiVersion: lxc.templatemanager.dev/v1alpha1
kind: LXCRestore
metadata: {name: once, namespace: default}
spec: {containerRef: {name: web}, snapshotRef: {name: s}}
`)
	if err := env.Client.Create(ctx, restore); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Client.Delete(ctx, restore) })
	changed := restore.DeepCopy()
	if err := unstructured.SetNestedField(changed.Object, "other", "spec", "snapshotRef", "name"); err != nil {
		t.Fatal(err)
	}
	if err := env.Client.Update(ctx, changed, client.DryRunAll); err == nil || !strings.Contains(err.Error(), "cannot be changed") {
		t.Errorf("changing a restore: got %v, want it refused", err)
	}

	c := decode(t, `apiVersion: lxc.templatemanager.dev/v1alpha1
kind: LXCContainer
metadata: {name: late-restore, namespace: default}
spec: {clusterRef: {name: pve}, templateRef: {name: web}}
`)
	if err := env.Client.Create(ctx, c); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Client.Delete(ctx, c) })
	late := c.DeepCopy()
	if err := unstructured.SetNestedField(late.Object, map[string]any{"backupRef": map[string]any{"name": "b"}}, "spec", "restoreFrom"); err != nil {
		t.Fatal(err)
	}
	if err := env.Client.Update(ctx, late, client.DryRunAll); err == nil || !strings.Contains(err.Error(), "spec.restoreFrom") {
		t.Errorf("adding restoreFrom to an existing container: got %v, want it refused naming spec.restoreFrom", err)
	}
}
