// Package lxctest boots real LXC containers for tests: one backend per test on its own bridge
// and link-local subnet, one container with a fresh ed25519 key in root's authorized_keys.
// It needs root and the Debian packages lxc, debootstrap, uidmap, zstd and dnsmasq-base; the OS
// template is built with hack/build-ostemplate.sh when missing.
package lxctest

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"templatemanager.dev/lxc-template-manager/internal/preflight"
	"templatemanager.dev/lxc-template-manager/internal/pvesim"
	"templatemanager.dev/lxc-template-manager/internal/pvesim/lxc"
	"templatemanager.dev/lxc-template-manager/internal/testkit"
)

// TemplateName is the OS template the tests boot.
const TemplateName = "debian-12-standard_12.7-1_amd64.tar.zst"

// CT is a running container.
type CT struct {
	Backend *lxc.Backend
	Spec    pvesim.ContainerSpec
	// Addr is the container's address on the test's bridge.
	Addr netip.Addr
	// Signer holds the private key whose public half is root's authorized_keys.
	Signer ssh.Signer
	// RootPassword is root's password.
	RootPassword string
}

type config struct {
	dhcp         bool
	unprivileged bool
	vmid         int
	hostname     string
	memoryMiB    int
	cores        int
	nesting      bool
	fullCopies   bool
}

// Option changes the container Container boots.
type Option func(*config)

// DHCP gives the container's eth0 its address by DHCP instead of statically.
func DHCP() Option { return func(c *config) { c.dhcp = true } }

// Privileged boots a privileged container; the default is unprivileged.
func Privileged() Option { return func(c *config) { c.unprivileged = false } }

// VMID sets the container's id (default 100).
func VMID(id int) Option { return func(c *config) { c.vmid = id } }

// Hostname sets the container's hostname (default "ct<vmid>").
func Hostname(h string) Option { return func(c *config) { c.hostname = h } }

// Nesting turns on the nesting feature (containers inside the container).
func Nesting() Option { return func(c *config) { c.nesting = true } }

// FullCopies runs the container on a backend that copies the template tree for each
// container instead of mounting an overlay on it.
func FullCopies() Option { return func(c *config) { c.fullCopies = true } }

// Resources sets cores and memory.
func Resources(cores, memoryMiB int) Option {
	return func(c *config) { c.cores, c.memoryMiB = cores, memoryMiB }
}

// Container boots a container and waits until systemd reports the boot finished and sshd
// listens. Everything it made is removed when the test ends.
func Container(t testing.TB, opts ...Option) *CT {
	t.Helper()
	cfg := config{unprivileged: true, vmid: 100, memoryMiB: 512, cores: 1}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.hostname == "" {
		cfg.hostname = fmt.Sprintf("ct%d", cfg.vmid)
	}
	b, subnet := newBackend(t, cfg.fullCopies)
	signer := NewSigner(t)
	password := randomHex(t, 12)

	addr := netip.PrefixFrom(subnet.Addr().Next().Next(), subnet.Bits()) // .2; .1 is the host
	mac := fmt.Sprintf("BC:24:11:%02X:%02X:%02X", subnet.Addr().As4()[2], cfg.vmid>>8&0xff, cfg.vmid&0xff)
	net0 := pvesim.NetworkSpec{Index: 0, Name: "eth0", Bridge: "vmbr0", HWAddr: mac}
	if cfg.dhcp {
		net0.DHCP = true
		net0.Lease = netip.PrefixFrom(subnet.Addr().Next().Next().Next(), subnet.Bits()) // .3
		addr = net0.Lease
	} else {
		net0.Address = addr
		net0.Gateway = b.HostAddress()
	}
	spec := pvesim.ContainerSpec{
		VMID:         cfg.vmid,
		Node:         "pve1",
		Hostname:     cfg.hostname,
		OSTemplate:   Template(t),
		RootPassword: password,
		SSHKeys:      string(ssh.MarshalAuthorizedKey(signer.PublicKey())),
		Unprivileged: cfg.unprivileged,
		Nesting:      cfg.nesting,
		Cores:        cfg.cores,
		MemoryMiB:    cfg.memoryMiB,
		Networks:     []pvesim.NetworkSpec{net0},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := b.Create(ctx, spec); err != nil {
		t.Fatalf("create container: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if t.Failed() {
			logConsole(t, b, spec.VMID)
		}
		if err := b.Destroy(ctx, spec.VMID); err != nil {
			t.Errorf("destroy container: %v", err)
		}
	})
	if err := b.Start(ctx, spec); err != nil {
		t.Fatalf("start container: %v", err)
	}
	ct := &CT{Backend: b, Spec: spec, Addr: addr.Addr(), Signer: signer, RootPassword: password}
	ct.WaitBooted(t)
	return ct
}

// Backend starts an lxc backend on a bridge and /24 subnet no other test uses, and returns
// it with the subnet. It is closed when the test ends.
func Backend(t testing.TB) (*lxc.Backend, netip.Prefix) {
	t.Helper()
	return newBackend(t, false)
}

func newBackend(t testing.TB, fullCopies bool) (*lxc.Backend, netip.Prefix) {
	t.Helper()
	bridge, subnet := Network(t)
	opts := Options(t, t.TempDir(), bridge, subnet)
	opts.FullCopies = fullCopies
	b, err := lxc.New(opts)
	if err != nil {
		t.Fatalf("lxc backend: %v", err)
	}
	t.Cleanup(func() { Shutdown(t, b) })
	return b, subnet
}

// Shutdown kills whatever still runs on the backend (a test that failed half-way) and closes
// it, so nothing is left running on the host.
func Shutdown(t testing.TB, b *lxc.Backend) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := b.StopAll(ctx); err != nil {
		t.Errorf("stop containers: %v", err)
	}
	if err := b.Close(); err != nil {
		t.Errorf("close lxc backend: %v", err)
	}
}

// Options are the backend options tests use: the given state directory and network, the
// shared template cache and a logger writing to the test log.
func Options(t testing.TB, stateDir, bridge string, subnet netip.Prefix) lxc.Options {
	return lxc.Options{
		StateDir:      stateDir,
		Bridge:        bridge,
		Subnet:        subnet,
		Logger:        slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo})),
		TemplateCache: TemplateCache(),
	}
}

// TemplateCache is where tests keep extracted templates, shared by all test processes so
// each test does not extract the template again: $LXCTM_TEMPLATE_CACHE or
// /var/tmp/lxc-template-manager/ostemplate-trees.
func TemplateCache() string {
	if d := os.Getenv("LXCTM_TEMPLATE_CACHE"); d != "" {
		return d
	}
	return "/var/tmp/lxc-template-manager/ostemplate-trees"
}

// RequireHost fails the test unless it runs as root with the LXC tools installed: these
// tests are the evidence that containers really work, so they run wherever the full suite
// runs. Only -short (make test-unit; see internal/testkit) leaves them out.
func RequireHost(t testing.TB) {
	t.Helper()
	testkit.RequireRoot(t, "boots real LXC containers")
	// The same preflight as pvesim's lxc backend and make doctor, limits raised as they do.
	if _, err := preflight.Tune(preflight.Limits); err != nil {
		t.Fatal(err)
	}
	if err := preflight.Error(preflight.Run(append(preflight.LXCBackend(), preflight.LocalStack()...))); err != nil {
		t.Fatalf("%v\n(make deps installs the packages)", err)
	}
}

var templateOnce struct {
	sync.Mutex
	path string
}

// Template returns the OS template tarball: $LXCTM_OSTEMPLATE, or the one in
// bin/ostemplates, which it builds with hack/build-ostemplate.sh when missing.
func Template(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("LXCTM_OSTEMPLATE"); p != "" {
		return p
	}
	templateOnce.Lock()
	defer templateOnce.Unlock()
	if templateOnce.path != "" {
		return templateOnce.path
	}
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(root, "bin", "ostemplates", TemplateName)
	if _, err := os.Stat(p); err != nil {
		t.Logf("Building the OS template with hack/build-ostemplate.sh (a few minutes, once)")
		cmd := exec.Command(filepath.Join(root, "hack", "build-ostemplate.sh"))
		cmd.Dir = root
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("build OS template: %v\n%s", err, out)
		}
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("OS template: %v", err)
	}
	templateOnce.path = p
	return p
}

func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "hack", "build-ostemplate.sh")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("cannot find the repository root (hack/build-ostemplate.sh) above the working directory")
		}
		dir = parent
	}
}

// Network reserves a bridge name and a 169.254.X.0/24 subnet that no other test (in this or
// another process) holds, by a lock file per subnet that lives as long as the test. It is for
// real LXC containers, so it calls RequireHost first.
func Network(t testing.TB) (bridge string, subnet netip.Prefix) {
	t.Helper()
	RequireHost(t)
	n, err := rand.Int(rand.Reader, big.NewInt(250))
	if err != nil {
		t.Fatal(err)
	}
	start := int(n.Int64())
	for i := range 250 {
		x := 2 + (start+i)%250 // 169.254.2.0 … 169.254.251.0; the first and last /24 are reserved
		if x == 169 {
			continue // 169.254.169.254 is the cloud metadata address; pvesim leaves that /24 alone
		}
		f, err := openSubnetLock(x)
		if err != nil {
			t.Fatal(err)
		}
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
			f.Close()
			continue
		}
		subnet := netip.PrefixFrom(netip.AddrFrom4([4]byte{169, 254, byte(x), 0}), 24)
		if inUse(subnet) {
			f.Close()
			continue
		}
		bridge := fmt.Sprintf("ltmt%d", x)
		// A bridge of this name is left from a test process that died; the lock says no
		// one uses it now.
		_ = exec.Command("ip", "link", "del", bridge).Run()
		t.Cleanup(func() { f.Close() })
		return bridge, subnet
	}
	t.Fatal("no free link-local /24 for a test bridge")
	return "", netip.Prefix{}
}

// ReserveSubnet waits until no other test (in this or another process) holds the
// 169.254.X.0/24 subnet containing subnet, and keeps it for the test: for a test that runs a
// simulator on a network it does not choose, such as the one pvesim derives from its state
// directory, so that Network hands that subnet to no one else meanwhile.
func ReserveSubnet(t testing.TB, subnet netip.Prefix) {
	t.Helper()
	a := subnet.Masked().Addr()
	if !a.Is4() || subnet.Bits() < 24 || a.As4()[0] != 169 || a.As4()[1] != 254 {
		t.Fatalf("lxctest: %s is not inside a 169.254.X.0/24", subnet)
	}
	f, err := openSubnetLock(int(a.As4()[2]))
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Minute)
	for syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) != nil {
		if time.Now().After(deadline) {
			f.Close()
			t.Fatalf("lxctest: another test has held %s for 5 minutes", subnet)
		}
		time.Sleep(time.Second)
	}
	t.Cleanup(func() { f.Close() })
}

// openSubnetLock opens the lock file of 169.254.x.0/24; a test holds the subnet while it holds
// an exclusive flock on it.
func openSubnetLock(x int) (*os.File, error) {
	lockDir := "/run/lock"
	if _, err := os.Stat(lockDir); err != nil {
		lockDir = os.TempDir()
	}
	return os.OpenFile(filepath.Join(lockDir, fmt.Sprintf("lxctest-169.254.%d.lock", x)), os.O_CREATE|os.O_RDWR, 0o644)
}

// inUse reports whether a host interface other than a test bridge holds an address in subnet.
func inUse(subnet netip.Prefix) bool {
	out, err := exec.Command("ip", "-o", "-4", "addr", "show").Output()
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) < 4 || strings.HasPrefix(f[1], "ltmt") {
			continue
		}
		if p, err := netip.ParsePrefix(f[3]); err == nil && p.Masked().Overlaps(subnet) {
			return true
		}
	}
	return false
}

// NewSigner makes a fresh ed25519 key.
func NewSigner(t testing.TB) ssh.Signer {
	t.Helper()
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := ssh.NewSignerFromKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func randomHex(t testing.TB, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// SSHAddr is host:port of the container's sshd.
func (c *CT) SSHAddr() string { return netip.AddrPortFrom(c.Addr, 22).String() }

// Exec runs a command inside the container (through lxc-attach, not SSH) and returns its
// output; the test fails if the command does.
func (c *CT) Exec(t testing.TB, command ...string) string {
	t.Helper()
	out, err := c.exec(command...)
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(command, " "), err, out)
	}
	return out
}

func (c *CT) exec(command ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	args := append([]string{"-P", c.lxcPath(), "-n", fmt.Sprint(c.Spec.VMID), "--clear-env",
		"--set-var", "PATH=/usr/sbin:/usr/bin:/sbin:/bin", "--"}, command...)
	out, err := exec.CommandContext(ctx, "lxc-attach", args...).CombinedOutput()
	return string(out), err
}

func (c *CT) lxcPath() string { return c.Backend.LXCPath() }

// WaitBooted waits until systemd finished booting and sshd listens, and fails the test if
// the system is not "running" then.
func (c *CT) WaitBooted(t testing.TB) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	var state string
	for time.Now().Before(deadline) {
		out, _ := c.exec("systemctl", "is-system-running", "--wait")
		state = strings.TrimSpace(out)
		if state == "running" || state == "degraded" {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if state != "running" {
		failed, _ := c.exec("systemctl", "--failed", "--no-pager")
		t.Fatalf("container %d: system state %q, want running\n%s", c.Spec.VMID, state, failed)
	}
	c.WaitSSH(t)
}

// WaitSSH waits until sshd accepts TCP connections.
func (c *CT) WaitSSH(t testing.TB) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		out, _ := c.exec("ss", "-Htln", "sport = :22")
		if strings.Contains(out, ":22") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("container %d: sshd does not listen", c.Spec.VMID)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// StopSSH stops sshd (its socket closes; connections are refused).
func (c *CT) StopSSH(t testing.TB) {
	t.Helper()
	c.Exec(t, "systemctl", "stop", "ssh.service")
}

// StartSSH starts sshd and waits until it listens.
func (c *CT) StartSSH(t testing.TB) {
	t.Helper()
	c.Exec(t, "systemctl", "start", "ssh.service")
	c.WaitSSH(t)
}

// StartSSHAfter starts sshd after delay in the background, for tests of clients that retry
// while sshd comes up. The returned channel yields the outcome.
func (c *CT) StartSSHAfter(delay time.Duration) <-chan error {
	done := make(chan error, 1)
	go func() {
		time.Sleep(delay)
		out, err := c.exec("systemctl", "start", "ssh.service")
		if err != nil {
			err = fmt.Errorf("start sshd: %w: %s", err, out)
		}
		done <- err
	}()
	return done
}

// RestartSSH restarts sshd and waits until it listens again.
func (c *CT) RestartSSH(t testing.TB) {
	t.Helper()
	c.Exec(t, "systemctl", "restart", "ssh.service")
	c.WaitSSH(t)
}

// RegenerateHostKeys replaces all of sshd's host keys and restarts it, so clients that
// remembered the old key must refuse the new one.
func (c *CT) RegenerateHostKeys(t testing.TB) {
	t.Helper()
	c.Exec(t, "/bin/sh", "-c", "rm -f /etc/ssh/ssh_host_* && ssh-keygen -A >/dev/null")
	c.RestartSSH(t)
}

// HostKey returns sshd's ed25519 host key, for a known_hosts entry.
func (c *CT) HostKey(t testing.TB) ssh.PublicKey {
	t.Helper()
	out := c.Exec(t, "cat", "/etc/ssh/ssh_host_ed25519_key.pub")
	key, _, _, _, err := ssh.ParseAuthorizedKey([]byte(out))
	if err != nil {
		t.Fatalf("parse host key: %v", err)
	}
	return key
}

// Dial opens an SSH connection as root with the container's key, trusting the current host key.
func (c *CT) Dial(t testing.TB) *ssh.Client {
	t.Helper()
	client, err := ssh.Dial("tcp", c.SSHAddr(), &ssh.ClientConfig{
		User:              "root",
		Auth:              []ssh.AuthMethod{ssh.PublicKeys(c.Signer)},
		HostKeyCallback:   ssh.FixedHostKey(c.HostKey(t)),
		HostKeyAlgorithms: []string{ssh.KeyAlgoED25519},
		Timeout:           10 * time.Second,
	})
	if err != nil {
		t.Fatalf("ssh to %s: %v", c.SSHAddr(), err)
	}
	t.Cleanup(func() { client.Close() })
	return client
}

func logConsole(t testing.TB, b *lxc.Backend, vmid int) {
	data, err := os.ReadFile(filepath.Join(b.LXCPath(), fmt.Sprint(vmid), "console.log"))
	if err != nil {
		return
	}
	t.Logf("console of container %d:\n%s", vmid, lastBytes(data, 4000))
}

func lastBytes(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

// testWriter sends the backend's log to the test log.
type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

var _ io.Writer = testWriter{}
