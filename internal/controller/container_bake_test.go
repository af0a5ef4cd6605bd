package controller

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
	"templatemanager.dev/lxc-template-manager/internal/desired"
)

func bakeTemplate() *lxcv1.LXCTemplate {
	yes := true
	script := "#!/bin/sh\necho hi\n"
	return &lxcv1.LXCTemplate{Spec: lxcv1.LXCTemplateSpec{
		OSTemplate: "debian-12-standard",
		Scripts:    []lxcv1.Script{{Name: "hi", Content: &script}},
		Bake:       &lxcv1.Bake{Enabled: &yes},
	}}
}

// TestTemplateHash: what a template puts in a container changes its hash; what the controller
// keeps outside the guest does not.
func TestTemplateHash(t *testing.T) {
	base := templateHash(bakeTemplate())
	changed := bakeTemplate()
	other := "#!/bin/sh\necho bye\n"
	changed.Spec.Scripts[0].Content = &other
	if templateHash(changed) == base {
		t.Error("a changed script keeps the hash")
	}
	kept := bakeTemplate()
	kept.Spec.Pool, kept.Spec.HA, kept.Spec.Description = "web", &lxcv1.HA{State: lxcv1.HAStarted}, "now described"
	kept.Spec.Bake.Clone = lxcv1.BakeCloneFull
	if templateHash(kept) != base {
		t.Error("pool, HA, description or bake settings changed the hash")
	}
}

// TestBakeToCloneFrom: a container is cloned only from a ready bake of the template as it is
// now, on its own cluster and node, and never when it is a bake itself.
func TestBakeToCloneFrom(t *testing.T) {
	tmpl := bakeTemplate()
	hash := templateHash(tmpl)
	tmpl.Status.Bakes = []lxcv1.BakeStatus{
		{Cluster: "pve", Node: "pve1", VMID: 200, TemplateHash: "old", Container: "old", Ready: true},
		{Cluster: "pve", Node: "pve2", VMID: 201, TemplateHash: hash, Container: "b2", Ready: false},
		{Cluster: "pve", Node: "pve1", VMID: 202, TemplateHash: hash, Container: "b1", Ready: true},
	}
	scope := func(node string, labels map[string]string) *containerScope {
		obj := &lxcv1.LXCContainer{}
		obj.Labels = labels
		obj.Status.Node = node
		return &containerScope{obj: obj, template: tmpl, cluster: &lxcv1.ProxmoxCluster{}, desired: &desired.Container{DiskGiB: 8}}
	}
	for _, c := range []struct {
		name   string
		s      *containerScope
		want   int32
		mutate func(*containerScope)
	}{
		{"ready current bake on the node", scope("pve1", nil), 202, nil},
		{"bake not ready on the node", scope("pve2", nil), 0, nil},
		{"a bake itself", scope("pve1", map[string]string{lxcv1.BakeOfLabel: "t"}), 0, nil},
		{"a smaller disk", scope("pve1", nil), 0, func(s *containerScope) { s.desired.DiskGiB = 4 }},
	} {
		c.s.cluster.Name = "pve"
		if c.mutate != nil {
			c.mutate(c.s)
		}
		got := int32(0)
		if b := bakeToCloneFrom(c.s); b != nil {
			got = b.VMID
		}
		if got != c.want {
			t.Errorf("%s: cloned from %d, want %d", c.name, got, c.want)
		}
	}
}

// TestBakeFollowsTemplateShard: a bake is made in its template's shard and moves with it, so
// that the shard that makes and deletes a bake also provisions it (docs/sharding.md).
func TestBakeFollowsTemplateShard(t *testing.T) {
	scheme := runtime.NewScheme()
	if err := lxcv1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	tmpl := bakeTemplate()
	tmpl.Namespace, tmpl.Name, tmpl.UID = "ns", "web", "uid-web"
	tmpl.Labels = map[string]string{lxcv1.ShardKeyLabel: "shard1"}
	user := lxcv1.LXCContainer{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "web-1"},
		Spec: lxcv1.LXCContainerSpec{ClusterRef: lxcv1.ClusterReference{Name: "pve"}, TemplateRef: lxcv1.LocalObjectReference{Name: "web"}}}
	user.Status.Node = "pve1"
	c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(&user).Build()
	r := &LXCTemplateReconciler{Client: c}
	bakeShard := func() (string, bool) {
		t.Helper()
		list := &lxcv1.LXCContainerList{}
		if err := c.List(t.Context(), list, client.HasLabels{lxcv1.BakeOfLabel}); err != nil || len(list.Items) != 1 {
			t.Fatalf("bakes %d, %v; want one", len(list.Items), err)
		}
		key, ok := list.Items[0].Labels[lxcv1.ShardKeyLabel]
		return key, ok
	}
	containers := func() []lxcv1.LXCContainer {
		list := &lxcv1.LXCContainerList{}
		if err := c.List(t.Context(), list); err != nil {
			t.Fatal(err)
		}
		return list.Items
	}
	for _, want := range []string{"shard1", "shard2", ""} {
		if want == "" {
			delete(tmpl.Labels, lxcv1.ShardKeyLabel)
		} else {
			tmpl.Labels[lxcv1.ShardKeyLabel] = want
		}
		if err := r.reconcileBakes(t.Context(), tmpl, containers()); err != nil {
			t.Fatal(err)
		}
		if got, ok := bakeShard(); got != want || ok != (want != "") {
			t.Errorf("template in shard %q: bake in shard %q (labelled %t)", want, got, ok)
		}
	}
}
