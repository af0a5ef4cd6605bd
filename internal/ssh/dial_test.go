package ssh

import (
	"context"
	"errors"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
)

// retryLog counts the dial retries Dial logs.
type retryLog struct {
	mu      sync.Mutex
	retries []string
}

func (r *retryLog) context(ctx context.Context) context.Context {
	log := funcr.New(func(prefix, args string) {
		if strings.Contains(args, "Retrying SSH dial") {
			r.mu.Lock()
			r.retries = append(r.retries, args)
			r.mu.Unlock()
		}
	}, funcr.Options{Verbosity: 1})
	return logr.NewContext(ctx, log)
}

func (r *retryLog) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.retries)
}

func TestDialRetriesWhileSSHDStarts(t *testing.T) {
	s := newTestSSHD(t)
	var retries retryLog
	d := &Dialer{Retry: Backoff{Attempts: 8, Initial: 200 * time.Millisecond, Factor: 2}}
	go func() {
		time.Sleep(700 * time.Millisecond)
		s.Start()
	}()
	start := time.Now()
	c, err := d.Dial(retries.context(testContext(t)), s.Target())
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer c.Close()
	// Refused at 0, 0.2 and 0.6 s; sshd listens from about 0.7 s.
	if n := retries.count(); n < 2 {
		t.Errorf("dial retried %d times, want at least 2 (sshd started after 0.7s)", n)
	}
	if took := time.Since(start); took < 700*time.Millisecond {
		t.Errorf("dial succeeded after %v, before sshd started", took)
	}
	if c.HostKey() != Fingerprint(s.hostKey.PublicKey()) {
		t.Errorf("HostKey = %q, want %q", c.HostKey(), Fingerprint(s.hostKey.PublicKey()))
	}
}

func TestDialGivesUpAfterConfiguredAttempts(t *testing.T) {
	s := newTestSSHD(t) // never started: the port refuses connections
	var retries retryLog
	d := &Dialer{Retry: Backoff{Attempts: 3, Initial: 50 * time.Millisecond, Factor: 2}}
	start := time.Now()
	_, err := d.Dial(retries.context(testContext(t)), s.Target())
	var dialErr *DialError
	if !errors.As(err, &dialErr) {
		t.Fatalf("err = %v, want *DialError", err)
	}
	if dialErr.Attempts != 3 || retries.count() != 2 {
		t.Errorf("attempts = %d, retries logged = %d; want 3 and 2", dialErr.Attempts, retries.count())
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("last cause %v is not ECONNREFUSED", err)
	}
	if !strings.Contains(err.Error(), "gave up after 3 attempt(s)") || !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("message %q does not give attempts and cause", err)
	}
	if took := time.Since(start); took < 150*time.Millisecond {
		t.Errorf("gave up after %v, before waiting 50ms+100ms", took)
	}
}

func TestDialStopsWithContext(t *testing.T) {
	s := newTestSSHD(t)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := (&Dialer{}).Dial(ctx, s.Target()) // default schedule: first wait 2 s
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want context.DeadlineExceeded", err)
	}
	if !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("message %q does not keep the last cause", err)
	}
	if took := time.Since(start); took > 1500*time.Millisecond {
		t.Errorf("dial returned %v after the context ended (its next attempt was due at 2 s)", took-300*time.Millisecond)
	}
}

func TestDialDoesNotRetryAuthenticationFailure(t *testing.T) {
	s := newTestSSHD(t)
	s.Start()
	wrong, _ := newSigner(t)
	target := s.Target()
	target.Signer = wrong
	var retries retryLog
	start := time.Now()
	_, err := (&Dialer{Retry: Backoff{Attempts: 5, Initial: 5 * time.Second}}).Dial(retries.context(testContext(t)), target)
	if !errors.Is(err, ErrAuthentication) {
		t.Fatalf("err = %v, want ErrAuthentication", err)
	}
	var dialErr *DialError
	if !errors.As(err, &dialErr) || dialErr.Attempts != 1 || retries.count() != 0 {
		t.Errorf("authentication failure was retried: %v, %d retries", err, retries.count())
	}
	if took := time.Since(start); took > 4*time.Second {
		t.Errorf("took %v; a permanent failure must not wait", took)
	}
}

func TestDialPinsHostKey(t *testing.T) {
	s := newTestSSHD(t)
	s.Start()
	ctx := testContext(t)
	d := fastDialer()

	first, err := d.Dial(ctx, s.Target())
	if err != nil {
		t.Fatal(err)
	}
	pinned := first.HostKey()
	first.Close()
	if pinned != Fingerprint(s.hostKey.PublicKey()) {
		t.Fatalf("first contact recorded %q, sshd's key is %q", pinned, Fingerprint(s.hostKey.PublicKey()))
	}

	target := s.Target()
	target.HostKey = pinned
	again, err := d.Dial(ctx, target)
	if err != nil {
		t.Fatalf("dial with the pinned key: %v", err)
	}
	again.Close()

	oldKey := s.hostKey
	s.NewHostKey()
	s.Restart()
	var retries retryLog
	_, err = d.Dial(retries.context(ctx), target)
	var mismatch *HostKeyMismatchError
	if !errors.As(err, &mismatch) || !errors.Is(err, ErrHostKeyMismatch) {
		t.Fatalf("err = %v, want a host key mismatch", err)
	}
	if mismatch.Expected != Fingerprint(oldKey.PublicKey()) || mismatch.Seen != Fingerprint(s.hostKey.PublicKey()) {
		t.Errorf("mismatch names expected %s and seen %s", mismatch.Expected, mismatch.Seen)
	}
	if retries.count() != 0 {
		t.Errorf("host key mismatch retried %d times", retries.count())
	}
	if !strings.Contains(err.Error(), mismatch.Expected) || !strings.Contains(err.Error(), mismatch.Seen) {
		t.Errorf("message %q does not name both fingerprints", err)
	}
}

func TestDialRejectsMalformedPin(t *testing.T) {
	s := newTestSSHD(t)
	target := s.Target()
	target.HostKey = "MD5:aa:bb"
	_, err := fastDialer().Dial(testContext(t), target)
	if err == nil || !strings.Contains(err.Error(), "SHA256") {
		t.Fatalf("err = %v, want a fingerprint format error", err)
	}
}

func TestDialObserved(t *testing.T) {
	s := newTestSSHD(t)
	s.Start()
	var mu sync.Mutex
	ops := map[string]int{}
	d := fastDialer()
	d.Observe = func(op string, _ time.Duration, err error) {
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			op += ":error"
		}
		ops[op]++
	}
	c, err := d.Dial(testContext(t), s.Target())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Exec(testContext(t), Command{Line: "exit 3"}); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if ops[OpDial] != 1 || ops[OpExec] != 1 || len(ops) != 2 {
		t.Fatalf("observed %v, want one dial and one successful exec", ops)
	}
}
