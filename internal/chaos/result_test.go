package chaos

import "testing"

func TestLineHasTheCountsThenTheFigures(t *testing.T) {
	r := &Result{Containers: 3, Ready: 3}
	r.Figure("kills", "%d", 8)
	r.Figure("ready-s", "%.0f", 41.6)
	want := "chaos kills-lxc: containers=3 ready=3 duplicates=0 orphans=0 reruns=0 kills=8 ready-s=42"
	if got := r.Line("kills-lxc"); got != want {
		t.Errorf("line %q, want %q", got, want)
	}
	if !r.Kept() {
		t.Error("a fleet all Ready with no duplicates, orphans or reruns broke the promise")
	}
	for _, broken := range []Result{{Containers: 3, Ready: 2}, {Containers: 3, Ready: 3, Duplicates: 1},
		{Containers: 3, Ready: 3, Orphans: 1}, {Containers: 3, Ready: 3, Reruns: 1}} {
		if broken.Kept() {
			t.Errorf("%+v kept the promise", broken)
		}
	}
}
