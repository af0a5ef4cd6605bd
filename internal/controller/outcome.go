package controller

import (
	"errors"
	"fmt"
	"time"
)

// A step of a reconcile ends in one of three ways besides success. The error types carry the
// condition reason, so the status summary and the Event say the same thing.

// StallError stops retries until the object or something it references changes: the spec
// cannot be carried out as written.
type StallError struct {
	Reason  string
	Message string
}

func (e *StallError) Error() string { return e.Message }

// Stall returns a StallError.
func Stall(reason, format string, args ...any) error {
	return &StallError{Reason: reason, Message: fmt.Sprintf(format, args...)}
}

// WaitError is not a failure: the step is waiting for something (a task, a boot, a dependency)
// and wants to be called again after RequeueAfter.
type WaitError struct {
	Reason       string
	Message      string
	RequeueAfter time.Duration
}

func (e *WaitError) Error() string { return e.Message }

// Wait returns a WaitError.
func Wait(after time.Duration, reason, format string, args ...any) error {
	return &WaitError{Reason: reason, Message: fmt.Sprintf(format, args...), RequeueAfter: after}
}

// ReasonedError is a failure with a condition reason; it is retried with backoff and reported
// as a Warning event. Errors without a reason are reported as FailedReason.
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

// reasonOf returns the condition reason an error carries, or fallback.
func reasonOf(err error, fallback string) string {
	var s *StallError
	var w *WaitError
	var r *ReasonedError
	switch {
	case errors.As(err, &s):
		return s.Reason
	case errors.As(err, &w):
		return w.Reason
	case errors.As(err, &r):
		return r.Reason
	}
	return fallback
}

// isStallOrWait reports whether err is a StallError or a WaitError: outcomes, not failures.
func isStallOrWait(err error) bool {
	var s *StallError
	var w *WaitError
	return errors.As(err, &s) || errors.As(err, &w)
}
