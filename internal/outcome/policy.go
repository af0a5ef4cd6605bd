package outcome

import (
	"errors"
	"time"

	corev1 "k8s.io/api/core/v1"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
	"templatemanager.dev/lxc-template-manager/internal/proxmox"
)

// FailedReason is the reason of an error that carries none of its own and is no Proxmox error.
const FailedReason = "ReconcileFailed"

// DependencyRetry is how soon an object waiting for a dependency (a template, a cluster, a
// Secret) looks again should the watch event that would wake it be lost.
const DependencyRetry = 2 * time.Minute

// Kind is how a reconcile, or one step of it, ended.
type Kind int

const (
	// Done: the step did its work; the condition is True.
	Done Kind = iota
	// Waiting: progress; the condition is False with Reconciling, and the step is called
	// again after RequeueAfter. No Event: progress is not news.
	Waiting
	// Stalled: the spec cannot be carried out as written; Stalled is set and nothing is
	// retried until something changes (or the resync looks again).
	Stalled
	// Failing: a failure, retried on the back-off schedule kept in status, announced once
	// by a Warning Event.
	Failing
)

// Outcome is what an error means for the object: the reason its conditions carry, the message,
// the kind of ending, the type of the Event a change of Ready to it announces, and, for a wait,
// when to look again.
type Outcome struct {
	Kind      Kind
	Reason    string
	Message   string
	EventType string
	// RequeueAfter is set for Waiting; a failure's wait comes from the retry schedule and a
	// stall's from the resync period.
	RequeueAfter time.Duration
}

// Of is the one answer to "what does this error do?", for every reconciler: nil is Done; a
// StallError, a WaitError or a ReasonedError keeps its reason; a Proxmox error is named by its
// kind (Unreachable, AuthenticationFailed, TLSFailed, ProxmoxError); anything else is
// FailedReason.
func Of(err error) Outcome {
	var stall *StallError
	var wait *WaitError
	var reasoned *ReasonedError
	switch {
	case err == nil:
		return Outcome{Kind: Done, Reason: lxcv1.SucceededReason, EventType: corev1.EventTypeNormal}
	case errors.As(err, &stall):
		return Outcome{Kind: Stalled, Reason: stall.Reason, Message: err.Error(), EventType: corev1.EventTypeWarning}
	case errors.As(err, &wait):
		return Outcome{Kind: Waiting, Reason: wait.Reason, Message: err.Error(), RequeueAfter: wait.RequeueAfter}
	case errors.As(err, &reasoned):
		return Outcome{Kind: Failing, Reason: reasoned.Reason, Message: err.Error(), EventType: corev1.EventTypeWarning}
	case proxmox.KindOf(err) != "":
		return Outcome{Kind: Failing, Reason: ProxmoxReason(err), Message: err.Error(), EventType: corev1.EventTypeWarning}
	}
	return Outcome{Kind: Failing, Reason: FailedReason, Message: err.Error(), EventType: corev1.EventTypeWarning}
}

// IsStallOrWait reports whether err is a StallError or a WaitError: outcomes, not failures.
func IsStallOrWait(err error) bool {
	k := Of(err).Kind
	return err != nil && (k == Stalled || k == Waiting)
}

// ProxmoxReason names a Proxmox failure by its kind.
func ProxmoxReason(err error) string {
	switch {
	case errors.Is(err, proxmox.ErrAuthentication), errors.Is(err, proxmox.ErrPermission):
		return lxcv1.AuthenticationFailedReason
	case errors.Is(err, proxmox.ErrTLS):
		return lxcv1.TLSFailedReason
	case errors.Is(err, proxmox.ErrUnreachable):
		return lxcv1.UnreachableReason
	}
	return lxcv1.ProxmoxErrorReason
}
