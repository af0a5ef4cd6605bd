// Package chaos reports whether a fault scenario kept the promise of docs/reliability.md: a
// Result holds the counts the promise is about (Ready containers, duplicates, orphans, reruns)
// and the scenario's own figures, prints them as the one `chaos NAME:` line and fails the test
// when the promise broke.
//
// The scenarios on the fake backend (internal/controller) and on real containers (test/e2e)
// report through it alike. It injects no faults and counts nothing itself; the scenarios do.
package chaos

import (
	"fmt"
	"strings"
	"testing"
)

// Result is what a scenario's check found.
type Result struct {
	// Containers and Ready count the LXCContainers and those Ready.
	Containers, Ready int
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
	if len(r.figures) > 0 {
		s += " " + strings.Join(r.figures, " ")
	}
	return s
}

// Kept reports whether the promise held: every container Ready, and none duplicated, orphaned
// or with a script run twice.
func (r *Result) Kept() bool {
	return r.Ready == r.Containers && r.Duplicates == 0 && r.Orphans == 0 && r.Reruns == 0
}

// Report prints the line, on standard output (where make chaos collects it) and in the test's
// log, and fails the test when the promise was broken.
func (r *Result) Report(t testing.TB, name string) {
	t.Helper()
	line := r.Line(name)
	fmt.Println(line)
	t.Log(line)
	if !r.Kept() {
		t.Errorf("promise broken: %s", line)
	}
}
