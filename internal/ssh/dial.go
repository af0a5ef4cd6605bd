package ssh

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/go-logr/logr"
	gossh "golang.org/x/crypto/ssh"
)

// Operation names passed to Dialer.Observe.
const (
	OpDial       = "dial"
	OpExec       = "exec"
	OpUpload     = "upload"
	OpReadFile   = "read_file"
	OpStartRun   = "start_run"
	OpInspectRun = "inspect_run"
	OpRemoveRun  = "remove_run"
)

// Defaults of Dialer's zero fields.
const (
	DefaultConnectTimeout   = 10 * time.Second
	DefaultOperationTimeout = 2 * time.Minute
)

// ErrAuthentication is matched by errors.Is when the container refused the controller's key.
// It is permanent: Dial does not retry it.
var ErrAuthentication = errors.New("ssh authentication failed")

// DialError is what Dial returns when it gives up: how many attempts it made and the last cause.
type DialError struct {
	Address  string
	Attempts int
	Err      error
}

func (e *DialError) Error() string {
	if e.Attempts == 0 {
		return fmt.Sprintf("ssh dial %s: %v", e.Address, e.Err)
	}
	return fmt.Sprintf("ssh dial %s: gave up after %d attempt(s): %v", e.Address, e.Attempts, e.Err)
}

func (e *DialError) Unwrap() error { return e.Err }

// Dialer opens real SSH connections. The zero value is ready to use with the defaults.
type Dialer struct {
	// Retry is the dial schedule; zero fields take DefaultBackoff's.
	Retry Backoff
	// ConnectTimeout bounds one attempt: TCP connect plus SSH handshake.
	ConnectTimeout time.Duration
	// OperationTimeout bounds an Exec without its own Timeout and every file operation when the
	// context has no earlier deadline.
	OperationTimeout time.Duration
	// Observe, when set, is called after every operation, e.g. to feed metrics. A non-zero exit
	// code is not an error.
	Observe func(op string, d time.Duration, err error)
	// DialContext, when set, opens the TCP connection of each attempt in place of a net.Dialer,
	// with the address of the Target (host:port). Load tests set it to reach the guest
	// stand-ins of pvesim's fake backend (fake.GuestDialer), which listen on loopback
	// addresses of their own; everything after the TCP connect stays the production code.
	DialContext func(ctx context.Context, network, address string) (net.Conn, error)
}

var _ Connector = (*Dialer)(nil)

// Connect is Dial behind the Connector interface.
func (d *Dialer) Connect(ctx context.Context, target Target) (Session, error) {
	c, err := d.Dial(ctx, target)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// Dial connects to target, retrying refused connections, timeouts and dropped handshakes with
// backoff while the container boots. Authentication failures and host key mismatches end it
// at once. The returned error is a *DialError.
func (d *Dialer) Dial(ctx context.Context, target Target) (*Client, error) {
	start := time.Now()
	c, err := d.dial(ctx, target)
	d.observe(OpDial, start, err)
	return c, err
}

func (d *Dialer) dial(ctx context.Context, target Target) (*Client, error) {
	address := target.Address
	if _, _, err := net.SplitHostPort(address); err != nil {
		address = net.JoinHostPort(address, "22")
	}
	if target.Signer == nil {
		return nil, &DialError{Address: address, Err: errors.New("no signer given")}
	}
	if target.HostKey != "" {
		if err := ValidateFingerprint(target.HostKey); err != nil {
			return nil, &DialError{Address: address, Err: err}
		}
	}
	user := target.User
	if user == "" {
		user = "root"
	}
	retry := d.Retry.withDefaults()
	log := logr.FromContextOrDiscard(ctx)

	var last error
	for attempt := 1; ; attempt++ {
		pin := &hostKeyPin{expected: target.HostKey}
		config := &gossh.ClientConfig{
			User:              user,
			Auth:              []gossh.AuthMethod{gossh.PublicKeys(append([]gossh.Signer{target.Signer}, target.Fallback...)...)},
			HostKeyCallback:   pin.check,
			HostKeyAlgorithms: hostKeyAlgorithms,
		}
		conn, err := d.dialOnce(ctx, address, config)
		if err == nil {
			return newClient(conn, address, pin.seen, d), nil
		}
		last = classify(err, pin)
		if ctx.Err() != nil {
			return nil, &DialError{Address: address, Attempts: attempt, Err: fmt.Errorf("%w (last error: %v)", ctx.Err(), last)}
		}
		if permanent(last) || attempt >= retry.Attempts {
			return nil, &DialError{Address: address, Attempts: attempt, Err: last}
		}
		wait := retry.jittered(attempt)
		log.V(1).Info("Retrying SSH dial", "address", address, "attempt", attempt, "wait", wait, "error", last.Error())
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil, &DialError{Address: address, Attempts: attempt, Err: fmt.Errorf("%w (last error: %v)", ctx.Err(), last)}
		case <-timer.C:
		}
	}
}

// dialOnce is one attempt: TCP connect and SSH handshake within ConnectTimeout.
func (d *Dialer) dialOnce(ctx context.Context, address string, config *gossh.ClientConfig) (*gossh.Client, error) {
	timeout := d.ConnectTimeout
	if timeout <= 0 {
		timeout = DefaultConnectTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	dial := d.DialContext
	if dial == nil {
		var nd net.Dialer
		dial = nd.DialContext
	}
	tcp, err := dial(ctx, "tcp", address)
	if err != nil {
		return nil, err
	}
	deadline, _ := ctx.Deadline()
	_ = tcp.SetDeadline(deadline)
	// The handshake does not take a context; closing the socket ends it.
	stop := context.AfterFunc(ctx, func() { _ = tcp.Close() })
	conn, chans, reqs, err := gossh.NewClientConn(tcp, address, config)
	interrupted := !stop()
	if err != nil {
		if ctx.Err() != nil {
			// The handshake ran out of time or was cancelled; say so rather than "closed connection".
			return nil, fmt.Errorf("ssh handshake: %w (%v)", ctx.Err(), err)
		}
		return nil, err
	}
	if interrupted {
		_ = conn.Close()
		return nil, fmt.Errorf("ssh handshake: %w", ctx.Err())
	}
	_ = tcp.SetDeadline(time.Time{})
	return gossh.NewClient(conn, chans, reqs), nil
}

// classify turns what the SSH library reports into this package's typed errors.
func classify(err error, pin *hostKeyPin) error {
	if pin.mismatch != nil {
		return pin.mismatch
	}
	msg := err.Error()
	if strings.Contains(msg, "unable to authenticate") || strings.Contains(msg, "no supported methods remain") {
		return fmt.Errorf("%w: %v", ErrAuthentication, err)
	}
	return err
}

// permanent says whether retrying cannot help.
func permanent(err error) bool {
	var negotiation *gossh.AlgorithmNegotiationError
	return errors.Is(err, ErrHostKeyMismatch) || errors.Is(err, ErrAuthentication) || errors.As(err, &negotiation)
}

func (d *Dialer) observe(op string, start time.Time, err error) {
	if d.Observe != nil {
		d.Observe(op, time.Since(start), err)
	}
}

func (d *Dialer) operationTimeout() time.Duration {
	if d.OperationTimeout > 0 {
		return d.OperationTimeout
	}
	return DefaultOperationTimeout
}
