package testkit

import (
	"encoding/json"
	"sort"
	"strings"
	"sync"
	"testing"
)

// AssertNoSecrets fails the test for each secret value found in one of forms. forms are the
// serialized forms a component wrote, as a reader gets them (an object's JSON as the API server
// returns it, the Events' notes, the log), by a name for the message; secrets are the values by
// what they are. Each value is looked for as it is and as JSON escapes it. A form that is empty
// fails the test too: a scan of nothing proves nothing.
func AssertNoSecrets(t testing.TB, forms map[string]string, secrets map[string]string) {
	t.Helper()
	for _, form := range sortedKeys(forms) {
		if strings.TrimSpace(forms[form]) == "" {
			t.Errorf("secret scan: %s is empty, so the scan of it proves nothing", form)
		}
	}
	for _, what := range sortedKeys(secrets) {
		value := secrets[what]
		if value == "" {
			t.Errorf("secret scan: the %s to look for is empty", what)
			continue
		}
		needles := []string{value}
		if quoted, err := json.Marshal(value); err == nil {
			if escaped := string(quoted[1 : len(quoted)-1]); escaped != value {
				needles = append(needles, escaped)
			}
		}
		for _, form := range sortedKeys(forms) {
			for _, needle := range needles {
				if strings.Contains(forms[form], needle) {
					t.Errorf("the %s appears in %s", what, form)
					break
				}
			}
		}
	}
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Transcript is an io.Writer that keeps what is written to it, for a test that checks what a
// component logged while the test ran: Mark where the test begins, read Since the mark. It keeps
// the last Max bytes (64 MiB when Max is 0).
type Transcript struct {
	Max int

	mu      sync.Mutex
	data    []byte
	dropped int64 // bytes written before data[0]
}

const transcriptMax = 64 << 20

// Write implements io.Writer.
func (tr *Transcript) Write(p []byte) (int, error) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tr.data = append(tr.data, p...)
	limit := tr.Max
	if limit <= 0 {
		limit = transcriptMax
	}
	if over := len(tr.data) - limit; over > 0 {
		over = min(len(tr.data), max(over, limit/4)) // drop in large steps, not on every write
		tr.dropped += int64(over)
		tr.data = append(tr.data[:0], tr.data[over:]...)
	}
	return len(p), nil
}

// Mark is the position of the next byte written.
func (tr *Transcript) Mark() int64 {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return tr.dropped + int64(len(tr.data))
}

// Since returns what was written from mark on (what is still kept of it).
func (tr *Transcript) Since(mark int64) string {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	start := max(0, mark-tr.dropped)
	if start > int64(len(tr.data)) {
		return ""
	}
	return string(tr.data[start:])
}

// String returns all that is kept.
func (tr *Transcript) String() string { return tr.Since(0) }
