package shard

import (
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/event"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
)

func labelled(l map[string]string) *lxcv1.LXCContainer {
	return &lxcv1.LXCContainer{ObjectMeta: metav1.ObjectMeta{Name: "c", Labels: l}}
}

func TestMainAndShardSplitTheObjects(t *testing.T) {
	main, err := Parse("!" + lxcv1.ShardKeyLabel)
	if err != nil {
		t.Fatal(err)
	}
	shard1, err := Parse(lxcv1.ShardKeyLabel + "=shard1")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		labels      map[string]string
		main, shard bool
	}{
		{nil, true, false},
		{map[string]string{"app": "web"}, true, false},
		{map[string]string{lxcv1.ShardKeyLabel: "shard1"}, false, true},
		{map[string]string{lxcv1.ShardKeyLabel: "shard2"}, false, false},
	} {
		obj := labelled(tc.labels)
		if got := main.Owns(obj); got != tc.main {
			t.Errorf("main owns %v: got %t, want %t", tc.labels, got, tc.main)
		}
		if got := shard1.Owns(obj); got != tc.shard {
			t.Errorf("shard1 owns %v: got %t, want %t", tc.labels, got, tc.shard)
		}
	}
	if main.LeaderElectionID("lease.example") == shard1.LeaderElectionID("lease.example") {
		t.Error("two shards share a leader-election lease")
	}
	if main.FieldOwner("m") == shard1.FieldOwner("m") {
		t.Error("two shards write as the same field manager")
	}
}

func TestEverything(t *testing.T) {
	for _, text := range []string{"", "  "} {
		s, err := Parse(text)
		if err != nil {
			t.Fatal(err)
		}
		if s.Sharded() || !s.Owns(labelled(map[string]string{lxcv1.ShardKeyLabel: "x"})) {
			t.Errorf("%q: not every object is selected", text)
		}
		if got := s.LeaderElectionID("lease.example"); got != "lease.example" {
			t.Errorf("%q: lease %q, want the unsharded manager's", text, got)
		}
	}
}

func TestLeaseDoesNotDependOnOrder(t *testing.T) {
	a, _ := Parse("a=1,b=2")
	b, _ := Parse("b=2, a=1")
	if a.LeaderElectionID("l") != b.LeaderElectionID("l") {
		t.Error("the same selector written in another order gets another lease")
	}
	id := a.LeaderElectionID("lxc-template-manager.lxc.templatemanager.dev")
	if len(id) > 63 || strings.ContainsAny(id, "=!,/ ") {
		t.Errorf("lease name %q is not a DNS name", id)
	}
}

func TestBadSelectorNamesTheFlag(t *testing.T) {
	_, err := Parse("key in (a")
	if err == nil || !strings.Contains(err.Error(), "--watch-label-selector") {
		t.Fatalf("got %v, want an error naming --watch-label-selector", err)
	}
}

func TestPredicateFollowsTheNewLabels(t *testing.T) {
	s, _ := Parse(lxcv1.ShardKeyLabel + "=shard1")
	p := s.Predicate()
	in := labelled(map[string]string{lxcv1.ShardKeyLabel: "shard1"})
	out := labelled(nil)
	if !p.Update(event.UpdateEvent{ObjectOld: out, ObjectNew: in}) {
		t.Error("a container relabelled into the shard is not taken over")
	}
	if p.Update(event.UpdateEvent{ObjectOld: in, ObjectNew: out}) {
		t.Error("a container relabelled out of the shard is still reconciled")
	}
	if p.Create(event.CreateEvent{Object: out}) || !p.Create(event.CreateEvent{Object: in}) {
		t.Error("create events are not split by label")
	}
}
