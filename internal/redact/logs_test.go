package redact

import (
	"testing"

	"github.com/go-logr/logr/funcr"
)

// TestCapVerbosity: what a capped logger's V-levels above the cap log reaches nobody, whatever
// the sink enables; levels up to the cap, names and values pass.
func TestCapVerbosity(t *testing.T) {
	var got []string
	sink := funcr.New(func(prefix, args string) { got = append(got, prefix+" "+args) }, funcr.Options{Verbosity: 10})
	l := CapVerbosity(sink, MaxLogVerbosity).WithName("client").WithValues("k", "v")
	l.V(8).Info("Response Body", "body", "the Secret's data")
	l.V(7).Info("Request Headers")
	if l.V(8).Enabled() {
		t.Error("V(8) is enabled")
	}
	l.V(1).Info("Retrying")
	l.Info("Starting")
	if len(got) != 2 {
		t.Fatalf("logged %q, want the V(1) and V(0) lines only", got)
	}
}
