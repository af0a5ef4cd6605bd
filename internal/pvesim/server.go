// Package pvesim simulates the Proxmox VE API for LXC containers closely enough that
// go-proxmox and the controller work against it unmodified: the {"data": …} envelope, errors in
// the HTTP reason phrase, schema validation with PVE's messages, asynchronous tasks with real
// UPIDs, config locks, tags, nextid, storages and templates. What runs behind a container is a
// Backend (real LXC containers or an in-memory stand-in).
package pvesim

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"
)

// Options configure a Server.
type Options struct {
	// Nodes are the simulated cluster nodes; the first answers as the local node.
	Nodes []string
	// Backend realises the containers.
	Backend Backend
	// StateDir keeps containers, leases and finished tasks across restarts.
	StateDir string
	// TemplateDir holds OS template tarballs listed as local:vztmpl/<file>.
	TemplateDir string
	// Tokens maps API token ids (user@realm!name) to their secrets.
	Tokens map[string]string
	// Users maps user@realm to a password for ticket login.
	Users map[string]string
	// Withheld maps a user (user@realm) or API token id to privileges it lacks on every path,
	// such as Sys.AccessNetwork; everyone else holds every privilege.
	Withheld map[string][]string
	// Subnet is the container network behind vmbr0; its first address is the gateway and DHCP
	// leases come from the rest.
	Subnet netip.Prefix
	// Tasks sets how long tasks take.
	Tasks TaskDurations
	// UnauthorizedDelay delays every 401 answer, as pveproxy does (3 s there).
	UnauthorizedDelay time.Duration
	// LockTimeout bounds the wait for a container's config lock (10 s in PVE).
	LockTimeout time.Duration
	// Faults are injected from the start; more can be added at run time.
	Faults []FaultRule
	// Logger receives the simulator's logs; nil discards them.
	Logger *slog.Logger
}

// TaskDurations sets the minimum run time of tasks by type (vzcreate, vzstart, …).
type TaskDurations struct {
	Default time.Duration
	ByType  map[string]time.Duration
}

func (d TaskDurations) of(typ string) time.Duration {
	if v, ok := d.ByType[typ]; ok {
		return v
	}
	return d.Default
}

// Server is the simulated Proxmox VE API.
type Server struct {
	opts    Options
	log     *slog.Logger
	backend Backend
	nodes   []string
	gateway netip.Addr

	mu         sync.Mutex
	containers map[int]*container
	ha         map[string]*haResource // sid → HA resource
	haRules    map[string]*haRule     // rule id → HA rule
	pools      map[string]*pool       // poolid → pool (pools.go)
	// maintenance holds the nodes HA has in maintenance mode (hastatus.go).
	maintenance map[string]bool

	tasks   *taskManager
	auth    *authenticator
	faults  *faultInjector
	metrics *metrics
	routes  []route
	store   *store

	httpMu  sync.Mutex
	servers []*http.Server
	// apiStopped is set by StopAPI: a Serve that comes after it (one racing a quick stop) returns
	// at once rather than serving a stopped simulator forever.
	apiStopped bool
	sslFP      string
}

// New loads the state directory and returns a Server ready to serve.
func New(opts Options) (*Server, error) {
	if len(opts.Nodes) == 0 {
		return nil, errors.New("at least one node is required")
	}
	for _, n := range opts.Nodes {
		if !nodeNameRE.MatchString(n) {
			return nil, fmt.Errorf("invalid node name %q", n)
		}
	}
	if opts.Backend == nil {
		return nil, errors.New("a backend is required")
	}
	if opts.StateDir == "" {
		return nil, errors.New("a state directory is required")
	}
	if err := ValidateSubnet(opts.Subnet); err != nil {
		return nil, err
	}
	if opts.LockTimeout == 0 {
		opts.LockTimeout = 10 * time.Second
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	st, err := openStore(opts.StateDir)
	if err != nil {
		return nil, err
	}
	s := &Server{
		opts:       opts,
		log:        log,
		backend:    opts.Backend,
		nodes:      slices.Clone(opts.Nodes),
		gateway:    opts.Subnet.Masked().Addr().Next(),
		containers: map[int]*container{},
		auth:       newAuthenticator(opts.Tokens, opts.Users),
		faults:     newFaultInjector(opts.Faults),
		metrics:    newMetrics(),
		store:      st,
	}
	s.tasks = newTaskManager(s)
	cts, err := st.loadContainers()
	if err != nil {
		return nil, err
	}
	for _, ct := range cts {
		if !slices.Contains(s.nodes, ct.Node) {
			log.Warn("Container on unknown node kept aside", "vmid", ct.VMID, "node", ct.Node)
		}
		ct.flock = make(chan struct{}, 1)
		s.containers[ct.VMID] = ct
	}
	if err := s.tasks.load(); err != nil {
		return nil, err
	}
	if s.ha, err = st.loadHA(); err != nil {
		return nil, err
	}
	if s.haRules, err = st.loadHARules(); err != nil {
		return nil, err
	}
	if s.pools, err = st.loadPools(); err != nil {
		return nil, err
	}
	if s.maintenance, err = st.loadMaintenance(); err != nil {
		return nil, err
	}
	s.routes = s.apiRoutes()
	log.Info("Simulator ready", "nodes", s.nodes, "backend", s.backend.Name(), "containers", len(cts),
		"subnet", opts.Subnet.String(), "stateDir", opts.StateDir)
	return s, nil
}

// Gateway is the bridge's address, the default gateway of the container network.
func (s *Server) Gateway() netip.Addr { return s.gateway }

// Serve answers HTTPS on l with cert until Shutdown; it speaks HTTP/1.1 only, like pveproxy.
// After StopAPI or Shutdown it closes l and returns nil at once.
func (s *Server) Serve(l net.Listener, cert tls.Certificate) error {
	hs := &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 30 * time.Second,
		TLSConfig: &tls.Config{
			Certificates: []tls.Certificate{cert},
			NextProtos:   []string{"http/1.1"},
			MinVersion:   tls.VersionTLS12,
		},
		// A non-nil empty map keeps net/http from negotiating HTTP/2.
		TLSNextProto: map[string]func(*http.Server, *tls.Conn, http.Handler){},
		ErrorLog:     slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	s.httpMu.Lock()
	if s.apiStopped {
		s.httpMu.Unlock()
		_ = l.Close()
		return nil
	}
	s.servers = append(s.servers, hs)
	if len(cert.Certificate) > 0 {
		sum := sha256.Sum256(cert.Certificate[0])
		parts := make([]string, len(sum))
		for i, b := range sum {
			parts[i] = fmt.Sprintf("%02X", b)
		}
		s.sslFP = strings.Join(parts, ":")
	}
	s.httpMu.Unlock()
	err := hs.Serve(tls.NewListener(l, hs.TLSConfig))
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Shutdown stops serving, waits for running tasks until ctx ends, and closes the backend.
// Containers keep running so a restarted simulator finds them.
func (s *Server) Shutdown(ctx context.Context) error {
	err := s.StopAPI(ctx)
	if cerr := s.backend.Close(); cerr != nil {
		err = errors.Join(err, fmt.Errorf("close backend: %w", cerr))
	}
	s.log.Info("Simulator stopped")
	return err
}

// StopAPI stops serving the API and waits for the running tasks, and leaves the backend and its
// containers as they are: what restarting Proxmox's API daemons (pveproxy, pvedaemon) does to a
// node. A new Server on the same state directory and backend serves them again.
func (s *Server) StopAPI(ctx context.Context) error {
	s.httpMu.Lock()
	servers := s.servers
	s.servers, s.apiStopped = nil, true
	s.httpMu.Unlock()
	var errs []error
	for _, hs := range servers {
		if err := hs.Shutdown(ctx); err != nil {
			errs = append(errs, err)
			hs.Close()
		}
	}
	if err := s.tasks.wait(ctx); err != nil {
		s.log.Warn("Tasks still running at shutdown", "error", err)
		s.tasks.cancelAll()
		wctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = s.tasks.wait(wctx)
		cancel()
	}
	return errors.Join(errs...)
}

var nodeNameRE = regexp.MustCompile(`^([a-zA-Z0-9]([a-zA-Z0-9\-]*[a-zA-Z0-9])?)$`)

// ValidateSubnet accepts link-local IPv4 prefixes (169.254.0.0/16) that leave
// 169.254.169.0/24, home of the metadata address, alone.
func ValidateSubnet(p netip.Prefix) error {
	linkLocal := netip.MustParsePrefix("169.254.0.0/16")
	metadata := netip.MustParsePrefix("169.254.169.0/24")
	switch {
	case !p.IsValid():
		return errors.New("a container subnet is required")
	case !p.Addr().Is4() || !linkLocal.Contains(p.Addr()) || p.Bits() < 16:
		return fmt.Errorf("subnet %s is not inside 169.254.0.0/16", p)
	case p.Bits() > 29:
		return fmt.Errorf("subnet %s is too small", p)
	case p.Overlaps(metadata):
		return fmt.Errorf("subnet %s overlaps 169.254.169.0/24", p)
	}
	return nil
}

// fingerprint is the SHA-256 fingerprint of the served certificate, as /nodes shows it.
func (s *Server) fingerprint() string {
	s.httpMu.Lock()
	defer s.httpMu.Unlock()
	return s.sslFP
}

func (s *Server) hasNode(name string) bool { return slices.Contains(s.nodes, name) }

// templatePath is where a template file of the local storage lives on this host.
func (s *Server) templatePath(file string) string {
	dir := s.opts.TemplateDir
	if dir == "" {
		dir = "/var/lib/vz/template/cache"
	}
	return filepath.Join(dir, file)
}

func fileExists(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.Mode().IsRegular()
}

// DefaultNetwork derives the bridge name and a /24 of 169.254.0.0/16 from the state directory,
// so simulators with different state directories on one host do not collide. It never picks
// the reserved first and last /24 nor 169.254.169.0/24.
func DefaultNetwork(stateDir string) (bridge string, subnet netip.Prefix) {
	abs, err := filepath.Abs(stateDir)
	if err != nil {
		abs = stateDir
	}
	h := fnv.New32a()
	h.Write([]byte(abs))
	sum := h.Sum32()
	x := 1 + sum%253 // 1 … 253
	if x == 169 {
		x = 254
	}
	return fmt.Sprintf("pvesim%08x", sum), netip.PrefixFrom(netip.AddrFrom4([4]byte{169, 254, byte(x), 0}), 24)
}
