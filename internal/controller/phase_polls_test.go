package controller

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/fluxcd/pkg/runtime/conditions"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
	"templatemanager.dev/lxc-template-manager/internal/outcome"
)

// TestMissingServiceBacksOff: a promised service that stays down is looked for on the failure
// back-off — 2 s, then twice as long each time — counted in status.retry, and the condition
// says when the next look is.
func TestMissingServiceBacksOff(t *testing.T) {
	f := newGuestFixture(t, "phase-polls")
	tmpl := f.templateWith(t, "down", func(s *lxcv1.LXCTemplateSpec) {
		s.Services = []lxcv1.ServicePromise{{Name: "web", Port: 8080}}
		s.Scripts = []lxcv1.Script{script("idle", "true\n")}
	})
	c := f.containerOf("down", tmpl)
	create(t, c)

	// The delay each look chose, by look.
	delays := map[int32]time.Duration{}
	deadline := time.Now().Add(40 * time.Second)
	for len(delays) < 4 && time.Now().Before(deadline) {
		if err := k8s.Get(testCtx, client.ObjectKeyFromObject(c), c); err != nil {
			t.Fatal(err)
		}
		cond := conditions.Get(c, lxcv1.ServicesDiscoveredCondition)
		r := c.Status.Retry
		if cond != nil && cond.Reason == lxcv1.ServicesMissingReason && r != nil && r.Reason == lxcv1.ServicesMissingReason &&
			r.NextAttemptTime != nil && r.LastFailureTime != nil {
			if _, seen := delays[r.Attempts]; !seen {
				d := r.NextAttemptTime.Sub(r.LastFailureTime.Time)
				delays[r.Attempts] = d
				// status keeps whole seconds; the message names the moment of the next look.
				want := fmt.Sprintf("(looked %d times; next look in ", r.Attempts)
				at := fmt.Sprintf(", at %s)", r.NextAttemptTime.UTC().Format(time.TimeOnly))
				if !strings.Contains(cond.Message, want) || !strings.Contains(cond.Message, at) || !strings.Contains(cond.Message, "web") {
					t.Errorf("look %d: ServicesDiscovered message %q lacks %q…%q", r.Attempts, cond.Message, want, at)
				}
				if ready := conditions.Get(c, lxcv1.ReadyCondition); ready == nil || ready.Status != metav1.ConditionFalse ||
					!strings.Contains(ready.Message, "next look in") {
					t.Errorf("look %d: Ready = %+v, want False naming the next look", r.Attempts, ready)
				}
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("delays by look: %v", delays)
	if len(delays) < 4 {
		t.Fatalf("saw %d looks in 40 s, want 4 counted in status.retry", len(delays))
	}
	// Look n waits 2 s·2^(n-1) plus up to 20 % jitter; status keeps whole seconds, so each
	// figure may be a second off either way.
	for look := int32(1); look <= 4; look++ {
		d, ok := delays[look]
		if !ok {
			continue // a look can be missed between two reads
		}
		want := outcome.RetryBase << (look - 1)
		low, high := want-time.Second, want+time.Duration(outcome.RetryJitter*float64(want))+time.Second
		if d < low || d > high {
			t.Errorf("look %d waits %s, want %s to %s: the interval does not double from 2 s", look, d, low, high)
		}
	}
}
