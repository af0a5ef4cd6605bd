package redact

import "github.com/go-logr/logr"

// MaxLogVerbosity is the highest V-level a manager's logger enables. client-go logs request and
// response bodies from V(8) on (headers from V(7)), and the body of a Secret read or write is
// its data: those levels must never be on, whatever verbosity a user asks for.
const MaxLogVerbosity = 6

// CapVerbosity returns l with every V-level above max disabled.
func CapVerbosity(l logr.Logger, max int) logr.Logger {
	if l.GetSink() == nil {
		return l
	}
	return logr.New(&cappedSink{LogSink: l.GetSink(), max: max})
}

type cappedSink struct {
	logr.LogSink
	max int
}

func (s *cappedSink) Enabled(level int) bool { return level <= s.max && s.LogSink.Enabled(level) }

func (s *cappedSink) Info(level int, msg string, kv ...any) {
	if level <= s.max {
		s.LogSink.Info(level, msg, kv...)
	}
}

func (s *cappedSink) WithValues(kv ...any) logr.LogSink {
	return &cappedSink{LogSink: s.LogSink.WithValues(kv...), max: s.max}
}

func (s *cappedSink) WithName(name string) logr.LogSink {
	return &cappedSink{LogSink: s.LogSink.WithName(name), max: s.max}
}

// WithCallDepth keeps the caller's line right when the wrapped sink reports it.
func (s *cappedSink) WithCallDepth(depth int) logr.LogSink {
	if d, ok := s.LogSink.(logr.CallDepthLogSink); ok {
		return &cappedSink{LogSink: d.WithCallDepth(depth + 1), max: s.max}
	}
	return s
}
