package ssh

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	gossh "golang.org/x/crypto/ssh"
)

// Pool keeps one connection per container, opened in the background and reused across phases
// and reconciles, so that no caller waits for a guest that is still booting: Get starts a dial
// and returns at once, and OnReady says when the dial has ended. Each new connection is held to
// its Target's Verify before it is handed out. A connection unused for Idle is closed.
type Pool struct {
	Connector Connector
	// Idle closes a connection unused for this long; zero means DefaultPoolIdle.
	Idle time.Duration
	// OnReady, when set, is called with a key whose dial ended, successfully or not, so the
	// caller can look again at once instead of at its next poll.
	OnReady func(key string)

	mu        sync.Mutex
	conns     map[string]*poolEntry
	lastSweep time.Time
}

// DefaultPoolIdle is how long an unused connection stays open.
const DefaultPoolIdle = 5 * time.Minute

// ConnectingError says a connection is being opened; ask again later.
type ConnectingError struct {
	Address string
	Since   time.Time
}

func (e *ConnectingError) Error() string {
	// The start, not the time spent, so that the message stays the same while the dial lasts.
	return fmt.Sprintf("connecting to %s over SSH since %s", e.Address, e.Since.UTC().Format(time.RFC3339))
}

// ErrConnecting matches every *ConnectingError with errors.Is.
var ErrConnecting = errors.New("connecting")

func (e *ConnectingError) Is(target error) bool { return target == ErrConnecting }

type poolEntry struct {
	target  Target
	sess    Session
	err     error
	dialing bool
	since   time.Time
	lastUse time.Time
	// next is the connection being made to take this one's place: the guest is the same, but
	// a key this one was made with is no longer offered.
	next *poolEntry
}

// Get returns the open connection for key when it still serves target, or starts opening one
// and returns a *ConnectingError. A dial that failed returns its error once; the next Get dials
// again. The returned Session's Close gives it back to the pool's care rather than closing it.
func (p *Pool) Get(key string, target Target) (Session, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	p.sweep(now)
	if p.conns == nil {
		p.conns = map[string]*poolEntry{}
	}
	e := p.conns[key]
	if e != nil && e.next != nil && !e.next.dialing && sameTarget(e.next.target, target) {
		// The replacement is made (or failed): it takes the old connection's place now, between
		// a caller's uses, never under one.
		n := e.next
		e.next = nil
		if e.sess != nil {
			go e.sess.Close()
		}
		p.conns[key], e = n, n
	}
	switch {
	case e != nil && e.dialing && sameTarget(e.target, target):
		return nil, &ConnectingError{Address: target.Address, Since: e.since}
	case e != nil && e.err != nil && sameTarget(e.target, target):
		delete(p.conns, key)
		return nil, e.err
	case e != nil && e.sess != nil && sameTarget(e.target, target) && alive(e.sess) &&
		(target.HostKey == "" || e.sess.HostKey() == target.HostKey):
		e.lastUse = now
		return &pooledSession{Session: e.sess, pool: p, key: key, entry: e}, nil
	case e != nil && e.sess != nil && sameGuest(e.target, target) && alive(e.sess) &&
		(target.HostKey == "" || e.sess.HostKey() == target.HostKey):
		// Only the keys changed (one was retired): the connection still reaches this guest, so
		// it serves on while one made with the keys now offered is opened. A key rotation
		// never makes a caller wait for a dial.
		if e.next == nil || !sameTarget(e.next.target, target) {
			e.next = &poolEntry{target: target, dialing: true, since: now, lastUse: now}
			go p.dial(key, e.next)
		}
		e.lastUse = now
		return &pooledSession{Session: e.sess, pool: p, key: key, entry: e}, nil
	case e != nil && e.sess != nil:
		// The address or the pinned host key changed: this connection is not to it.
		go e.sess.Close()
	}
	e = &poolEntry{target: target, dialing: true, since: now, lastUse: now}
	p.conns[key] = e
	go p.dial(key, e)
	return nil, &ConnectingError{Address: target.Address, Since: now}
}

// verifyTimeout bounds Target.Verify.
const verifyTimeout = time.Minute

func (p *Pool) dial(key string, e *poolEntry) {
	sess, err := p.Connector.Connect(context.Background(), e.target)
	if err == nil && e.target.Verify != nil {
		ctx, cancel := context.WithTimeout(context.Background(), verifyTimeout)
		if err = e.target.Verify(ctx, sess); err != nil {
			go sess.Close()
			sess = nil
		}
		cancel()
	}
	p.mu.Lock()
	e.dialing = false
	e.sess, e.err = sess, err
	if cur := p.conns[key]; cur != e && (cur == nil || cur.next != e) && sess != nil {
		// Dropped or replaced while dialling.
		go sess.Close()
	}
	p.mu.Unlock()
	if p.OnReady != nil {
		p.OnReady(key)
	}
}

// Drop closes key's connection: its container is gone, or something was wrong with it.
func (p *Pool) Drop(key string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.drop(key, nil)
}

// drop removes key's entry, only when it is still e (when e is set).
func (p *Pool) drop(key string, e *poolEntry) {
	cur := p.conns[key]
	if cur == nil || (e != nil && cur != e) {
		return
	}
	delete(p.conns, key)
	if cur.sess != nil {
		go cur.sess.Close()
	}
	if n := cur.next; n != nil && n.sess != nil {
		go n.sess.Close()
	}
}

// sweep closes connections idle for longer than Idle, at most four times per Idle.
func (p *Pool) sweep(now time.Time) {
	idle := p.Idle
	if idle <= 0 {
		idle = DefaultPoolIdle
	}
	if now.Sub(p.lastSweep) < idle/4 {
		return
	}
	p.lastSweep = now
	for key, e := range p.conns {
		if !e.dialing && now.Sub(e.lastUse) > idle {
			p.drop(key, e)
		}
	}
}

// alive says whether a session is still connected, when it can tell.
func alive(s Session) bool {
	a, ok := s.(interface{ Alive() bool })
	return !ok || a.Alive()
}

// sameTarget says whether a connection made for a serves b: the same address and user, and every
// key a offered is one b offers too, so the connection is authenticated with a key still trusted.
// The order may differ: a rotation that makes b's fallback its first key keeps the connection.
// The pinned host key is compared with what the connection saw, by the caller.
func sameTarget(a, b Target) bool {
	if !sameGuest(a, b) {
		return false
	}
	if a.Signer == nil {
		return true
	}
	offered := map[string]bool{}
	for _, s := range append([]gossh.Signer{b.Signer}, b.Fallback...) {
		offered[string(s.PublicKey().Marshal())] = true
	}
	for _, s := range append([]gossh.Signer{a.Signer}, a.Fallback...) {
		if !offered[string(s.PublicKey().Marshal())] {
			return false
		}
	}
	return true
}

// sameGuest says whether a connection made for a reaches the guest b names, whichever keys each
// offers: the same address and user, and the host key a was held to, if any, is b's.
func sameGuest(a, b Target) bool {
	return a.Address == b.Address && a.User == b.User && (a.Signer == nil) == (b.Signer == nil) &&
		(a.HostKey == "" || a.HostKey == b.HostKey)
}

// pooledSession is a Session of the pool: an operation that fails on the transport drops the
// connection, so the next Get dials afresh; Close leaves it open for the next caller.
type pooledSession struct {
	Session
	pool  *Pool
	key   string
	entry *poolEntry
}

func (s *pooledSession) failed(err error) error {
	if err != nil {
		s.pool.mu.Lock()
		s.pool.drop(s.key, s.entry)
		s.pool.mu.Unlock()
	}
	return err
}

func (s *pooledSession) Exec(ctx context.Context, cmd Command) (Result, error) {
	r, err := s.Session.Exec(ctx, cmd)
	return r, s.failed(err)
}

func (s *pooledSession) ExecStream(ctx context.Context, cmd Command, onLine func(Line)) (Result, error) {
	r, err := s.Session.ExecStream(ctx, cmd, onLine)
	return r, s.failed(err)
}

func (s *pooledSession) Upload(ctx context.Context, file File) error {
	return s.failed(s.Session.Upload(ctx, file))
}

func (s *pooledSession) ReadFile(ctx context.Context, path string) ([]byte, error) {
	b, err := s.Session.ReadFile(ctx, path)
	return b, s.failed(err)
}

func (s *pooledSession) StartRun(ctx context.Context, spec RunSpec) (RunStatus, error) {
	r, err := s.Session.StartRun(ctx, spec)
	return r, s.failed(err)
}

func (s *pooledSession) InspectRun(ctx context.Context, id RunID, tailLines int) (RunStatus, error) {
	r, err := s.Session.InspectRun(ctx, id, tailLines)
	return r, s.failed(err)
}

func (s *pooledSession) RemoveRun(ctx context.Context, id RunID) error {
	return s.failed(s.Session.RemoveRun(ctx, id))
}

// Close leaves the connection to the pool, which closes it when idle.
func (s *pooledSession) Close() error { return nil }
