package testkit

import (
	"errors"
	"testing"
	"time"
)

// Eventually calls fn until it returns nil, and fails the test with fn's last error once timeout
// has passed, or at once when fn returns a Permanent error. It waits 10 ms after the first
// failure, doubling up to a quarter second.
func Eventually(t testing.TB, timeout time.Duration, fn func() error) {
	t.Helper()
	if err := Poll(timeout, fn); err != nil {
		t.Fatal(err)
	}
}

// Poll is Eventually without a test: it returns nil once fn does, or fn's last error once
// timeout has passed or fn returned a Permanent error.
func Poll(timeout time.Duration, fn func() error) error {
	deadline := time.Now().Add(timeout)
	pause := 10 * time.Millisecond
	for {
		err := fn()
		if err == nil {
			return nil
		}
		var p *permanent
		if errors.As(err, &p) {
			return p.err
		}
		if time.Now().After(deadline) {
			return &timeoutError{timeout: timeout, err: err}
		}
		time.Sleep(pause)
		pause = min(2*pause, 250*time.Millisecond)
	}
}

// Permanent marks err as one that waiting longer cannot cure (the process under test exited):
// Eventually and Poll stop at once with it.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanent{err: err}
}

type permanent struct{ err error }

func (p *permanent) Error() string { return p.err.Error() }
func (p *permanent) Unwrap() error { return p.err }

type timeoutError struct {
	timeout time.Duration
	err     error
}

func (e *timeoutError) Error() string { return "after " + e.timeout.String() + ": " + e.err.Error() }
func (e *timeoutError) Unwrap() error { return e.err }
