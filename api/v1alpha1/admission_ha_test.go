package v1alpha1_test

import (
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// TestHAAndPoolAdmission: what the API server refuses of spec.ha and spec.pool, each naming
// the field.
func TestHAAndPoolAdmission(t *testing.T) {
	ctx := controlPlane(t)
	refused := []refusal{
		{"state", spec(templateHead, goodTemplate, "  ha: {state: enabled}\n"),
			[]string{"spec.ha.state", "Unsupported value"}},
		{"state disabled", spec(containerHead, goodRefs, "  ha: {state: disabled}\n"),
			[]string{"spec.ha.state", "Unsupported value"}},
		{"maxRestart", spec(templateHead, goodTemplate, "  ha: {maxRestart: 11}\n"),
			[]string{"spec.ha.maxRestart", "less than or equal to 10"}},
		{"maxRelocate", spec(containerHead, goodRefs, "  ha: {maxRelocate: -1}\n"),
			[]string{"spec.ha.maxRelocate", "greater than or equal to 0"}},
		{"ignored with maxRestart", spec(templateHead, goodTemplate, "  ha: {state: ignored, maxRestart: 2}\n"),
			[]string{"spec.ha", "no effect on an ignored HA resource"}},
		{"stopped while Running", spec(containerHead, goodRefs, "  ha: {state: stopped}\n"),
			[]string{"spec.ha.state", "needs powerState Stopped"}},
		{"started while Stopped", spec(containerHead, goodRefs, "  powerState: Stopped\n  ha: {state: started}\n"),
			[]string{"spec.ha.state", "needs powerState Running"}},
		{"default state while Stopped", spec(containerHead, goodRefs, "  powerState: Stopped\n  ha: {}\n"),
			[]string{"spec.ha.state", "needs powerState Running"}},
		{"node name", spec(templateHead, goodTemplate, "  ha: {nodes: [{name: 'pve_1'}]}\n"),
			[]string{"spec.ha.nodes[0].name", "should match"}},
		{"node priority negative", spec(containerHead, goodRefs, "  ha: {nodes: [{name: pve1, priority: -1}]}\n"),
			[]string{"spec.ha.nodes[0].priority", "greater than or equal to 0"}},
		{"node priority too high", spec(templateHead, goodTemplate, "  ha: {nodes: [{name: pve1, priority: 1000001}]}\n"),
			[]string{"spec.ha.nodes[0].priority", "less than or equal to 1000000"}},
		{"node twice", spec(templateHead, goodTemplate, "  ha: {nodes: [{name: pve1}, {name: pve1, priority: 2}]}\n"),
			[]string{"spec.ha.nodes[1]", "Duplicate value"}},
		{"nodes empty", spec(templateHead, goodTemplate, "  ha: {nodes: []}\n"),
			[]string{"spec.ha.nodes", "at least 1 item"}},
		{"nodes on ignored", spec(containerHead, goodRefs, "  powerState: Stopped\n  ha: {state: ignored, nodes: [{name: pve1}]}\n"),
			[]string{"spec.ha.nodes", "no effect on an ignored HA resource"}},
		{"strict without nodes", spec(templateHead, goodTemplate, "  ha: {strict: true}\n"),
			[]string{"spec.ha.strict", "strict needs nodes"}},
		{"node outside ha.nodes", spec(containerHead, goodRefs, "  node: pve3\n  ha: {nodes: [{name: pve1}, {name: pve2}]}\n"),
			[]string{"spec.node", "must be one of ha.nodes"}},
		{"pool characters", spec(containerHead, goodRefs, "  pool: 'web pool'\n"),
			[]string{"spec.pool", "should match"}},
		{"pool nested too deeply", spec(templateHead, goodTemplate, "  pool: a/b/c/d\n"),
			[]string{"spec.pool", "should match"}},
	}
	expectAllRefused(t, ctx, refused)
}

// TestHAAndPoolAccepted: agreeing HA states and power, node affinity with spec.node among its
// nodes, and nested pool ids, are admitted; an
// unset HA state defaults to started.
func TestHAAndPoolAccepted(t *testing.T) {
	ctx := controlPlane(t)
	for _, m := range []string{
		spec(containerHead, goodRefs, "  ha: {maxRestart: 2, maxRelocate: 0}\n  pool: prod/web\n"),
		spec(containerHead, goodRefs, "  powerState: Stopped\n  ha: {state: stopped}\n"),
		spec(containerHead, goodRefs, "  powerState: Stopped\n  ha: {state: ignored}\n"),
		spec(templateHead, goodTemplate, "  ha: {state: started}\n  pool: a.b_c-d/e/f\n"),
		spec(templateHead, goodTemplate, "  ha: {nodes: [{name: pve1, priority: 2}, {name: pve-2}], strict: true}\n"),
		spec(containerHead, goodRefs, "  node: pve2\n  ha: {nodes: [{name: pve1, priority: 1000000}, {name: pve2}]}\n"),
	} {
		if err := env.Client.Create(ctx, decode(t, m), client.DryRunAll); err != nil {
			t.Errorf("rejected: %v\n%s", err, m)
		}
	}
	obj := decode(t, spec(templateHead, goodTemplate, "  ha: {}\n"))
	if err := env.Client.Create(ctx, obj, client.DryRunAll); err != nil {
		t.Fatalf("rejected: %v", err)
	}
	if got, _, _ := unstructured.NestedString(obj.Object, "spec", "ha", "state"); got != "started" {
		t.Errorf("spec.ha.state defaulted to %q, want started", got)
	}
}
