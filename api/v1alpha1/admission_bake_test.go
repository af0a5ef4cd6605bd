package v1alpha1_test

import (
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// TestBakeAdmission: what the API server refuses of spec.bake, each naming the field.
func TestBakeAdmission(t *testing.T) {
	ctx := controlPlane(t)
	refused := []refusal{
		{"no enabled", spec(templateHead, goodTemplate, "  bake: {}\n"),
			[]string{"spec.bake.enabled", "Required value"}},
		{"enabled not a boolean", spec(templateHead, goodTemplate, "  bake: {enabled: sometimes}\n"),
			[]string{"spec.bake.enabled", "boolean"}},
		{"a bare boolean", spec(templateHead, goodTemplate, "  bake: true\n"),
			[]string{"spec.bake", "object"}},
		{"clone", spec(templateHead, goodTemplate, "  bake: {enabled: true, clone: Linked}\n"),
			[]string{"spec.bake.clone", "Unsupported value"}},
	}
	expectAllRefused(t, ctx, refused)
}

// TestBakeAccepted: baking on or off, with either clone mode, is admitted.
func TestBakeAccepted(t *testing.T) {
	ctx := controlPlane(t)
	for _, m := range []string{
		spec(templateHead, goodTemplate, "  bake: {enabled: true}\n"),
		spec(templateHead, goodTemplate, "  bake: {enabled: false, clone: Full}\n"),
		spec(templateHead, goodTemplate, "  bake: {enabled: true, clone: Auto}\n"),
	} {
		var obj *unstructured.Unstructured = decode(t, m)
		if err := env.Client.Create(ctx, obj, client.DryRunAll); err != nil {
			t.Errorf("refused: %v\n%s", err, m)
		}
	}
}
