package ssh

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/pkg/sftp"
	gossh "golang.org/x/crypto/ssh"
)

// MaxOutputSize caps what Exec keeps of each of stdout and stderr.
const MaxOutputSize = 4 << 20

// Client is a real SSH connection to a container; it implements Session.
type Client struct {
	conn    *gossh.Client
	address string
	hostKey string
	dialer  *Dialer

	mu   sync.Mutex
	sftp *sftp.Client
	// gone is closed when the connection ended, from either side.
	gone chan struct{}
}

func newClient(conn *gossh.Client, address, hostKey string, d *Dialer) *Client {
	c := &Client{conn: conn, address: address, hostKey: hostKey, dialer: d, gone: make(chan struct{})}
	go func() {
		_ = conn.Wait()
		close(c.gone)
	}()
	return c
}

// Alive says whether the connection is still up: a guest that rebooted or dropped it is not.
func (c *Client) Alive() bool {
	select {
	case <-c.gone:
		return false
	default:
		return true
	}
}

var _ Session = (*Client)(nil)

// HostKey is the fingerprint of the host key the container presented.
func (c *Client) HostKey() string { return c.hostKey }

// Address is the host:port the client is connected to.
func (c *Client) Address() string { return c.address }

// Close ends the connection and everything running over it.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.sftp != nil {
		_ = c.sftp.Close()
		c.sftp = nil
	}
	c.mu.Unlock()
	return c.conn.Close()
}

// Exec runs cmd and collects its output.
func (c *Client) Exec(ctx context.Context, cmd Command) (Result, error) {
	stdout := &cappedBuffer{limit: MaxOutputSize}
	stderr := &cappedBuffer{limit: MaxOutputSize}
	res, err := c.run(ctx, cmd, stdout, stderr)
	res.Stdout, res.Stderr = stdout.buf, stderr.buf
	res.Truncated = stdout.truncated || stderr.truncated
	return res, err
}

// ExecStream runs cmd and calls onLine for every line of its output, one call at a time, in the
// order each stream produced them. Lines longer than MaxLineSize are split.
func (c *Client) ExecStream(ctx context.Context, cmd Command, onLine func(Line)) (Result, error) {
	var mu sync.Mutex
	emit := func(l Line) {
		mu.Lock()
		defer mu.Unlock()
		onLine(l)
	}
	stdout := &lineWriter{stream: Stdout, emit: emit}
	stderr := &lineWriter{stream: Stderr, emit: emit}
	res, err := c.run(ctx, cmd, stdout, stderr)
	stdout.Flush()
	stderr.Flush()
	return res, err
}

func (c *Client) run(ctx context.Context, cmd Command, stdout, stderr io.Writer) (res Result, err error) {
	start := time.Now()
	defer func() {
		res.Duration = time.Since(start)
		c.dialer.observe(OpExec, start, err)
	}()
	timeout := cmd.Timeout
	if timeout <= 0 {
		timeout = c.dialer.operationTimeout()
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	name := commandName(cmd.Line)
	sess, err := c.conn.NewSession()
	if err != nil {
		return res, fmt.Errorf("exec %s: open session: %w", name, err)
	}
	defer sess.Close()
	// The gates let run return while the session still delivers output (see the timeout below).
	outGate, errGate := &gate{w: stdout}, &gate{w: stderr}
	defer outGate.close()
	defer errGate.close()
	sess.Stdout, sess.Stderr = outGate, errGate
	if cmd.Stdin != nil {
		sess.Stdin = cmd.Stdin
	}
	if err := sess.Start(cmd.Line); err != nil {
		return res, fmt.Errorf("exec %s: %w", name, err)
	}
	done := make(chan error, 1)
	go func() { done <- sess.Wait() }()

	select {
	case err = <-done:
	case <-ctx.Done():
		// Ask sshd to kill the command and drop the channel. sshd signals only the shell, and
		// keeps the channel until the shell's children let go of its output, so do not wait
		// for that: long work belongs in a detached run, which has a timeout of its own.
		_ = sess.Signal(gossh.SIGKILL)
		_ = sess.Close()
		select {
		case <-done:
		case <-time.After(time.Second):
		}
		return res, fmt.Errorf("exec %s: %w", name, ctx.Err())
	}

	var exit *gossh.ExitError
	switch {
	case err == nil:
		return res, nil
	case errors.As(err, &exit):
		res.ExitCode = exit.ExitStatus()
		res.Signal = exit.Signal()
		return res, nil
	default:
		return res, fmt.Errorf("exec %s: %w", name, err)
	}
}

// commandName is the first word of a command line, the part of it that error messages show.
func commandName(line string) string {
	fields := strings.Fields(line)
	if len(fields) == 0 {
		return `""`
	}
	return fmt.Sprintf("%q", fields[0])
}

// gate passes writes on until it is closed, and drops them after.
type gate struct {
	mu     sync.Mutex
	w      io.Writer
	closed bool
}

func (g *gate) Write(p []byte) (int, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return len(p), nil
	}
	return g.w.Write(p)
}

func (g *gate) close() {
	g.mu.Lock()
	g.closed = true
	g.mu.Unlock()
}

// cappedBuffer keeps the first limit bytes written to it and notes whether more came.
type cappedBuffer struct {
	buf       []byte
	limit     int
	truncated bool
}

func (b *cappedBuffer) Write(p []byte) (int, error) {
	room := b.limit - len(b.buf)
	if room < len(p) {
		b.truncated = true
		if room > 0 {
			b.buf = append(b.buf, p[:room]...)
		}
		return len(p), nil
	}
	b.buf = append(b.buf, p...)
	return len(p), nil
}
