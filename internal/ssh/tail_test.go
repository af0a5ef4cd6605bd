package ssh

import (
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"
)

func tailOf(t *testing.T, s string, n int) string {
	t.Helper()
	got, err := tailLines(strings.NewReader(s), int64(len(s)), n)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func TestTailLines(t *testing.T) {
	cases := []struct {
		name string
		in   string
		n    int
		want string
	}{
		{"empty", "", 5, ""},
		{"zero lines asked", "a\nb\n", 0, ""},
		{"fewer lines than asked", "a\nb\n", 5, "a\nb"},
		{"exactly", "a\nb\nc\n", 3, "a\nb\nc"},
		{"last two", "a\nb\nc\n", 2, "b\nc"},
		{"no final newline", "a\nb\nc", 2, "b\nc"},
		{"empty lines kept", "a\n\n\nb\n", 3, "\n\nb"},
		{"single line", "only", 1, "only"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := tailOf(t, tc.in, tc.n); got != tc.want {
				t.Fatalf("tail = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestTailLinesAcrossChunks(t *testing.T) {
	var b strings.Builder
	for i := range 5000 {
		fmt.Fprintf(&b, "line %04d\n", i)
	}
	got := tailOf(t, b.String(), 3)
	if got != "line 4997\nline 4998\nline 4999" {
		t.Fatalf("tail = %q", got)
	}
	// 1000 lines of 10 bytes cross several 4 KiB chunks.
	got = tailOf(t, b.String(), 1000)
	lines := strings.Split(got, "\n")
	if len(lines) != 1000 || lines[0] != "line 4000" || lines[999] != "line 4999" {
		t.Fatalf("got %d lines from %q to %q", len(lines), lines[0], lines[len(lines)-1])
	}
}

func TestTailLinesBoundedRead(t *testing.T) {
	long := strings.Repeat("x", 3*maxTailBytes)
	got := tailOf(t, "first\n"+long+"\nend\n", 3)
	if got != "end" {
		t.Fatalf("a line cut by the read bound must be dropped; got %d bytes ending %q", len(got), got[max(0, len(got)-10):])
	}
	var b strings.Builder
	for range 20000 {
		b.WriteString("0123456789\n")
	}
	got = tailOf(t, b.String(), 100000)
	if len(got) > maxTailBytes {
		t.Fatalf("tail of %d bytes exceeds the bound", len(got))
	}
	if !strings.HasPrefix(got, "0123456789\n") {
		t.Fatalf("tail starts with a partial line: %q", got[:20])
	}
}

func TestTailLinesRepairsUTF8(t *testing.T) {
	got := tailOf(t, "ok\nbad \xff\xfe bytes\n", 1)
	if !utf8.ValidString(got) || got != "bad \uFFFD bytes" {
		t.Fatalf("tail = %q", got)
	}
}
