package ssh

import (
	"bytes"
	"strings"
)

// MaxLineSize is the longest line ExecStream hands over in one piece.
const MaxLineSize = 64 << 10

// lineWriter cuts a byte stream into lines and hands each to emit.
type lineWriter struct {
	stream  Stream
	emit    func(Line)
	pending []byte
}

func (w *lineWriter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			w.pending = append(w.pending, p...)
			for len(w.pending) >= MaxLineSize {
				w.send(w.pending[:MaxLineSize])
				w.pending = append(w.pending[:0], w.pending[MaxLineSize:]...)
			}
			break
		}
		w.pending = append(w.pending, p[:i]...)
		p = p[i+1:]
		for len(w.pending) > MaxLineSize {
			w.send(w.pending[:MaxLineSize])
			w.pending = append(w.pending[:0], w.pending[MaxLineSize:]...)
		}
		w.send(w.pending)
		w.pending = w.pending[:0]
	}
	return n, nil
}

// Flush hands over a last line that had no newline.
func (w *lineWriter) Flush() {
	if len(w.pending) > 0 {
		w.send(w.pending)
		w.pending = w.pending[:0]
	}
}

func (w *lineWriter) send(b []byte) {
	text := strings.TrimSuffix(string(b), "\r")
	w.emit(Line{Stream: w.stream, Text: strings.ToValidUTF8(text, "\uFFFD")})
}
