package controller

import (
	"testing"

	"github.com/fluxcd/pkg/runtime/conditions"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
)

// TestRoutineLook: only the periodic look at a container whose services were found for this
// generation lets it stay Ready while its SSH connection opens; a new generation, a request,
// or a change in what the guest runs waits for the connection.
func TestRoutineLook(t *testing.T) {
	discovered := func(generation, observed int64) *containerScope {
		obj := &lxcv1.LXCContainer{ObjectMeta: metav1.ObjectMeta{Generation: observed}}
		conditions.MarkTrue(obj, lxcv1.ServicesDiscoveredCondition, lxcv1.SucceededReason, "found")
		obj.Generation = generation
		return &containerScope{obj: obj}
	}
	requested := discovered(3, 3)
	requested.requested = true
	for _, c := range []struct {
		name         string
		s            *containerScope
		key, lastKey string
		want         bool
	}{
		{"the periodic look", discovered(3, 3), "k", "k", true},
		{"after the manager restarted", discovered(3, 3), "k", "", true},
		{"the guest runs something new", discovered(3, 3), "k2", "k", false},
		{"a new generation", discovered(4, 3), "k", "k", false},
		{"a user asked", requested, "k", "k", false},
		{"never discovered", &containerScope{obj: &lxcv1.LXCContainer{}}, "k", "k", false},
	} {
		if got := routineLook(c.s, c.key, c.lastKey); got != c.want {
			t.Errorf("%s: routineLook = %v, want %v", c.name, got, c.want)
		}
	}
}
