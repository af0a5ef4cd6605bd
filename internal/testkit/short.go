package testkit

import (
	"flag"
	"os"
	"testing"
)

// Short reports whether the tests run with -short. Unlike testing.Short it may be called in
// TestMain before m.Run, to decide whether to start a control plane.
func Short() bool {
	if !flag.Parsed() {
		flag.Parse()
	}
	return testing.Short()
}

// What the tests most often need beyond -short, for SkipUnlessFull.
const (
	ControlPlane = "a control plane (etcd and kube-apiserver from bin/)"
	PostgreSQL   = "PostgreSQL"
)

// SkipUnlessFull skips t under -short, saying what it needs (root, a control plane, PostgreSQL,
// a real LXC container, a tool in bin/ …); see the package documentation for what -short
// leaves out.
func SkipUnlessFull(t testing.TB, needs string) {
	t.Helper()
	if Short() {
		t.Skipf("needs %s; -short runs only pure unit tests and in-process fakes", needs)
	}
}

// RequireRoot skips t under -short and fails it unless it runs as root: why says what the test
// does that needs root.
func RequireRoot(t testing.TB, why string) {
	t.Helper()
	SkipUnlessFull(t, "root ("+why+")")
	if os.Geteuid() != 0 {
		t.Fatalf("this test %s and must run as root (or with -short, which skips it)", why)
	}
}
