package proxmox

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	goproxmox "github.com/luthermonson/go-proxmox"
)

// APIClient implements Client over go-proxmox. go-proxmox provides authentication (API token
// header, or ticket login with its 401 → login → retry dance), the JSON envelope and request
// plumbing; the calls use its generic Get/Post/Put/Delete with this package's own types,
// because several of its typed calls break on real response shapes (fractional cpus, string
// cpulimit, null-valued fields, nil tasks from synchronous calls).
//
// An APIClient is safe for concurrent use.
type APIClient struct {
	api       *goproxmox.Client
	transport *instrumentedTransport
	idle      interface{ CloseIdleConnections() }
	settings  Settings
	metrics   *Metrics
	login     bool
	session   sessionGuard
}

// sessionGuard serialises ticket logins. go-proxmox writes its session without a lock while
// other requests read it, so with a username and password this client logs in (and renews the
// ticket before Proxmox's two hours run out) while no request of its own is in flight. go-proxmox's
// own 401 → login → retry stays as the fallback when Proxmox drops a ticket early.
type sessionGuard struct {
	mu      sync.RWMutex
	loginAt time.Time
}

// sessionRenewAfter is past go-proxmox's one-hour session expiry (so CreateSession renews
// instead of reporting an existing session) and well before the ticket's two-hour lifetime.
const sessionRenewAfter = 61 * time.Minute

var _ Client = (*APIClient)(nil)

// Option adjusts an APIClient.
type Option func(*clientOptions)

type clientOptions struct {
	metrics   *Metrics
	userAgent string
}

// WithMetrics records requests, latencies and retries on m.
func WithMetrics(m *Metrics) Option { return func(o *clientOptions) { o.metrics = m } }

// WithUserAgent sets the User-Agent header.
func WithUserAgent(ua string) Option { return func(o *clientOptions) { o.userAgent = ua } }

// New builds a client from connection settings. It makes no request.
func New(s Settings, opts ...Option) (*APIClient, error) {
	if err := s.validate(); err != nil {
		return nil, err
	}
	s = s.withDefaults()
	o := clientOptions{userAgent: "lxc-template-manager"}
	for _, opt := range opts {
		opt(&o)
	}
	base, err := s.baseURL()
	if err != nil {
		return nil, err
	}
	tr, err := newTransport(s)
	if err != nil {
		return nil, err
	}
	it := &instrumentedTransport{base: tr, basePath: base.Path, metrics: o.metrics}
	pveOpts := []goproxmox.Option{
		goproxmox.WithHTTPClient(&http.Client{Transport: it}),
		goproxmox.WithUserAgent(o.userAgent),
		goproxmox.WithLogger(quietLogger{}),
	}
	login := s.Auth.TokenID == ""
	if login {
		pveOpts = append(pveOpts,
			goproxmox.WithCredentials(&goproxmox.Credentials{Username: s.Auth.Username, Password: s.Auth.Password}),
			goproxmox.WithDefaultRealm("pam"))
	} else {
		pveOpts = append(pveOpts, goproxmox.WithAPIToken(s.Auth.TokenID, s.Auth.TokenSecret))
	}
	return &APIClient{
		api:       goproxmox.NewClient(base.String(), pveOpts...),
		transport: it,
		idle:      tr,
		settings:  s,
		metrics:   o.metrics,
		login:     login,
	}, nil
}

// Close releases idle connections.
func (c *APIClient) Close() { c.idle.CloseIdleConnections() }

// callMode says when a failed call may be sent again.
type callMode int

const (
	// repeatable calls have the same outcome when sent twice: reads, config updates, and power
	// and destroy requests (a repeat finds the container already in the requested state).
	repeatable callMode = iota
	// createOnce calls are retried only when the failure proves Proxmox did not act: the
	// request never left this process, or Proxmox answered that it is busy or locked. A
	// dropped connection or timeout after sending may have created the container; a blind
	// retry would then fail with "already exists" or, with an allocated VMID, race another
	// creator. The caller adopts the container by its marker instead.
	createOnce
)

// call runs one API operation with per-attempt timeouts and retries.
func (c *APIClient) call(ctx context.Context, name, target string, mode callMode, fn func(context.Context) error) error {
	op := name
	if target != "" {
		op = name + " " + target
	}
	policy := c.settings.Retry
	start := time.Now()
	loginRetried := false
	for attempt := 1; ; attempt++ {
		ex := &exchange{}
		logins := c.transport.logins.Load()
		actx, cancel := context.WithTimeout(withExchange(ctx, ex), c.settings.RequestTimeout)
		err := c.attempt(actx, fn)
		attemptErr := actx.Err()
		cancel()
		perr := c.classify(ctx, op, err, ex, attemptErr)
		if perr == nil {
			return nil
		}
		if perr.Kind == ErrCanceled {
			return perr
		}
		retry := retryableKind(perr.Kind, perr.Err)
		if mode == createOnce && perr.StatusCode >= 200 && perr.StatusCode < 300 {
			// Proxmox accepted the create but its answer was unreadable.
			perr.OutcomeUnknown = true
		}
		if mode == createOnce && retry && !provenUnapplied(perr, ex) {
			perr.OutcomeUnknown = outcomeUnknown(ex)
			return perr
		}
		// go-proxmox refuses a request that raced a concurrent ticket login; the fresh ticket
		// works, so try once more at once.
		pause := true
		if c.login && perr.Kind == ErrAuthentication && !loginRetried && c.transport.logins.Load() != logins {
			loginRetried, retry, pause = true, true, false
		}
		if !retry || attempt >= policy.Attempts {
			return perr
		}
		var d time.Duration
		if pause {
			d = policy.Backoff(attempt)
		}
		if time.Since(start)+d > policy.MaxElapsed {
			return perr
		}
		c.metrics.retried(strings.ReplaceAll(name, " ", "_"), perr.Kind)
		logr.FromContextOrDiscard(ctx).V(1).Info("Retrying Proxmox call",
			"operation", op, "attempt", attempt, "kind", string(perr.Kind), "backoff", d)
		if err := sleep(ctx, d); err != nil {
			return &Error{Kind: ErrCanceled, Op: op, Message: err.Error(), Err: errors.Join(err, perr)}
		}
	}
}

// attempt sends one try of a call, logging in first when a ticket is due.
func (c *APIClient) attempt(ctx context.Context, fn func(context.Context) error) error {
	if !c.login {
		return fn(ctx)
	}
	if err := c.ensureSession(ctx); err != nil {
		// The login failed, so the call itself was never sent.
		if ex := exchangeFrom(ctx); ex != nil {
			ex.mu.Lock()
			ex.wrote = false
			ex.mu.Unlock()
		}
		return err
	}
	c.session.mu.RLock()
	defer c.session.mu.RUnlock()
	return fn(ctx)
}

func (c *APIClient) ensureSession(ctx context.Context) error {
	due := func() bool { return c.session.loginAt.IsZero() || time.Since(c.session.loginAt) > sessionRenewAfter }
	c.session.mu.RLock()
	fresh := !due()
	c.session.mu.RUnlock()
	if fresh {
		return nil
	}
	c.session.mu.Lock()
	defer c.session.mu.Unlock()
	if !due() {
		return nil
	}
	if err := c.api.CreateSession(ctx); err != nil && !errors.Is(err, goproxmox.ErrSessionExists) {
		return err
	}
	c.session.loginAt = time.Now()
	return nil
}

// provenUnapplied reports whether a failed request certainly had no effect on Proxmox.
func provenUnapplied(perr *Error, ex *exchange) bool {
	status, _, _, _, wrote := ex.snapshot()
	switch {
	case status == 0:
		return !wrote
	case status == http.StatusServiceUnavailable, status == http.StatusTooManyRequests:
		return true
	case perr.Kind == ErrLocked:
		// Proxmox checks locks before it writes anything.
		return true
	}
	return false
}

// outcomeUnknown reports whether a failed request may nevertheless have been carried out: it
// was sent and no answer came, or a gateway gave up waiting for Proxmox's answer.
func outcomeUnknown(ex *exchange) bool {
	status, _, _, _, wrote := ex.snapshot()
	return (status == 0 && wrote) || status == http.StatusBadGateway || status == http.StatusGatewayTimeout
}

// classify turns the outcome of one attempt into a classified error, or nil on success.
func (c *APIClient) classify(parent context.Context, op string, err error, ex *exchange, attemptErr error) *Error {
	status, reason, message, params, _ := ex.snapshot()
	if err == nil && status < 400 {
		return nil
	}
	e := &Error{Op: op, StatusCode: status, Err: err}
	if status >= 400 {
		e.Message = message
		if e.Message == "" {
			e.Message = reason
		}
		e.Params = params
		e.Kind = classifyStatus(status, e.Message, params)
		return e
	}
	if perr := parent.Err(); perr != nil {
		return &Error{Kind: ErrCanceled, Op: op, Message: perr.Error(), Err: errors.Join(perr, err)}
	}
	switch {
	case errors.Is(attemptErr, context.DeadlineExceeded):
		e.Kind = ErrUnreachable
		e.Message = fmt.Sprintf("no answer within %s", c.settings.RequestTimeout)
	case isGoProxmoxAuth(err):
		e.Kind = ErrAuthentication
	default:
		if k := classifyTransport(err); k != "" {
			e.Kind = k
			e.Message = transportMessage(err)
		} else {
			e.Kind = ErrInvalidResponse
			e.Message = err.Error()
		}
	}
	return e
}

// get reads path into a fresh T.
func get[T any](ctx context.Context, c *APIClient, name, target, path string) (T, error) {
	var out T
	err := c.call(ctx, name, target, repeatable, func(ctx context.Context) error {
		var v T
		if err := c.api.Get(ctx, path, &v); err != nil {
			return err
		}
		out = v
		return nil
	})
	return out, err
}

func containerPath(node string, vmid int) string {
	return fmt.Sprintf("/nodes/%s/lxc/%d", url.PathEscape(node), vmid)
}

func containerTarget(node string, vmid int) string { return fmt.Sprintf("%s/%d", node, vmid) }

func invalid(op string, err error) error {
	return &Error{Kind: ErrInvalidResponse, Op: op, Message: err.Error(), Err: err}
}

// quietLogger keeps go-proxmox silent; this package reports through errors and metrics.
type quietLogger struct{}

func (quietLogger) Debugf(string, ...interface{}) {}
func (quietLogger) Errorf(string, ...interface{}) {}
func (quietLogger) Infof(string, ...interface{})  {}
func (quietLogger) Warnf(string, ...interface{})  {}
