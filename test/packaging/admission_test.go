package packaging

import (
	"path/filepath"
	"reflect"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// checkAdmissionPolicy: the admission policy and its binding are config/admission's, under the
// given name, and the binding names the policy.
func checkAdmissionPolicy(t *testing.T, objs []*unstructured.Unstructured, name string) {
	t.Helper()
	for _, tc := range []struct{ kind, file string }{
		{"ValidatingAdmissionPolicy", "policy.yaml"},
		{"ValidatingAdmissionPolicyBinding", "binding.yaml"},
	} {
		got := named(objs, tc.kind, name)
		if got == nil {
			t.Errorf("no %s %s", tc.kind, name)
			continue
		}
		want := readObject(t, filepath.Join("config", "admission", tc.file))
		wantSpec, _, _ := unstructured.NestedMap(want.Object, "spec")
		gotSpec, _, _ := unstructured.NestedMap(got.Object, "spec")
		if tc.kind == "ValidatingAdmissionPolicyBinding" {
			if gotSpec["policyName"] != name {
				t.Errorf("the binding names policy %v, want %s", gotSpec["policyName"], name)
			}
			wantSpec["policyName"] = name
		}
		if !reflect.DeepEqual(gotSpec, wantSpec) {
			t.Errorf("%s %s differs from config/admission/%s; run make manifests", tc.kind, name, tc.file)
		}
	}
}

// TestChartAdmissionPolicy: on by default, config/admission's rules; admissionPolicy.enabled
// false renders none.
func TestChartAdmissionPolicy(t *testing.T) {
	checkAdmissionPolicy(t, helmTemplate(t, "lxc-template-manager", controllerNS), "lxc-template-manager-cluster-policy")
	objs := helmTemplate(t, "lxc-template-manager", controllerNS, "--set", "admissionPolicy.enabled=false")
	if n := len(only(objs, "ValidatingAdmissionPolicy")) + len(only(objs, "ValidatingAdmissionPolicyBinding")); n != 0 {
		t.Errorf("%d admission policy objects with admissionPolicy.enabled=false", n)
	}
}
