package desired

import (
	"context"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

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

// TestHARule: spec.ha.nodes become the node-affinity rule lxctm-VMID of ct:VMID with each
// node's priority; the preferred nodes are those of the highest priority; an ignored resource
// or one without nodes has no rule.
func TestHARule(t *testing.T) {
	two, yes := int32(2), true
	ha := &lxcv1.HA{State: lxcv1.HAStarted, Strict: &yes,
		Nodes: []lxcv1.HANode{{Name: "pve1"}, {Name: "pve3", Priority: &two}, {Name: "pve2", Priority: &two}}}
	d := &Container{HA: ha}
	r, ok := d.HARule(104)
	if !ok || r.ID != "lxctm-104" || len(r.Resources) != 1 || r.Resources[0] != "ct:104" || !r.Strict ||
		len(r.Nodes) != 3 || r.Nodes["pve1"] != 0 || r.Nodes["pve2"] != 2 || r.Nodes["pve3"] != 2 {
		t.Fatalf("rule %+v (%v)", r, ok)
	}
	if got := d.PreferredHANodes(); len(got) != 2 || got[0] != "pve2" || got[1] != "pve3" {
		t.Errorf("preferred %v, want [pve2 pve3]", got)
	}
	if got := d.HAStateText(); got != "started,nodes=pve1:0;pve2:2;pve3:2,strict" || !HATextHasRule(got) {
		t.Errorf("state text %q", got)
	}
	for name, h := range map[string]*lxcv1.HA{
		"no nodes": {State: lxcv1.HAStarted},
		"ignored":  {State: lxcv1.HAIgnored, Nodes: ha.Nodes},
	} {
		d := &Container{HA: h}
		if _, ok := d.HARule(104); ok || d.HAPlacesNode() || d.PreferredHANodes() != nil || HATextHasRule(d.HAStateText()) {
			t.Errorf("%s: has a rule", name)
		}
	}
}

// TestBakeTakesNoHA: a template's HA reaches its containers but not its bake, which becomes a
// Proxmox template that HA cannot run.
func TestBakeTakesNoHA(t *testing.T) {
	r := Resolver{Reader: fake.NewClientBuilder().Build(), Namespace: "team"}
	tmpl := &lxcv1.LXCTemplate{Spec: lxcv1.LXCTemplateSpec{OSTemplate: "local:vztmpl/debian.tar.zst",
		HA: &lxcv1.HA{State: lxcv1.HAStarted}}}
	user := &lxcv1.LXCContainer{ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "web"}}
	bake := user.DeepCopy()
	bake.Name, bake.Labels = "web-bake", map[string]string{lxcv1.BakeOfLabel: "web"}
	for _, c := range []struct {
		obj  *lxcv1.LXCContainer
		want bool
	}{{user, true}, {bake, false}} {
		d, err := Build(context.Background(), r, c.obj, tmpl, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := d.HAResource(); ok != c.want {
			t.Errorf("%s: HA resource %v, want %v", c.obj.Name, ok, c.want)
		}
	}
}
