// Package live writes a server-sent event stream (text/event-stream).
package live

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// Stream is an open event stream to one browser.
type Stream struct {
	w http.ResponseWriter
	f http.Flusher
}

// Open starts the stream: headers out, nothing buffered.
func Open(w http.ResponseWriter) (*Stream, error) {
	f, ok := w.(http.Flusher)
	if !ok {
		return nil, errors.New("the connection cannot stream")
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no") // a proxy in front must not hold events back
	w.WriteHeader(http.StatusOK)
	// The retry hint makes a browser come back quickly after the stream ends.
	if _, err := fmt.Fprint(w, "retry: 2000\n\n"); err != nil {
		return nil, err
	}
	f.Flush()
	return &Stream{w: w, f: f}, nil
}

// Send sends one event whose data is v as JSON.
func (s *Stream) Send(event string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	var b strings.Builder
	b.WriteString("event: ")
	b.WriteString(event)
	b.WriteString("\n")
	// JSON has no raw newlines, so one data line carries it.
	b.WriteString("data: ")
	b.Write(data)
	b.WriteString("\n\n")
	if _, err := s.w.Write([]byte(b.String())); err != nil {
		return err
	}
	s.f.Flush()
	return nil
}

// Ping keeps idle connections open through proxies.
func (s *Stream) Ping() error {
	if _, err := fmt.Fprint(s.w, ": ping\n\n"); err != nil {
		return err
	}
	s.f.Flush()
	return nil
}
