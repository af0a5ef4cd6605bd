package lxc

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// dhcpServer is a dnsmasq bound to the simulator's bridge that answers only the MAC addresses
// the simulator leased an address to, with exactly that address. It serves no DNS, names no
// router and keeps its files in the state directory.
type dhcpServer struct {
	dir    string
	bridge string
	subnet netip.Prefix
	log    *slog.Logger

	cmd   *exec.Cmd
	done  chan struct{}
	hosts map[string]netip.Addr // lower-case MAC → address
}

func newDHCPServer(dir, bridge string, subnet netip.Prefix, log *slog.Logger) *dhcpServer {
	return &dhcpServer{dir: dir, bridge: bridge, subnet: subnet, log: log, hosts: map[string]netip.Addr{}}
}

func (d *dhcpServer) path(name string) string { return filepath.Join(d.dir, name) }

func (d *dhcpServer) config() string {
	mask := net.IP(net.CIDRMask(d.subnet.Bits(), 32)).String()
	lines := []string{
		"port=0", // no DNS
		"interface=" + d.bridge,
		"bind-interfaces",
		"no-resolv",
		"no-hosts",
		fmt.Sprintf("dhcp-range=%s,static,%s,12h", d.subnet.Masked().Addr(), mask),
		"dhcp-hostsfile=" + d.path("hosts"),
		"dhcp-leasefile=" + d.path("leases"),
		"pid-file=" + d.path("dnsmasq.pid"),
		"dhcp-authoritative",
		"dhcp-option=option:router",
		"dhcp-option=option:dns-server",
		// The state directory may be private to root; dnsmasq re-reads the hosts file after
		// dropping privileges.
		"user=root",
		"group=root",
		"log-dhcp",
		"log-facility=" + d.path("dnsmasq.log"),
	}
	return strings.Join(lines, "\n") + "\n"
}

func (d *dhcpServer) hostsFile() string {
	var b strings.Builder
	for _, mac := range slices.Sorted(maps.Keys(d.hosts)) {
		fmt.Fprintf(&b, "%s,%s\n", mac, d.hosts[mac])
	}
	return b.String()
}

// start launches dnsmasq after ending one a previous run of this backend left behind.
func (d *dhcpServer) start() error {
	if err := os.MkdirAll(d.dir, 0o755); err != nil {
		return err
	}
	d.stopStale()
	if err := os.WriteFile(d.path("dnsmasq.conf"), []byte(d.config()), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(d.path("hosts"), []byte(d.hostsFile()), 0o644); err != nil {
		return err
	}
	if err := d.pruneLeases(); err != nil {
		return err
	}
	cmd := exec.Command("dnsmasq", "--keep-in-foreground", "--conf-file="+d.path("dnsmasq.conf"))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	// Its own process group: a terminal's interrupt reaches the simulator, which ends it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start dnsmasq: %w", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	// dnsmasq reports configuration errors by exiting at once.
	select {
	case <-done:
		return fmt.Errorf("dnsmasq exited: %s", strings.TrimSpace(stderr.String()))
	case <-time.After(200 * time.Millisecond):
	}
	d.cmd, d.done = cmd, done
	d.log.Info("Started DHCP server", "bridge", d.bridge, "pid", cmd.Process.Pid)
	return nil
}

// stop ends the dnsmasq this server started.
func (d *dhcpServer) stop() error {
	if d.cmd == nil {
		return nil
	}
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.done:
	case <-time.After(5 * time.Second):
		_ = d.cmd.Process.Kill()
		<-d.done
	}
	d.cmd, d.done = nil, nil
	_ = os.Remove(d.path("dnsmasq.pid"))
	return nil
}

// stopStale ends a dnsmasq whose pid file this state directory holds, if that process really
// is a dnsmasq started with this directory's configuration.
func (d *dhcpServer) stopStale() {
	data, err := os.ReadFile(d.path("dnsmasq.pid"))
	if err != nil {
		return
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil || pid <= 1 {
		return
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil || !bytes.Contains(cmdline, []byte("--conf-file="+d.path("dnsmasq.conf"))) {
		return
	}
	d.log.Info("Stopping DHCP server of a previous run", "pid", pid)
	_ = syscall.Kill(pid, syscall.SIGTERM)
	for range 50 {
		if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	_ = syscall.Kill(pid, syscall.SIGKILL)
}

// pruneLeases drops leases that no longer match a host entry, so an address handed to a
// destroyed container can go to the next one at once.
func (d *dhcpServer) pruneLeases() error {
	data, err := os.ReadFile(d.path("leases"))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var kept []string
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) < 3 {
			continue
		}
		addr, err := netip.ParseAddr(f[2])
		if err == nil && d.hosts[strings.ToLower(f[1])] == addr {
			kept = append(kept, line)
		}
	}
	out := strings.Join(kept, "\n")
	if out != "" {
		out += "\n"
	}
	return os.WriteFile(d.path("leases"), []byte(out), 0o644)
}

// setHosts replaces the table of leased addresses. Additions reach the running dnsmasq by
// SIGHUP; a removed or changed entry restarts it, because dnsmasq keeps handed-out leases in
// memory and would refuse the address to its next owner.
func (d *dhcpServer) setHosts(hosts map[string]netip.Addr) error {
	removed := false
	for mac, addr := range d.hosts {
		if hosts[mac] != addr {
			removed = true
		}
	}
	if maps.Equal(hosts, d.hosts) {
		return nil
	}
	d.hosts = maps.Clone(hosts)
	if d.cmd == nil {
		return os.WriteFile(d.path("hosts"), []byte(d.hostsFile()), 0o644)
	}
	if removed {
		if err := d.stop(); err != nil {
			return err
		}
		return d.start()
	}
	if err := os.WriteFile(d.path("hosts"), []byte(d.hostsFile()), 0o644); err != nil {
		return err
	}
	return d.cmd.Process.Signal(syscall.SIGHUP)
}
