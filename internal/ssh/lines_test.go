package ssh

import (
	"slices"
	"strings"
	"testing"
)

func collect(writes []string) []string {
	var got []string
	w := &lineWriter{stream: Stderr, emit: func(l Line) {
		if l.Stream != Stderr {
			panic("wrong stream")
		}
		got = append(got, l.Text)
	}}
	for _, s := range writes {
		if n, err := w.Write([]byte(s)); n != len(s) || err != nil {
			panic("short write")
		}
	}
	w.Flush()
	return got
}

func TestLineWriterSplitsLines(t *testing.T) {
	cases := []struct {
		name   string
		writes []string
		want   []string
	}{
		{"one write", []string{"a\nb\n"}, []string{"a", "b"}},
		{"split across writes", []string{"hel", "lo\nwor", "ld\n"}, []string{"hello", "world"}},
		{"unterminated last line", []string{"a\nb"}, []string{"a", "b"}},
		{"empty lines", []string{"\n\nx\n"}, []string{"", "", "x"}},
		{"crlf", []string{"a\r\nb\r\n"}, []string{"a", "b"}},
		{"nothing", nil, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := collect(tc.writes); !slices.Equal(got, tc.want) {
				t.Fatalf("lines = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestLineWriterSplitsOverlongLines(t *testing.T) {
	long := strings.Repeat("y", 2*MaxLineSize+5)
	got := collect([]string{long[:100], long[100:] + "\nafter\n"})
	if len(got) != 4 || len(got[0]) != MaxLineSize || len(got[1]) != MaxLineSize || got[2] != "yyyyy" || got[3] != "after" {
		lens := []int{}
		for _, l := range got {
			lens = append(lens, len(l))
		}
		t.Fatalf("line lengths = %v", lens)
	}
}

func TestCappedBuffer(t *testing.T) {
	b := &cappedBuffer{limit: 5}
	b.Write([]byte("abc"))
	b.Write([]byte("defg"))
	b.Write([]byte("h"))
	if string(b.buf) != "abcde" || !b.truncated {
		t.Fatalf("buf = %q truncated = %v", b.buf, b.truncated)
	}
}
