package desired

import (
	"testing"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
)

// TestMergeHAAndPool: the container's HA and pool replace the template's; a template's HA
// state follows the container's powerState unless it is ignored.
func TestMergeHAAndPool(t *testing.T) {
	three := int32(3)
	tpl := &lxcv1.HA{State: lxcv1.HAStarted, MaxRestart: &three}
	for _, c := range []struct {
		name      string
		t, c      *lxcv1.HA
		power     lxcv1.PowerState
		want      string
		wantUnset bool
	}{
		{name: "none", wantUnset: true},
		{name: "template", t: tpl, power: lxcv1.PowerStateRunning, want: "started,restart=3"},
		{name: "template, container stopped", t: tpl, power: lxcv1.PowerStateStopped, want: "stopped,restart=3"},
		{name: "template ignored", t: &lxcv1.HA{State: lxcv1.HAIgnored}, power: lxcv1.PowerStateStopped, want: "ignored"},
		{name: "container replaces", t: tpl, c: &lxcv1.HA{State: lxcv1.HAStopped}, power: lxcv1.PowerStateStopped, want: "stopped"},
		{name: "container without state", c: &lxcv1.HA{}, want: "started"},
	} {
		d := &Container{HA: mergeHA(c.t, c.c, c.power)}
		_, ok := d.HAResource()
		if got := d.HAStateText(); got != c.want || ok == c.wantUnset {
			t.Errorf("%s: %q (set %v), want %q", c.name, got, ok, c.want)
		}
	}
	if tpl.State != lxcv1.HAStarted {
		t.Errorf("the template's HA was changed: %v", tpl.State)
	}
	if got := mergePool("web", ""); got != "web" {
		t.Errorf("template pool: %q", got)
	}
	if got := mergePool("web", "db"); got != "db" {
		t.Errorf("container pool: %q", got)
	}
}
