package fake

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/netip"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"templatemanager.dev/lxc-template-manager/internal/pvesim"
)

// A Guest stands in for what runs inside a fake container: an SSH server (with SFTP) on a
// loopback address of its own, an in-memory file system, systemd as far as the controller uses
// it (the config-manager unit, transient units of detached runs, running services), and the
// sockets `ss` would list. It models what the controller's SSH phases rely on and nothing more;
// it is for load tests and the phase tests of the controller, never evidence that a feature
// works on a real container (the lxc backend and test/e2e are).
//
// Scripts run nothing: a detached run takes its duration, exit code, output and effects from
// directive comments in the script, one or more per line anywhere in it:
//
//	# fake-guest: sleep=3s exit=0
//	# fake-guest: sleep=1h,0s exit=1,0       per attempt of the same run: first, second, … (the last repeats)
//	# fake-guest: needs=/etc/app/ready       exit 1 unless the file exists when the run ends
//	# fake-guest: listen=tcp/8080/nginx      on success, nginx.service listens on 0.0.0.0:8080 (also tcp/127.0.0.1:5432/postgres, udp/53/dnsmasq)
//	# fake-guest: credentials=db.env:DB_PASSWORD=s3cret   on success, adds the line to /etc/config-manager/credentials/db.env
//	# fake-guest-print: any text             a line of the run's output
//
// A script without directives succeeds at once with no output, as the package installs do.
type Guest struct {
	vmid    int
	signer  gossh.Signer
	backend *Backend

	mu       sync.Mutex
	mac      string
	hostname string
	files    map[string]*gfile
	units    map[string]*unit
	runs     map[string]*guestRun // by run ID
	history  []RunRecord
	services []service
	nextPID  int
	boot     int
	running  bool
	// sshdUp says sshd has started in this boot; sshdTimer starts it when the boot is slow.
	sshdUp    bool
	sshdTimer *time.Timer
	listener  net.Listener
	conns     map[*gossh.ServerConn]bool
	address   netip.Addr
	// rootPassword is the SHA-256 (hex) of the password chpasswd last set, empty before.
	rootPassword string

	sessions atomic.Int64
	commands atomic.Int64
}

// gfile is a file or directory of the guest's file system.
type gfile struct {
	dir      bool
	data     []byte
	mode     fs.FileMode // permission and special bits
	uid, gid int
	modTime  time.Time
}

// unit is a systemd unit as far as the guest models one.
type unit struct {
	enabled bool
	active  bool
	result  string // Result= of a oneshot: "success", "exit-code"
}

// service is a process listening on a socket, started by a script's listen directive.
type service struct {
	proto, addr string
	port        int
	process     string
	pid         int
}

// RunRecord is one start of a detached run, as a test reads it back.
type RunRecord struct {
	ID      string
	Attempt int // 1 for the first start of this ID on this guest
	Boot    int // the boot the run started in
	// State is "running", "finished" or "lost" (the container stopped under it).
	State    string
	ExitCode int
	Script   string
	Start    time.Time
	Duration time.Duration
}

type guestRun struct {
	record int // index into history
	timer  *time.Timer
}

const (
	sshdPID = 57
	// runsDir mirrors ssh.RunsDir; the guest does not import the controller's SSH client.
	runsDir       = "/var/lib/config-manager/runs"
	runUnitPrefix = "lxctm-run-"
)

// users and groups every fake guest knows, as a minimal Debian has them.
var (
	guestUsers  = map[string]int{"root": 0, "daemon": 1, "bin": 2, "sys": 3, "www-data": 33, "nobody": 65534}
	guestGroups = map[string]int{"root": 0, "daemon": 1, "bin": 2, "sys": 3, "adm": 4, "www-data": 33, "nogroup": 65534}
)

func newGuest(b *Backend, vmid int, seed []byte) (*Guest, error) {
	if len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("host key seed of CT %d has %d bytes", vmid, len(seed))
	}
	signer, err := gossh.NewSignerFromKey(ed25519.NewKeyFromSeed(seed))
	if err != nil {
		return nil, err
	}
	g := &Guest{vmid: vmid, signer: signer, backend: b, units: map[string]*unit{}, runs: map[string]*guestRun{}, nextPID: 1000}
	g.files = map[string]*gfile{}
	for _, d := range []string{"/", "/etc", "/etc/systemd", "/etc/systemd/system", "/root", "/root/.ssh", "/tmp", "/var", "/var/lib", "/run", "/run/systemd", "/run/systemd/system"} {
		g.files[d] = &gfile{dir: true, mode: 0o755, modTime: time.Now()}
	}
	g.files["/root/.ssh"].mode = 0o700
	g.files["/tmp"].mode = 0o1777
	return g, nil
}

// HostKey is the fingerprint of the guest's host key, the form of status.sshHostKey.
func (g *Guest) HostKey() string { return gossh.FingerprintSHA256(g.signer.PublicKey()) }

// Address is the loopback address the guest's SSH server listens on while it runs.
func (g *Guest) Address() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.listener == nil {
		return ""
	}
	return g.listener.Addr().String()
}

// RootPasswordHash is the SHA-256 (hex) of the root password chpasswd last set in the guest.
func (g *Guest) RootPasswordHash() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.rootPassword
}

// Sessions counts the SSH connections the guest accepted; Commands the commands it ran.
func (g *Guest) Sessions() int64 { return g.sessions.Load() }
func (g *Guest) Commands() int64 { return g.commands.Load() }

// Boots counts the guest's boots: each start of its container, and each reboot.
func (g *Guest) Boots() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.boot
}

// Runs lists every start of a detached run, in order.
func (g *Guest) Runs() []RunRecord {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.history)
}

// ReadFile returns a file of the guest's file system.
func (g *Guest) ReadFile(p string) ([]byte, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	f, ok := g.files[p]
	if !ok || f.dir {
		return nil, false
	}
	return slices.Clone(f.data), true
}

// WriteFile puts a file into the guest, as a user logged in to it would.
func (g *Guest) WriteFile(p string, data []byte, mode fs.FileMode) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.mkdirAllLocked(path.Dir(p))
	g.files[p] = &gfile{data: slices.Clone(data), mode: mode, modTime: time.Now()}
}

// RemoveFile deletes a file of the guest, as a user logged in to it would.
func (g *Guest) RemoveFile(p string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.files, p)
}

// Reboot restarts the guest from inside, as `reboot` in the container would: the container
// keeps running for Proxmox, every SSH connection drops, and runs in progress are lost.
func (g *Guest) Reboot() {
	g.mu.Lock()
	addr := g.address
	g.mu.Unlock()
	g.halt()
	g.start(addr, time.Now())
}

// start boots the guest, which began at startedAt, on the loopback stand-in of addr. sshd
// comes up Options.SSHReadyAfter after startedAt; until then nothing listens on the SSH port.
func (g *Guest) start(addr netip.Addr, startedAt time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.running, g.address = true, addr
	g.boot++
	g.conns = map[*gossh.ServerConn]bool{}
	if u := g.units[configManagerUnit]; u != nil && u.enabled {
		// The unit is WantedBy multi-user.target: config-sync runs at every boot.
		g.configSyncLocked()
	}
	var wait time.Duration
	if f := g.backend.opts.SSHReadyAfter; f != nil {
		wait = f(g.vmid, g.hostname) - time.Since(startedAt)
	}
	if wait <= 0 {
		g.startSSHDLocked()
		return
	}
	boot := g.boot
	g.sshdTimer = time.AfterFunc(wait, func() {
		g.mu.Lock()
		defer g.mu.Unlock()
		if g.running && g.boot == boot {
			g.startSSHDLocked()
		}
	})
}

// startSSHDLocked is sshd starting: from now on the guest answers SSH at its address.
func (g *Guest) startSSHDLocked() {
	g.sshdTimer = nil
	g.sshdUp = true
	g.listenLocked()
}

// listenLocked opens the SSH listener for the current address. A taken address (two containers
// given the same static address) leaves this guest unreachable, as the other one answers there.
func (g *Guest) listenLocked() {
	if !g.address.IsValid() || g.backend.opts.GuestPort == 0 {
		return
	}
	local := GuestAddress(g.address)
	l, err := net.Listen("tcp", netip.AddrPortFrom(local, uint16(g.backend.opts.GuestPort)).String())
	if err != nil {
		slog.Default().Debug("fake guest cannot listen", "vmid", g.vmid, "address", local, "error", err)
		return
	}
	g.listener = l
	go g.serve(l)
}

// readdress follows a change of eth0's address on a running guest.
func (g *Guest) readdress(addr netip.Addr) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.running || addr == g.address {
		return
	}
	if g.listener != nil {
		_ = g.listener.Close()
		g.listener = nil
	}
	g.address = addr
	if g.sshdUp {
		g.listenLocked()
	}
}

// halt powers the guest off: connections drop and runs in progress stop without an exit code.
func (g *Guest) halt() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.running {
		return
	}
	g.running, g.sshdUp = false, false
	if g.sshdTimer != nil {
		g.sshdTimer.Stop()
		g.sshdTimer = nil
	}
	if g.listener != nil {
		_ = g.listener.Close()
		g.listener = nil
	}
	for c := range g.conns {
		_ = c.Close()
	}
	g.conns = nil
	for id, r := range g.runs {
		r.timer.Stop()
		g.history[r.record].State = "lost"
		delete(g.runs, id)
		if u := g.units[runUnitPrefix+id+".service"]; u != nil {
			u.active = false
		}
	}
}

// GuestAddress is the loopback address a fake guest with address addr listens on: 127 followed
// by the last three bytes of the IPv4 address, so 169.254.10.7 is served on 127.254.10.7.
// Every address of 127.0.0.0/8 is local on Linux, so no network namespace or root is needed.
func GuestAddress(addr netip.Addr) netip.Addr {
	a := addr.Unmap().As4()
	a[0] = 127
	return netip.AddrFrom4(a)
}

// GuestDialer returns a dial function for ssh.Dialer.DialContext that reaches the fake guest
// serving the dialled address: host H (any port) goes to GuestAddress(H):port.
func GuestDialer(port int) func(ctx context.Context, network, address string) (net.Conn, error) {
	var d net.Dialer
	return func(ctx context.Context, network, address string) (net.Conn, error) {
		host, _, err := net.SplitHostPort(address)
		if err != nil {
			return nil, err
		}
		addr, err := netip.ParseAddr(host)
		if err != nil || !addr.Unmap().Is4() {
			return nil, fmt.Errorf("fake guests have IPv4 addresses, not %q", host)
		}
		return d.DialContext(ctx, network, netip.AddrPortFrom(GuestAddress(addr), uint16(port)).String())
	}
}

// eth0Address is the address eth0 of a running container has (what Interfaces reports).
func eth0Address(spec pvesim.ContainerSpec) netip.Addr {
	for _, n := range spec.Networks {
		if n.Name != "eth0" {
			continue
		}
		switch {
		case n.DHCP && n.Lease.IsValid():
			return n.Lease.Addr()
		case !n.DHCP && n.Address.IsValid():
			return n.Address.Addr()
		}
	}
	return netip.Addr{}
}

func eth0MAC(spec pvesim.ContainerSpec) string {
	for _, n := range spec.Networks {
		if n.Name == "eth0" {
			return strings.ToLower(n.HWAddr)
		}
	}
	return ""
}

// configure applies what Proxmox sets up in a container's file system at create and start.
func (g *Guest) configure(spec pvesim.ContainerSpec, create bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.mac, g.hostname = eth0MAC(spec), spec.Hostname
	g.files["/etc/hostname"] = &gfile{data: []byte(spec.Hostname + "\n"), mode: 0o644, modTime: time.Now()}
	if create && spec.SSHKeys != "" {
		keys := spec.SSHKeys
		if !strings.HasSuffix(keys, "\n") {
			keys += "\n"
		}
		g.files["/root/.ssh/authorized_keys"] = &gfile{data: []byte(keys), mode: 0o600, modTime: time.Now()}
	}
}

// File system helpers; callers hold g.mu.

func (g *Guest) mkdirAllLocked(p string) {
	for d := p; d != "/" && d != "."; d = path.Dir(d) {
		if _, ok := g.files[d]; ok {
			break
		}
		g.files[d] = &gfile{dir: true, mode: 0o755, modTime: time.Now()}
	}
}

func (g *Guest) writeLocked(p string, data []byte, mode fs.FileMode) {
	g.mkdirAllLocked(path.Dir(p))
	g.files[p] = &gfile{data: intern(data), mode: mode, modTime: time.Now()}
}

func (g *Guest) readLocked(p string) ([]byte, bool) {
	f, ok := g.files[p]
	if !ok || f.dir {
		return nil, false
	}
	return f.data, true
}

// childrenLocked lists the names directly under dir, sorted.
func (g *Guest) childrenLocked(dir string) []string {
	prefix := dir + "/"
	if dir == "/" {
		prefix = "/"
	}
	var out []string
	for p := range g.files {
		if p != "/" && strings.HasPrefix(p, prefix) && !strings.Contains(p[len(prefix):], "/") {
			out = append(out, p[len(prefix):])
		}
	}
	slices.Sort(out)
	return out
}

// interned shares the contents every guest gets alike (config-sync.sh, the collector, the
// unit), so a thousand guests hold one copy of each.
var interned sync.Map

func intern(data []byte) []byte {
	if len(data) < 512 {
		return data
	}
	sum := sha256.Sum256(data)
	v, _ := interned.LoadOrStore(sum, data)
	return v.([]byte)
}

// Directives of a script (see Guest).
type directives struct {
	sleeps      []time.Duration
	exits       []int
	needs       []string
	listens     []service
	credentials []string // file:line
	prints      []string
}

func parseDirectives(script []byte) (directives, error) {
	var d directives
	for _, line := range strings.Split(string(script), "\n") {
		line = strings.TrimSpace(line)
		if text, ok := strings.CutPrefix(line, "# fake-guest-print:"); ok {
			d.prints = append(d.prints, strings.TrimSpace(text))
			continue
		}
		rest, ok := strings.CutPrefix(line, "# fake-guest:")
		if !ok {
			continue
		}
		for _, field := range strings.Fields(rest) {
			key, value, _ := strings.Cut(field, "=")
			switch key {
			case "sleep":
				for _, s := range strings.Split(value, ",") {
					v, err := time.ParseDuration(s)
					if err != nil {
						return d, fmt.Errorf("sleep=%s: %w", value, err)
					}
					d.sleeps = append(d.sleeps, v)
				}
			case "exit":
				for _, s := range strings.Split(value, ",") {
					v, err := strconv.Atoi(s)
					if err != nil {
						return d, fmt.Errorf("exit=%s: %w", value, err)
					}
					d.exits = append(d.exits, v)
				}
			case "needs":
				d.needs = append(d.needs, value)
			case "listen":
				svc, err := parseListen(value)
				if err != nil {
					return d, err
				}
				d.listens = append(d.listens, svc)
			case "credentials":
				file, kv, ok := strings.Cut(value, ":")
				if !ok || !strings.HasSuffix(file, ".env") || strings.Contains(file, "/") {
					return d, fmt.Errorf("credentials=%s is not FILE.env:KEY=VALUE", value)
				}
				d.credentials = append(d.credentials, file+":"+kv)
			default:
				return d, fmt.Errorf("unknown directive %q", key)
			}
		}
	}
	return d, nil
}

// parseListen reads PROTO/[ADDR:]PORT/PROCESS.
func parseListen(v string) (service, error) {
	parts := strings.Split(v, "/")
	if len(parts) != 3 || (parts[0] != "tcp" && parts[0] != "udp") {
		return service{}, fmt.Errorf("listen=%s is not tcp|udp/[ADDR:]PORT/PROCESS", v)
	}
	svc := service{proto: parts[0], addr: "0.0.0.0", process: parts[2]}
	portText := parts[1]
	if host, port, err := net.SplitHostPort(parts[1]); err == nil {
		svc.addr, portText = host, port
	}
	port, err := strconv.Atoi(portText)
	if err != nil || port < 1 || port > 65535 {
		return service{}, fmt.Errorf("listen=%s has no valid port", v)
	}
	svc.port = port
	return svc, nil
}

func pick[T any](list []T, attempt int, def T) T {
	if len(list) == 0 {
		return def
	}
	return list[min(attempt, len(list))-1]
}
