// Package pvesimtest starts an in-process Proxmox VE simulator for tests: HTTPS on 127.0.0.1
// with its own CA, an API token (root@pam!pvesimtest), the fake backend unless told otherwise,
// short task durations (20ms), a 1s config-lock timeout, and handles to inject faults
// (Fault, ClearFaults) and read request counters (Counters).
//
//	sim := pvesimtest.Start(t)
//	client := proxmox.NewClient(sim.URL, proxmox.WithAPIToken(sim.TokenID, sim.Secret),
//		proxmox.WithHTTPClient(sim.HTTPClient()))
package pvesimtest

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"templatemanager.dev/lxc-template-manager/internal/pvesim"
	"templatemanager.dev/lxc-template-manager/internal/pvesim/fake"
	"templatemanager.dev/lxc-template-manager/internal/testkit"
)

// Simulator is a running simulator.
type Simulator struct {
	*pvesim.Server
	// URL is the API base URL, https://127.0.0.1:PORT/api2/json, as go-proxmox wants it.
	URL string
	// Addr is the listening address, 127.0.0.1:PORT.
	Addr string
	// CAPEM and CAPool are the CA that signed the server certificate.
	CAPEM  []byte
	CAPool *x509.CertPool
	// TokenID (user@realm!name) and Secret are the API token.
	TokenID string
	Secret  string
	// Nodes are the simulated node names; StateDir keeps the simulator's state.
	Nodes    []string
	StateDir string
	Subnet   netip.Prefix
	// Backend is the backend in use.
	Backend pvesim.Backend

	cfg     config
	ca      *pvesim.CA
	done    chan error
	stopped bool
}

type config struct {
	backend   func(stateDir string) (pvesim.Backend, error)
	opts      pvesim.Options
	stateDir  string
	dhcpDelay time.Duration
	shutdown  time.Duration
	guestPort int
	addr      string
}

// Option adjusts the simulator.
type Option func(*config)

// WithBackend uses b instead of a fresh fake backend.
func WithBackend(b pvesim.Backend) Option {
	return func(c *config) { c.backend = func(string) (pvesim.Backend, error) { return b, nil } }
}

// WithBackendFunc builds the backend from the state directory, also on Restart.
func WithBackendFunc(f func(stateDir string) (pvesim.Backend, error)) Option {
	return func(c *config) { c.backend = f }
}

// WithNodes sets the node names (default pve1).
func WithNodes(nodes ...string) Option { return func(c *config) { c.opts.Nodes = nodes } }

// WithStateDir keeps the state in dir (default a t.TempDir()).
func WithStateDir(dir string) Option { return func(c *config) { c.stateDir = dir } }

// WithTemplateDir lists the tarballs of dir as local:vztmpl/<file>.
func WithTemplateDir(dir string) Option { return func(c *config) { c.opts.TemplateDir = dir } }

// WithTaskDuration sets how long every task takes at least (default 20ms).
func WithTaskDuration(d time.Duration) Option {
	return func(c *config) { c.opts.Tasks.Default = d }
}

// WithTaskDurationOf sets how long tasks of one type (vzcreate, vzstart, …) take.
func WithTaskDurationOf(typ string, d time.Duration) Option {
	return func(c *config) {
		if c.opts.Tasks.ByType == nil {
			c.opts.Tasks.ByType = map[string]time.Duration{}
		}
		c.opts.Tasks.ByType[typ] = d
	}
}

// WithDHCPDelay sets how long the default fake backend takes to show a DHCP address after
// start (default 100ms).
func WithDHCPDelay(d time.Duration) Option { return func(c *config) { c.dhcpDelay = d } }

// WithShutdownDelay sets how long a clean shutdown takes in the default fake backend.
func WithShutdownDelay(d time.Duration) Option { return func(c *config) { c.shutdown = d } }

// WithGuests gives every running container of the default fake backend a guest stand-in with
// an SSH server on port (see fake.Guest); reach them with ssh.Dialer{DialContext:
// fake.GuestDialer(port)}. All simulators of a test process may share one port: each guest
// listens on a loopback address of its own.
func WithGuests(port int) Option { return func(c *config) { c.guestPort = port } }

// WithUser allows ticket login as user (user@realm) with password.
func WithUser(user, password string) Option {
	return func(c *config) { c.opts.Users[user] = password }
}

// WithToken adds an API token besides the default one.
func WithToken(id, secret string) Option {
	return func(c *config) { c.opts.Tokens[id] = secret }
}

// WithFaults injects faults from the start.
func WithFaults(rules ...pvesim.FaultRule) Option {
	return func(c *config) { c.opts.Faults = append(c.opts.Faults, rules...) }
}

// WithSubnet sets the container subnet (default derived from the state directory).
func WithSubnet(p netip.Prefix) Option { return func(c *config) { c.opts.Subnet = p } }

// WithOptions edits the simulator options directly.
func WithOptions(f func(*pvesim.Options)) Option { return func(c *config) { f(&c.opts) } }

// Start runs a simulator until the test ends.
func Start(t testing.TB, opts ...Option) *Simulator {
	t.Helper()
	secret := make([]byte, 16)
	_, _ = rand.Read(secret)
	cfg := config{
		opts: pvesim.Options{
			Nodes:       []string{"pve1"},
			Tokens:      map[string]string{"root@pam!pvesimtest": hex.EncodeToString(secret)},
			Users:       map[string]string{},
			Tasks:       pvesim.TaskDurations{Default: 20 * time.Millisecond},
			LockTimeout: time.Second,
			Logger:      slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo})),
		},
		dhcpDelay: 100 * time.Millisecond,
		// A port reserved for the test, not one the kernel picks: Restart and RestartAPI listen
		// on it again, and while they are down no other socket may take it.
		addr: "127.0.0.1:" + strconv.Itoa(testkit.ReservePort(t)),
	}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.stateDir == "" {
		cfg.stateDir = t.TempDir()
	}
	if !cfg.opts.Subnet.IsValid() {
		_, cfg.opts.Subnet = pvesim.DefaultNetwork(cfg.stateDir)
	}
	ca, err := pvesim.NewCA()
	if err != nil {
		t.Fatalf("pvesimtest: %v", err)
	}
	sim := &Simulator{
		TokenID: "root@pam!pvesimtest", Secret: cfg.opts.Tokens["root@pam!pvesimtest"],
		CAPEM: ca.PEM, CAPool: ca.Pool(), ca: ca, cfg: cfg,
	}
	if err := sim.start(); err != nil {
		t.Fatalf("pvesimtest: %v", err)
	}
	t.Cleanup(sim.Stop)
	return sim
}

func (s *Simulator) start() error {
	cfg := s.cfg
	build := cfg.backend
	if build == nil {
		build = func(dir string) (pvesim.Backend, error) {
			return fake.New(fake.Options{StateDir: filepath.Join(dir, "fake"), DHCPDelay: cfg.dhcpDelay, ShutdownDelay: cfg.shutdown, GuestPort: cfg.guestPort})
		}
	}
	backend, err := build(cfg.stateDir)
	if err != nil {
		return fmt.Errorf("backend: %w", err)
	}
	return s.serve(backend)
}

// serve starts a server on backend.
func (s *Simulator) serve(backend pvesim.Backend) error {
	cfg := s.cfg
	opts := cfg.opts
	opts.Backend, opts.StateDir = backend, cfg.stateDir
	srv, err := pvesim.New(opts)
	if err != nil {
		return err
	}
	cert, err := s.ca.ServerCertificate()
	if err != nil {
		return err
	}
	l, err := listen(cfg.addr)
	if err != nil {
		return err
	}
	s.Server, s.Backend = srv, backend
	s.Addr = l.Addr().String()
	s.URL = "https://" + s.Addr + "/api2/json"
	s.Nodes, s.StateDir, s.Subnet = opts.Nodes, cfg.stateDir, opts.Subnet
	s.done = make(chan error, 1)
	s.stopped = false
	go func() { s.done <- srv.Serve(l, cert) }()
	return nil
}

// listen binds addr, retrying a moment while the port is still held by the simulator's
// previous run.
func listen(addr string) (net.Listener, error) {
	var err error
	for range 50 {
		var l net.Listener
		if l, err = net.Listen("tcp", addr); err == nil {
			return l, nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return nil, err
}

// Stop shuts the simulator down (waiting for running tasks); containers stay.
func (s *Simulator) Stop() {
	if s.stopped {
		return
	}
	s.stopped = true
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_ = s.Shutdown(ctx)
	<-s.done
}

// Restart stops the simulator and starts a new one on the same address, state directory and
// CA, as a restarted pvesim process would be. The backend is built again, except one given with
// WithBackend, which is reused after its Close (fine for the fake backend; give a real backend
// with WithBackendFunc instead).
func (s *Simulator) Restart(t testing.TB) {
	t.Helper()
	s.Stop()
	s.cfg.addr = s.Addr
	if err := s.start(); err != nil {
		t.Fatalf("pvesimtest: restart: %v", err)
	}
}

// RestartAPI restarts the API alone, as restarting pveproxy and pvedaemon on a node does: it
// stops serving (tasks under way run to their end meanwhile), stays down for down, and serves
// again on the same address, state directory and backend. The containers are left alone, and
// so are the fake backend's guests, with their files, runs and SSH connections. The request
// counters and the faults injected since the start begin anew, as the new process's would.
func (s *Simulator) RestartAPI(t testing.TB, down time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.StopAPI(ctx); err != nil {
		t.Logf("pvesimtest: stopping the API: %v", err)
	}
	<-s.done
	time.Sleep(down)
	s.cfg.addr = s.Addr
	if err := s.serve(s.Backend); err != nil {
		t.Fatalf("pvesimtest: restart of the API: %v", err)
	}
}

// HTTPClient trusts the simulator's CA and speaks HTTP/1.1, as the simulator does.
func (s *Simulator) HTTPClient() *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: s.CAPool, MinVersion: tls.VersionTLS12}
	tr.ForceAttemptHTTP2 = false
	tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
	return &http.Client{Transport: tr, Timeout: time.Minute}
}

// Guest is the guest stand-in of container vmid on the default fake backend, or nil.
func (s *Simulator) Guest(vmid int) *fake.Guest {
	if b, ok := s.Backend.(*fake.Backend); ok {
		return b.Guest(vmid)
	}
	return nil
}

// Token is the Authorization header value of the API token.
func (s *Simulator) Token() string { return "PVEAPIToken=" + s.TokenID + "=" + s.Secret }

// Fault injects a fault rule, failing the test when the rule is invalid.
func (s *Simulator) Fault(t testing.TB, r pvesim.FaultRule) pvesim.FaultRule {
	t.Helper()
	added, err := s.InjectFault(r)
	if err != nil {
		t.Fatalf("pvesimtest: inject fault: %v", err)
	}
	return added
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}
