package ssh

import (
	"context"
	"crypto/ed25519"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"
)

// slowConnector answers Connect after its gate opens, as a guest that is still booting does.
type slowConnector struct {
	gate  chan struct{}
	dials atomic.Int32
	err   error
}

func (c *slowConnector) Connect(ctx context.Context, target Target) (Session, error) {
	c.dials.Add(1)
	<-c.gate
	if c.err != nil {
		return nil, c.err
	}
	return &stubSession{hostKey: "SHA256:guest"}, nil
}

type stubSession struct {
	Session
	hostKey string
	closed  atomic.Bool
	failing error
}

func (s *stubSession) HostKey() string { return s.hostKey }
func (s *stubSession) Close() error    { s.closed.Store(true); return nil }
func (s *stubSession) Exec(context.Context, Command) (Result, error) {
	return Result{}, s.failing
}

func testSigner(t *testing.T) gossh.Signer {
	_, key, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	s, err := gossh.NewSignerFromKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestPoolDialsInTheBackground: Get never waits for a dial; the dial's end is announced, and
// the connection is then reused by every later Get for the same target.
func TestPoolDialsInTheBackground(t *testing.T) {
	conn := &slowConnector{gate: make(chan struct{})}
	var mu sync.Mutex
	var ready []string
	p := &Pool{Connector: conn, OnReady: func(key string) { mu.Lock(); ready = append(ready, key); mu.Unlock() }}
	target := Target{Address: "169.254.1.2", Signer: testSigner(t)}

	start := time.Now()
	if _, err := p.Get("ns/ct", target); !errors.Is(err, ErrConnecting) {
		t.Fatalf("first Get: %v, want ErrConnecting", err)
	}
	if _, err := p.Get("ns/ct", target); !errors.Is(err, ErrConnecting) {
		t.Fatalf("second Get while dialling: %v, want ErrConnecting", err)
	}
	if time.Since(start) > time.Second {
		t.Fatalf("Get waited %s for a dial", time.Since(start))
	}
	close(conn.gate)
	deadline := time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		n := len(ready)
		mu.Unlock()
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the dial's end was not announced")
		}
		time.Sleep(5 * time.Millisecond)
	}
	for range 3 {
		sess, err := p.Get("ns/ct", target)
		if err != nil {
			t.Fatalf("Get after the dial: %v", err)
		}
		_ = sess.Close() // gives it back, does not close it
	}
	pinned := target
	pinned.HostKey = "SHA256:guest"
	if _, err := p.Get("ns/ct", pinned); err != nil {
		t.Fatalf("Get with the pin the connection saw: %v", err)
	}
	if n := conn.dials.Load(); n != 1 {
		t.Errorf("%d dials, want 1", n)
	}
}

// TestPoolDialsAgain: a changed address, a failed operation and a failed dial each lead to a
// fresh dial; a failed dial's error is returned once.
func TestPoolDialsAgain(t *testing.T) {
	conn := &slowConnector{gate: make(chan struct{})}
	close(conn.gate)
	p := &Pool{Connector: conn}
	target := Target{Address: "169.254.1.2", Signer: testSigner(t)}
	get := func(tg Target) (Session, error) {
		t.Helper()
		for range 500 {
			sess, err := p.Get("ns/ct", tg)
			if !errors.Is(err, ErrConnecting) {
				return sess, err
			}
			time.Sleep(2 * time.Millisecond)
		}
		t.Fatal("the dial did not end")
		return nil, nil
	}
	sess, err := get(target)
	if err != nil {
		t.Fatal(err)
	}
	moved := target
	moved.Address = "169.254.1.3"
	if _, err := get(moved); err != nil {
		t.Fatal(err)
	}
	if n := conn.dials.Load(); n != 2 {
		t.Fatalf("%d dials after the address changed, want 2", n)
	}
	inner := sess.(*pooledSession).Session.(*stubSession)
	if !waitFor(inner.closed.Load) {
		t.Error("the connection to the old address was not closed")
	}

	sess, _ = get(moved)
	sess.(*pooledSession).Session.(*stubSession).failing = errors.New("connection reset")
	if _, err := sess.Exec(context.Background(), Command{Line: "true"}); err == nil {
		t.Fatal("Exec did not fail")
	}
	if _, err := get(moved); err != nil {
		t.Fatal(err)
	}
	if n := conn.dials.Load(); n != 3 {
		t.Fatalf("%d dials after an operation failed, want 3", n)
	}

	p.Drop("ns/ct")
	conn.err = errors.New("connection refused")
	if _, err := get(moved); err == nil || errors.Is(err, ErrConnecting) {
		t.Fatalf("a failed dial returned %v", err)
	}
	if _, err := p.Get("ns/ct", moved); !errors.Is(err, ErrConnecting) {
		t.Fatalf("the Get after a failed dial: %v, want a new dial", err)
	}
}

// TestPoolClosesIdleConnections: a connection nobody used for Idle is closed.
func TestPoolClosesIdleConnections(t *testing.T) {
	conn := &slowConnector{gate: make(chan struct{})}
	close(conn.gate)
	p := &Pool{Connector: conn, Idle: 40 * time.Millisecond}
	target := Target{Address: "169.254.1.2", Signer: testSigner(t)}
	var sess Session
	for sess == nil {
		sess, _ = p.Get("ns/a", target)
		time.Sleep(time.Millisecond)
	}
	time.Sleep(60 * time.Millisecond)
	_, _ = p.Get("ns/b", target) // any Get sweeps
	inner := sess.(*pooledSession).Session.(*stubSession)
	if !waitFor(inner.closed.Load) {
		t.Error("an idle connection stayed open")
	}
}

func waitFor(cond func() bool) bool {
	for range 500 {
		if cond() {
			return true
		}
		time.Sleep(2 * time.Millisecond)
	}
	return false
}

// TestPoolVerifiesEachNewConnection: Target.Verify runs once per new connection, before the
// connection is handed out; a refusal closes it and is the dial's error, returned once.
func TestPoolVerifiesEachNewConnection(t *testing.T) {
	conn := &slowConnector{gate: make(chan struct{})}
	close(conn.gate)
	p := &Pool{Connector: conn}
	var verified atomic.Int32
	var refuse atomic.Bool
	refusal := errors.New("another machine answers at the address")
	var seen []*stubSession
	var mu sync.Mutex
	target := Target{Address: "169.254.1.2", Signer: testSigner(t), Verify: func(_ context.Context, s Session) error {
		verified.Add(1)
		mu.Lock()
		seen = append(seen, s.(*stubSession))
		mu.Unlock()
		if refuse.Load() {
			return refusal
		}
		return nil
	}}
	get := func() (Session, error) {
		t.Helper()
		for range 500 {
			sess, err := p.Get("ns/ct", target)
			if !errors.Is(err, ErrConnecting) {
				return sess, err
			}
			time.Sleep(2 * time.Millisecond)
		}
		t.Fatal("the dial did not end")
		return nil, nil
	}
	for range 3 {
		if _, err := get(); err != nil {
			t.Fatal(err)
		}
	}
	if n := verified.Load(); n != 1 {
		t.Fatalf("Verify ran %d times for one connection, want 1", n)
	}
	p.Drop("ns/ct")
	refuse.Store(true)
	if _, err := get(); !errors.Is(err, refusal) {
		t.Fatalf("a refused connection: got %v, want the refusal", err)
	}
	mu.Lock()
	refused := seen[len(seen)-1]
	mu.Unlock()
	if !waitFor(refused.closed.Load) {
		t.Error("the refused connection was not closed")
	}
	if n := verified.Load(); n != 2 {
		t.Errorf("Verify ran %d times, want 2", n)
	}
	if _, err := p.Get("ns/ct", target); !errors.Is(err, ErrConnecting) {
		t.Fatalf("the Get after a refusal: %v, want a new dial", err)
	}
}

// TestPoolKeepsAConnectionAcrossAKeyRotation: a connection made offering the old key first and
// the new one as fallback serves a target that offers the new key first and the old one as
// fallback; once the old key is no longer offered, it serves on until a connection made with the
// new key alone replaces it.
func TestPoolKeepsAConnectionAcrossAKeyRotation(t *testing.T) {
	conn := &slowConnector{gate: make(chan struct{})}
	close(conn.gate)
	p := &Pool{Connector: conn}
	oldKey, newKey := testSigner(t), testSigner(t)
	get := func(tg Target) error {
		t.Helper()
		for range 500 {
			_, err := p.Get("ns/ct", tg)
			if !errors.Is(err, ErrConnecting) {
				return err
			}
			time.Sleep(2 * time.Millisecond)
		}
		t.Fatal("the dial did not end")
		return nil
	}
	during := Target{Address: "169.254.1.2", Signer: oldKey, Fallback: []gossh.Signer{newKey}}
	if err := get(during); err != nil {
		t.Fatal(err)
	}
	after := Target{Address: "169.254.1.2", Signer: newKey, Fallback: []gossh.Signer{oldKey}}
	if err := get(after); err != nil {
		t.Fatal(err)
	}
	if n := conn.dials.Load(); n != 1 {
		t.Errorf("%d dials once the new key is first, want 1", n)
	}
	made, err := p.Get("ns/ct", after)
	if err != nil {
		t.Fatal(err)
	}
	old := made.(*pooledSession).Session.(*stubSession)

	// Once the old key is retired, the open connection serves on at once while one made with
	// the new key alone is opened; that one takes its place at a later Get, and the old closes.
	retired := Target{Address: "169.254.1.2", Signer: newKey}
	sess, err := p.Get("ns/ct", retired)
	if err != nil {
		t.Fatalf("the open connection was not served once the old key was retired: %v", err)
	}
	if sess.(*pooledSession).Session != Session(old) {
		t.Fatal("a caller got another connection than the open one before the new one was made")
	}
	var replaced Session
	for range 500 {
		sess, err := p.Get("ns/ct", retired)
		if err != nil {
			t.Fatalf("a Get while the new connection was made: %v", err)
		}
		if replaced = sess.(*pooledSession).Session; replaced != Session(old) {
			break
		}
		time.Sleep(2 * time.Millisecond)
	}
	if replaced == Session(old) {
		t.Fatal("the connection made with the retired key was never replaced")
	}
	if n := conn.dials.Load(); n != 2 {
		t.Errorf("%d dials once the old key is no longer offered, want 2", n)
	}
	time.Sleep(10 * time.Millisecond) // the close runs in the background
	if !old.closed.Load() {
		t.Error("the replaced connection is still open")
	}
}

// TestPoolReportsAFailedReplacement: when the connection with the keys now offered cannot be
// made (the new key is refused), the next Get says so and the old connection is closed.
func TestPoolReportsAFailedReplacement(t *testing.T) {
	conn := &slowConnector{gate: make(chan struct{})}
	close(conn.gate)
	p := &Pool{Connector: conn}
	oldKey, newKey := testSigner(t), testSigner(t)
	tg := Target{Address: "169.254.1.2", Signer: oldKey}
	var first Session
	for range 500 {
		if s, err := p.Get("ns/ct", tg); err == nil {
			first = s.(*pooledSession).Session
			break
		}
		time.Sleep(2 * time.Millisecond)
	}
	if first == nil {
		t.Fatal("the first dial did not end")
	}
	refused := errors.New("ssh: unable to authenticate")
	conn.err = refused
	tg = Target{Address: "169.254.1.2", Signer: newKey}
	var err error
	for range 500 {
		if _, err = p.Get("ns/ct", tg); err != nil {
			break
		}
		time.Sleep(2 * time.Millisecond)
	}
	if !errors.Is(err, refused) {
		t.Fatalf("Get after a failed replacement: %v, want the dial's error", err)
	}
	time.Sleep(10 * time.Millisecond)
	if !first.(*stubSession).closed.Load() {
		t.Error("the connection made with the retired key is still open")
	}
}
