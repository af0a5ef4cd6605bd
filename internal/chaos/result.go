// Package chaos reports whether a fault scenario kept the promise of docs/reliability.md: a
// Result holds the counts the promise is about (Ready containers, duplicates, orphans, reruns)
// and the scenario's own figures, prints them as the one `chaos NAME:` line and fails the test
// when the promise broke.
//
// The scenarios on the fake backend (internal/controller) and on real containers (test/e2e)
// report through it alike, and count the owner markers on Proxmox alike with an OwnerScan. It
// injects no faults; the scenarios read their clusters and guests themselves.
package chaos

import (
	"fmt"
	"strings"
	"testing"
)

// Result is what a scenario's check found.
type Result struct {
	// Want is how many LXCContainers the scenario created: the fleet the check must find. A
	// check of no fleet, or of a smaller one, proves nothing and breaks the promise.
	Want int
	// Containers and Ready count the LXCContainers the check found and those Ready.
	Containers, Ready int
	// Missing are LXCContainers no Proxmox container carries the marker of.
	Missing int
	// Duplicates are LXCContainers more than one Proxmox container carries the marker of.
	Duplicates int
	// Orphans are Proxmox containers carrying the marker of no LXCContainer.
	Orphans int
	// Reruns are starts of a script beyond the first for the same content.
	Reruns  int
	figures []string
}

// Figure adds key=value, the value formatted with format, after the counts.
func (r *Result) Figure(key, format string, v any) {
	r.figures = append(r.figures, key+"="+fmt.Sprintf(format, v))
}

// Line is the scenario's summary line.
func (r *Result) Line(name string) string {
	s := fmt.Sprintf("chaos %s: containers=%d ready=%d duplicates=%d orphans=%d reruns=%d", name,
		r.Containers, r.Ready, r.Duplicates, r.Orphans, r.Reruns)
	if r.Missing > 0 {
		s += fmt.Sprintf(" missing=%d", r.Missing)
	}
	if len(r.figures) > 0 {
		s += " " + strings.Join(r.figures, " ")
	}
	return s
}

// Kept reports whether the promise held: the whole fleet found, every container Ready and in
// Proxmox, and none duplicated, orphaned or with a script run twice.
func (r *Result) Kept() bool { return len(r.Broken()) == 0 }

// Broken says which promises the result breaks, if any.
func (r *Result) Broken() []string {
	var broken []string
	switch {
	case r.Want <= 0:
		broken = append(broken, "the scenario created no containers to check")
	case r.Containers != r.Want:
		broken = append(broken, fmt.Sprintf("the check found %d of the %d containers the scenario created", r.Containers, r.Want))
	}
	if r.Ready != r.Containers {
		broken = append(broken, fmt.Sprintf("containers not Ready: %d of %d", r.Containers-r.Ready, r.Containers))
	}
	for _, c := range []struct {
		n    int
		what string
	}{
		{r.Missing, "LXCContainers whose marker no Proxmox container carries"},
		{r.Duplicates, "LXCContainers whose marker more than one Proxmox container carries"},
		{r.Orphans, "Proxmox containers that carry no LXCContainer's marker"},
		{r.Reruns, "script runs beyond the first for the same content"},
	} {
		if c.n > 0 {
			broken = append(broken, fmt.Sprintf("%s: %d", c.what, c.n))
		}
	}
	return broken
}

// Report prints the line, on standard output (where make chaos collects it) and in the test's
// log, and fails the test when the promise was broken.
func (r *Result) Report(t testing.TB, name string) {
	t.Helper()
	line := r.Line(name)
	fmt.Println(line)
	t.Log(line)
	if broken := r.Broken(); len(broken) > 0 {
		t.Errorf("promise broken (%s): %s", strings.Join(broken, "; "), line)
	}
}
