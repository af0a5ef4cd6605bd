package controller

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/fluxcd/pkg/runtime/conditions"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
	"templatemanager.dev/lxc-template-manager/internal/shard"
)

// The shards of TestShardsSplitTheFleet, as docs/sharding.md runs them.
var (
	mainShard   = "!" + lxcv1.ShardKeyLabel
	shard1Shard = lxcv1.ShardKeyLabel + "=shard1"
)

// TestShardsSplitTheFleet runs two shards — manager processes of their own, each electing a
// leader on a lease of its own — over 200 containers, half labelled for the second shard. Each
// container is written by exactly its own shard's manager (managedFields), and the template and
// clusters, which carry no shard label, only by the main one. Then containers change shards:
// Ready ones, and new ones in the middle of their create task. Each ends Ready under its new
// shard with exactly one Proxmox container, the one it had (same VMID) when it was Ready.
func TestShardsSplitTheFleet(t *testing.T) {
	fl := newChaosFleetWith(t, "shards", []fleetOption{asProcesses(), electing(), sharded(mainShard, shard1Shard)}, chaosTasks()...)
	fl.createTemplate(t, chaosScripts(200*time.Millisecond)...)
	for i := range 200 {
		fl.addLabelled(t, shardLabels(i%2 == 0))
	}
	fl.waitReady(t, 10*time.Minute)
	writers := shardWriters(t)
	for _, c := range fl.containers(t) {
		want := writers[mainShard]
		if c.Labels[lxcv1.ShardKeyLabel] == "shard1" {
			want = writers[shard1Shard]
		}
		if got := shardsThatWrote(&c, writers); !slices.Equal(got, []string{want}) {
			t.Errorf("%s (labels %v) was written by the shards %v, want only %s", c.Name, c.Labels, got, want)
		}
	}
	for _, obj := range []client.Object{fl.template, fl.clusters[0], fl.clusters[1]} {
		if err := k8s.Get(testCtx, client.ObjectKeyFromObject(obj), obj); err != nil {
			t.Fatal(err)
		}
		if got := shardsThatWrote(obj, writers); !slices.Equal(got, []string{writers[mainShard]}) {
			t.Errorf("%s was written by the shards %v, want only the main one", obj.GetName(), got)
		}
	}

	vmids := fl.moveReady(t, 20)
	moved := fl.moveWhileCreating(t, 40)
	fl.waitReady(t, 10*time.Minute)
	r := fl.check(t)
	t.Log(r.Line("shards"))
	if broken := r.Broken(); len(broken) > 0 {
		t.Errorf("promise broken: %v", broken)
	}
	for _, c := range fl.containers(t) {
		if want, ok := vmids[c.Name]; ok && c.Status.VMID != want {
			t.Errorf("%s had CT %d when it moved shards, now CT %d", c.Name, want, c.Status.VMID)
		}
		if moved[c.Name] && !slices.Contains(shardsThatWrote(&c, writers), writers[shard1Shard]) {
			t.Errorf("%s moved to shard1 while being created, but shard1 never wrote it", c.Name)
		}
	}
}

// shardLabels are a container's labels in shard1 or in the main shard.
func shardLabels(shard1 bool) map[string]string {
	if shard1 {
		return map[string]string{lxcv1.ShardKeyLabel: "shard1"}
	}
	return nil
}

// addLabelled creates one container of the fleet with labels besides the fleet's.
func (fl *chaosFleet) addLabelled(t testing.TB, labels map[string]string) *lxcv1.LXCContainer {
	t.Helper()
	i := fl.created
	fl.created++
	c := &lxcv1.LXCContainer{
		ObjectMeta: metav1.ObjectMeta{Namespace: fl.ns, Name: fmt.Sprintf("ct%05d", i), Labels: map[string]string{chaosLabel: fl.id}},
		Spec: lxcv1.LXCContainerSpec{
			ClusterRef:  lxcv1.ClusterReference{Name: fl.clusters[i%2].Name},
			TemplateRef: lxcv1.LocalObjectReference{Name: fl.template.Name},
		},
	}
	for k, v := range labels {
		c.Labels[k] = v
	}
	create(t, c)
	return c
}

// shardWriters maps each shard's selector to the field manager its manager writes as.
func shardWriters(t testing.TB) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, text := range []string{mainShard, shard1Shard} {
		sel, err := shard.Parse(text)
		if err != nil {
			t.Fatal(err)
		}
		out[text] = sel.FieldOwner(testFieldManager)
	}
	return out
}

// shardsThatWrote lists, sorted, which of the shards' managers wrote obj.
func shardsThatWrote(obj client.Object, writers map[string]string) []string {
	var out []string
	for _, f := range obj.GetManagedFields() {
		for _, w := range writers {
			if f.Manager == w && !slices.Contains(out, w) {
				out = append(out, w)
			}
		}
	}
	slices.Sort(out)
	return out
}

// moveReady moves n Ready containers of each shard to the other and returns the VMIDs they had.
func (fl *chaosFleet) moveReady(t testing.TB, n int) map[string]int32 {
	t.Helper()
	vmids := map[string]int32{}
	toShard1, toMain := 0, 0
	for _, c := range fl.containers(t) {
		in1 := c.Labels[lxcv1.ShardKeyLabel] == "shard1"
		if (in1 && toMain == n) || (!in1 && toShard1 == n) {
			continue
		}
		if in1 {
			toMain++
		} else {
			toShard1++
		}
		vmids[c.Name] = c.Status.VMID
		relabel(t, &c, !in1)
	}
	return vmids
}

// relabel puts a container in shard1 or in the main shard.
func relabel(t testing.TB, c *lxcv1.LXCContainer, shard1 bool) {
	t.Helper()
	update(t, c, func(c *lxcv1.LXCContainer) {
		if shard1 {
			c.Labels[lxcv1.ShardKeyLabel] = "shard1"
		} else {
			delete(c.Labels, lxcv1.ShardKeyLabel)
		}
	})
}

// moveWhileCreating adds n containers to the main shard and moves each to shard1 as soon as
// its VMID is recorded, before its Proxmox container is created: the main shard's create
// request is on its way or its task runs. At least one must be caught so.
func (fl *chaosFleet) moveWhileCreating(t testing.TB, n int) map[string]bool {
	t.Helper()
	pending := map[string]bool{}
	for range n {
		pending[fl.addLabelled(t, nil).Name] = true
	}
	moved, midCreate := map[string]bool{}, 0
	deadline := time.Now().Add(3 * time.Minute)
	for len(moved) < n && time.Now().Before(deadline) {
		for _, c := range fl.containers(t) {
			if !pending[c.Name] || moved[c.Name] || c.Status.VMID == 0 {
				continue
			}
			if !conditions.IsTrue(&c, lxcv1.ContainerCreatedCondition) {
				midCreate++
			}
			relabel(t, &c, true)
			moved[c.Name] = true
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("moved %d of %d new containers to shard1, %d of them before their create task ended", len(moved), n, midCreate)
	if len(moved) < n || midCreate == 0 {
		t.Fatalf("moved %d of %d new containers, %d in the middle of creating: the move while creating was not tried", len(moved), n, midCreate)
	}
	return moved
}
