package outcome

import (
	"fmt"
	"time"
)

// A step of a reconcile ends in one of three ways besides success. The error types carry the
// condition reason, so the status summary and the Event say the same thing, and they wrap their
// cause, so errors.Is still finds a Proxmox or SSH error behind a stall or a wait.

// StallError stops retries until the object or something it references changes: the spec
// cannot be carried out as written.
type StallError struct {
	Reason string
	err    error
}

func (e *StallError) Error() string { return e.err.Error() }
func (e *StallError) Unwrap() error { return e.err }

// Stall returns a StallError; format may wrap a cause with %w.
func Stall(reason, format string, args ...any) error {
	return &StallError{Reason: reason, err: fmt.Errorf(format, args...)}
}

// WaitError is not a failure: the step is waiting for something (a task, a boot, a dependency)
// and wants to be called again after RequeueAfter.
type WaitError struct {
	Reason       string
	RequeueAfter time.Duration
	err          error
}

func (e *WaitError) Error() string { return e.err.Error() }
func (e *WaitError) Unwrap() error { return e.err }

// Wait returns a WaitError; format may wrap a cause with %w.
func Wait(after time.Duration, reason, format string, args ...any) error {
	return &WaitError{Reason: reason, RequeueAfter: after, err: fmt.Errorf(format, args...)}
}

// ReasonedError is a failure with a condition reason; it is retried with back-off and reported
// as a Warning Event.
type ReasonedError struct {
	Reason string
	Err    error
}

func (e *ReasonedError) Error() string { return e.Err.Error() }
func (e *ReasonedError) Unwrap() error { return e.Err }

// Failed wraps err with a condition reason.
func Failed(reason string, err error) error {
	return &ReasonedError{Reason: reason, Err: err}
}
