package proxmox

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"syscall"

	goproxmox "github.com/luthermonson/go-proxmox"
)

// Kind classifies a failed Proxmox call by what the caller should do about it. Kinds are errors
// themselves, so callers test with errors.Is(err, proxmox.ErrLocked).
type Kind string

func (k Kind) Error() string { return string(k) }

// label is the form of a kind used in metric labels.
func (k Kind) label() string { return strings.ReplaceAll(string(k), " ", "_") }

const (
	// ErrNotFound: the guest, node, storage or task does not exist
	// ("Configuration file 'nodes/pve/lxc/101.conf' does not exist").
	ErrNotFound Kind = "not found"
	// ErrAlreadyExists: the VMID is taken ("CT 100 already exists on node 'pve1'").
	ErrAlreadyExists Kind = "already exists"
	// ErrAlreadyRunning: the container is running ("CT 100 already running", or a delete without
	// force refused because "container is running").
	ErrAlreadyRunning Kind = "already running"
	// ErrNotRunning: the container is stopped ("CT 100 not running").
	ErrNotRunning Kind = "not running"
	// ErrLocked: another operation holds the guest ("CT is locked (create)", "can't lock file …
	// got timeout"). Usually clears by itself.
	ErrLocked Kind = "locked"
	// ErrConflict: the change conflicts with the guest's current configuration (digest mismatch,
	// protection mode) or with a protected backup.
	ErrConflict Kind = "conflict"
	// ErrAuthentication: the API token or the user's credentials were refused (HTTP 401).
	ErrAuthentication Kind = "authentication failed"
	// ErrPermission: authenticated, but not allowed (HTTP 403).
	ErrPermission Kind = "permission denied"
	// ErrTLS: the server's certificate could not be verified, or the endpoint does not speak TLS.
	ErrTLS Kind = "tls verification failed"
	// ErrUnreachable: no answer from the endpoint: connection refused, DNS failure, timeout or a
	// dropped connection.
	ErrUnreachable Kind = "unreachable"
	// ErrBadRequest: Proxmox rejected the parameters (HTTP 400) or does not implement the call.
	ErrBadRequest Kind = "bad request"
	// ErrServer: a transient server-side failure (HTTP 5xx other than the messages above, 429).
	ErrServer Kind = "server error"
	// ErrInvalidResponse: the answer could not be understood.
	ErrInvalidResponse Kind = "invalid response"
	// ErrCanceled: the caller's context ended before the call finished.
	ErrCanceled Kind = "canceled"
	// ErrTaskFailed: an asynchronous task stopped with an exit status other than "OK".
	ErrTaskFailed Kind = "task failed"
)

// Error is a classified failure of one Proxmox call.
type Error struct {
	// Kind says what went wrong; errors.Is(err, Kind) matches it.
	Kind Kind
	// Op names the call, e.g. "start container pve/101".
	Op string
	// StatusCode is the HTTP status of the last response, 0 when none arrived.
	StatusCode int
	// Message is the server's message (the HTTP reason phrase Proxmox uses for errors) or the
	// transport error.
	Message string
	// Params holds per-parameter messages of a 400 "Parameter verification failed.".
	Params map[string]string
	// OutcomeUnknown is set when a non-idempotent request (create) was sent but no answer came
	// back: Proxmox may have acted on it. Look for the result before trying again.
	OutcomeUnknown bool
	// Err is the underlying error, if any.
	Err error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Op)
	b.WriteString(": ")
	b.WriteString(string(e.Kind))
	if e.Message != "" && !strings.EqualFold(e.Message, string(e.Kind)) {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	if len(e.Params) > 0 {
		b.WriteString(" (")
		b.WriteString(formatParams(e.Params))
		b.WriteString(")")
	}
	if e.OutcomeUnknown {
		b.WriteString(" (the request may have been applied)")
	}
	return b.String()
}

// Is matches the error's Kind.
func (e *Error) Is(target error) bool {
	k, ok := target.(Kind)
	return ok && k == e.Kind
}

func (e *Error) Unwrap() error { return e.Err }

// TaskError is an asynchronous task that stopped without success. Its exit status is the text
// Proxmox recorded, e.g. "unable to create CT 100 - can't find file 'local:vztmpl/x.tar.zst'".
type TaskError struct {
	UPID       UPID
	Type       string
	ExitStatus string
	// Kind classifies the exit status text where it names a known condition (locked, not
	// found, …); empty otherwise.
	Kind Kind
}

func (e *TaskError) Error() string {
	return fmt.Sprintf("task %s failed: %s", e.UPID, e.ExitStatus)
}

// Is matches ErrTaskFailed and the kind derived from the exit status.
func (e *TaskError) Is(target error) bool {
	k, ok := target.(Kind)
	return ok && (k == ErrTaskFailed || (e.Kind != "" && k == e.Kind))
}

// KindOf returns the classification of err, or "" when err is nil or not from this package.
func KindOf(err error) Kind {
	var pe *Error
	if errors.As(err, &pe) {
		return pe.Kind
	}
	var te *TaskError
	if errors.As(err, &te) {
		if te.Kind != "" {
			return te.Kind
		}
		return ErrTaskFailed
	}
	var k Kind
	if errors.As(err, &k) {
		return k
	}
	return ""
}

// IsRetryable reports whether trying the same call again later may succeed: transient server
// errors, timeouts, dropped connections and locks. Authentication, permission, TLS, bad
// requests and missing objects are not retryable. A create whose outcome is unknown
// (IsOutcomeUnknown) must look for the container before it is retried.
func IsRetryable(err error) bool {
	var pe *Error
	if errors.As(err, &pe) {
		return retryableKind(pe.Kind, pe.Err)
	}
	var te *TaskError
	if errors.As(err, &te) {
		return te.Kind == ErrLocked
	}
	return false
}

// IsOutcomeUnknown reports whether a create request may have been applied although the call
// failed (the connection dropped or timed out after the request was sent).
func IsOutcomeUnknown(err error) bool {
	var pe *Error
	return errors.As(err, &pe) && pe.OutcomeUnknown
}

func retryableKind(k Kind, cause error) bool {
	switch k {
	case ErrServer, ErrLocked:
		return true
	case ErrUnreachable:
		// A name that does not resolve will not resolve on the next attempt either.
		var dnsErr *net.DNSError
		return !(errors.As(cause, &dnsErr) && dnsErr.IsNotFound)
	}
	return false
}

// classifyMessage maps a Proxmox error text to a kind; ok is false when the text names nothing
// specific. The texts come from pve-container, pve-guest-common and pve-cluster.
func classifyMessage(msg string) (Kind, bool) {
	m := strings.ToLower(msg)
	switch {
	case strings.Contains(m, "is locked") || strings.Contains(m, "can't lock file") ||
		strings.Contains(m, "got timeout"):
		return ErrLocked, true
	case strings.Contains(m, "already exists") || strings.Contains(m, "refusing to override existing file"):
		return ErrAlreadyExists, true
	case strings.Contains(m, "already running") || strings.Contains(m, "container is running"):
		return ErrAlreadyRunning, true
	case strings.Contains(m, "not running"):
		return ErrNotRunning, true
	case strings.Contains(m, "does not exist") || strings.Contains(m, "no such") || strings.Contains(m, "no rule at position") ||
		strings.Contains(m, "can't find file") ||
		(strings.Contains(m, "hostname lookup") && strings.Contains(m, "failed")):
		return ErrNotFound, true
	case strings.Contains(m, "detected modified configuration") ||
		strings.Contains(m, "protection mode enabled") || strings.Contains(m, "cannot remove protected"):
		return ErrConflict, true
	case strings.Contains(m, "permission check failed"):
		return ErrPermission, true
	}
	return "", false
}

// classifyStatus maps an HTTP error response to a kind.
func classifyStatus(code int, msg string, params map[string]string) Kind {
	switch {
	case code == 400:
		for _, p := range params {
			if k, ok := classifyMessage(p); ok && (k == ErrAlreadyExists || k == ErrNotFound) {
				return k
			}
		}
		return ErrBadRequest
	case code == 401:
		return ErrAuthentication
	case code == 403:
		return ErrPermission
	case code == 404:
		return ErrNotFound
	case code == 408 || code == 429:
		return ErrServer
	case code == 501:
		return ErrBadRequest
	case code >= 500:
		if k, ok := classifyMessage(msg); ok {
			return k
		}
		return ErrServer
	case code >= 400:
		if k, ok := classifyMessage(msg); ok {
			return k
		}
		return ErrBadRequest
	}
	return ErrInvalidResponse
}

// classifyTransport maps an error of the HTTP round trip (no response) to a kind.
func classifyTransport(err error) Kind {
	if isTLSError(err) {
		return ErrTLS
	}
	var dnsErr *net.DNSError
	var opErr *net.OpError
	var netErr net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return ErrUnreachable
	case errors.As(err, &dnsErr), errors.As(err, &opErr):
		return ErrUnreachable
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.ECONNREFUSED),
		errors.Is(err, syscall.EPIPE), errors.Is(err, syscall.EHOSTUNREACH),
		errors.Is(err, syscall.ENETUNREACH):
		return ErrUnreachable
	case errors.As(err, &netErr):
		return ErrUnreachable
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		// net/http reports a connection closed before the response as a plain error inside
		// url.Error ("server closed connection", "connection reset").
		return ErrUnreachable
	}
	return ""
}

func isTLSError(err error) bool {
	var (
		verifyErr    *tls.CertificateVerificationError
		unknownAuth  x509.UnknownAuthorityError
		hostnameErr  x509.HostnameError
		invalidCert  x509.CertificateInvalidError
		recordHdrErr tls.RecordHeaderError
		alertErr     tls.AlertError
		sysRootsErr  x509.SystemRootsError
	)
	return errors.As(err, &verifyErr) || errors.As(err, &unknownAuth) ||
		errors.As(err, &hostnameErr) || errors.As(err, &invalidCert) ||
		errors.As(err, &recordHdrErr) || errors.As(err, &alertErr) ||
		errors.As(err, &sysRootsErr)
}

// transportMessage is the short text of a transport error, without the request URL that
// url.Error adds.
func transportMessage(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) && ue.Err != nil {
		err = ue.Err
	}
	var verifyErr *tls.CertificateVerificationError
	if errors.As(err, &verifyErr) && verifyErr.Err != nil {
		err = verifyErr.Err
	}
	return err.Error()
}

// isGoProxmoxAuth reports the error go-proxmox returns for both 401 and 403.
func isGoProxmoxAuth(err error) bool {
	return errors.Is(err, goproxmox.ErrNotAuthorized)
}

func formatParams(p map[string]string) string {
	keys := sortedKeys(p)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, k+": "+p[k])
	}
	return strings.Join(parts, "; ")
}
