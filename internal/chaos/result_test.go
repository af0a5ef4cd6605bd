package chaos

import (
	"testing"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
)

func TestLineHasTheCountsThenTheFigures(t *testing.T) {
	r := &Result{Want: 3, Containers: 3, Ready: 3}
	r.Figure("kills", "%d", 8)
	r.Figure("ready-s", "%.0f", 41.6)
	want := "chaos kills-lxc: containers=3 ready=3 duplicates=0 orphans=0 reruns=0 kills=8 ready-s=42"
	if got := r.Line("kills-lxc"); got != want {
		t.Errorf("line %q, want %q", got, want)
	}
	if !r.Kept() {
		t.Error("a fleet all Ready with no duplicates, orphans or reruns broke the promise")
	}
	for _, broken := range []Result{{Want: 3, Containers: 3, Ready: 2}, {Want: 3, Containers: 3, Ready: 3, Duplicates: 1},
		{Want: 3, Containers: 3, Ready: 3, Orphans: 1}, {Want: 3, Containers: 3, Ready: 3, Reruns: 1},
		{Want: 3, Containers: 3, Ready: 3, Missing: 1}} {
		if broken.Kept() {
			t.Errorf("%+v kept the promise", broken)
		}
	}
}

// TestAnEmptyOrShortFleetBreaksThePromise: a check that found no containers, or fewer than the
// scenario created, proves nothing, even though none of them is unready, duplicated or orphaned.
func TestAnEmptyOrShortFleetBreaksThePromise(t *testing.T) {
	for _, tc := range []struct {
		r    Result
		want string
	}{
		{Result{Want: 6}, "the check found 0 of the 6 containers the scenario created"},
		{Result{Want: 6, Containers: 4, Ready: 4}, "the check found 4 of the 6 containers the scenario created"},
		{Result{}, "the scenario created no containers to check"},
	} {
		if tc.r.Kept() {
			t.Errorf("%+v kept the promise", tc.r)
		}
		if broken := tc.r.Broken(); len(broken) != 1 || broken[0] != tc.want {
			t.Errorf("%+v: broken %q, want %q", tc.r, broken, tc.want)
		}
	}
}

func TestOwnerScan(t *testing.T) {
	marker := func(name string) string { return lxcv1.OwnerMarkerPrefix + " chaos/" + name + " uid=u-" + name }
	r := &Result{}
	scan := r.ScanOwners(t, map[string]string{marker("a"): "a", marker("b"): "b", marker("c"): "c"})
	scan.Container("CT 100", marker("a")+"\nManaged by LXC Template Manager.")
	scan.Container("CT 101", marker("b"))
	scan.Container("CT 102", marker("b"))                 // a duplicate of b
	scan.Container("CT 103", marker("gone"))              // the marker of no LXCContainer
	scan.Container("CT 104", "a database someone runs")   // no marker at all
	scan.Container("CT 105", "lxctm-owned-by: chaos/c u") // not the marker's format: c stays missing
	scan.Done()
	if r.Duplicates != 1 || r.Orphans != 3 || r.Missing != 1 {
		t.Errorf("duplicates %d orphans %d missing %d, want 1 3 1", r.Duplicates, r.Orphans, r.Missing)
	}
}
