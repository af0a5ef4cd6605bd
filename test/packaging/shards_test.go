package packaging

import (
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
	"templatemanager.dev/lxc-template-manager/internal/shard"
)

// TestChartShards shows that sharding.shards renders one Deployment per shard beside the main
// one, with selectors that split the objects between them, flags the manager knows, Pods no
// other Deployment selects, and the status mirror and live progress feed on the main one only.
func TestChartShards(t *testing.T) {
	if _, on := flagValue(managerContainer(t, bundle{helmTemplate(t, "lxctm", controllerNS)}.deployment(t)).Args, shard.Flag); on {
		t.Errorf("the default install shards: --%s is set", shard.Flag)
	}
	objs := helmTemplate(t, "lxctm", controllerNS, "--set", "sharding.shards={shard1,shard2}", "--set", "mirror.enabled=true",
		"--set", "mirror.dsnSecretRef.name=pg", "--set", "mirror.redisUrlSecretRef.name=redis")
	want := map[string]string{
		"lxctm-lxc-template-manager":        "!" + lxcv1.ShardKeyLabel,
		"lxctm-lxc-template-manager-shard1": lxcv1.ShardKeyLabel + "=shard1",
		"lxctm-lxc-template-manager-shard2": lxcv1.ShardKeyLabel + "=shard2",
	}
	deployments := only(objs, "Deployment")
	if len(deployments) != len(want) {
		t.Fatalf("%d Deployments, want %d", len(deployments), len(want))
	}
	defaults := managerDefaults(t)
	var all []*appsv1.Deployment
	for _, u := range deployments {
		d := convert[appsv1.Deployment](t, u)
		all = append(all, d)
		c := managerContainer(t, d)
		sel, _ := flagValue(c.Args, shard.Flag)
		if sel != want[d.Name] {
			t.Errorf("%s: --%s=%q, want %q", d.Name, shard.Flag, sel, want[d.Name])
		}
		if _, err := shard.Parse(sel); err != nil {
			t.Errorf("%s: %v", d.Name, err)
		}
		main := !strings.HasSuffix(d.Name, "-shard1") && !strings.HasSuffix(d.Name, "-shard2")
		if _, on := flagValue(c.Args, "mirror"); on != main {
			t.Errorf("%s: --mirror is %t, want it on the main Deployment only", d.Name, on)
		}
		if on := envVar(c, "LXCTM_MIRROR_REDIS_URL") != nil; on != main {
			t.Errorf("%s: the live progress feed is %t, want it on the main Deployment only", d.Name, on)
		}
		for _, arg := range c.Args {
			if _, ok := defaults[strings.TrimLeft(strings.SplitN(arg, "=", 2)[0], "-")]; !ok {
				t.Errorf("%s passes %q, which the manager does not know", d.Name, arg)
			}
		}
	}
	checkSelectorsApart(t, all)
}

// checkSelectorsApart fails when one Deployment's selector takes in another's Pods.
func checkSelectorsApart(t *testing.T, all []*appsv1.Deployment) {
	t.Helper()
	for _, a := range all {
		sel, err := metav1.LabelSelectorAsSelector(a.Spec.Selector)
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range all {
			if a != b && sel.Matches(labels.Set(b.Spec.Template.Labels)) {
				t.Errorf("Deployment %s selects the Pods of %s", a.Name, b.Name)
			}
		}
	}
}
