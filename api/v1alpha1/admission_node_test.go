package v1alpha1_test

import (
	"context"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"templatemanager.dev/lxc-template-manager/internal/testkit"
)

// TestNodeIsChangeable: spec.node may change (the controller migrates the container) and be
// set on a container placed without it, but stays a valid node name; vmid stays fixed.
func TestNodeIsChangeable(t *testing.T) {
	testkit.SkipUnlessFull(t, testkit.ControlPlane)
	if env == nil {
		// SkipUnlessFull skipped under -short; a full run without a control plane is a failure.
		t.Fatal("the control plane did not start")
	}
	ctx := context.Background()
	obj := decode(t, `apiVersion: lxc.templatemanager.dev/v1alpha1
kind: LXCContainer
metadata: {name: movable, namespace: default}
spec:
  clusterRef: {name: pve}
  templateRef: {name: web}
  node: pve1
`)
	if err := env.Client.Create(ctx, obj); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Client.Delete(ctx, obj) })

	for _, node := range []string{"pve2", "node-3"} {
		changed := obj.DeepCopy()
		if err := unstructured.SetNestedField(changed.Object, node, "spec", "node"); err != nil {
			t.Fatal(err)
		}
		if err := env.Client.Update(ctx, changed, client.DryRunAll); err != nil {
			t.Errorf("changing spec.node to %s: %v", node, err)
		}
	}
	unset := obj.DeepCopy()
	unstructured.RemoveNestedField(unset.Object, "spec", "node")
	if err := env.Client.Update(ctx, unset, client.DryRunAll); err != nil {
		t.Errorf("removing spec.node: %v", err)
	}
	bad := obj.DeepCopy()
	if err := unstructured.SetNestedField(bad.Object, "not_a_node", "spec", "node"); err != nil {
		t.Fatal(err)
	}
	if err := env.Client.Update(ctx, bad, client.DryRunAll); err == nil || !strings.Contains(err.Error(), "spec.node") {
		t.Errorf("an invalid node name: got %v, want it refused naming spec.node", err)
	}
}
