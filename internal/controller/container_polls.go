package controller

import (
	"fmt"
	"time"

	"templatemanager.dev/lxc-template-manager/internal/outcome"
)

// lookAgain ends a step whose check found the container not yet as it should be — no address
// yet, a promised service missing — and has nothing in flight that will end on its own. Such a
// check is repeated on the failure back-off (outcome.RetryDelay: 2 s, doubling to 5 minutes),
// counted in status.retry, so a guest that never gets there costs a look every few minutes,
// not every few seconds. The count starts over when the check that waits changes (another
// reason), and with a new generation or a reconcile request. The message says when it looks next.
func lookAgain(s *containerScope, reason, format string, args ...any) error {
	obj := s.obj
	if r := obj.Status.Retry; r != nil && r.Reason != reason {
		obj.Status.Retry = nil
	}
	now := time.Now()
	looks, delay := outcome.CountFailure(obj, reason, now)
	return outcome.Wait(delay, reason, "%s (looked %d times; next look in %s, at %s)", fmt.Sprintf(format, args...),
		looks, delay.Round(time.Second), now.Add(delay).UTC().Format(time.TimeOnly))
}
