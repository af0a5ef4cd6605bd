package lxc_test

import (
	"bytes"
	"context"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"templatemanager.dev/lxc-template-manager/internal/pvesim"
	"templatemanager.dev/lxc-template-manager/internal/pvesim/lxc"
	"templatemanager.dev/lxc-template-manager/internal/pvesim/lxc/lxctest"
)

// sshRun runs a command over SSH and returns its standard output.
func sshRun(t *testing.T, client *ssh.Client, cmd string) string {
	t.Helper()
	s, err := client.NewSession()
	if err != nil {
		t.Fatalf("ssh session: %v", err)
	}
	defer s.Close()
	var stdout, stderr bytes.Buffer
	s.Stdout, s.Stderr = &stdout, &stderr
	if err := s.Run(cmd); err != nil {
		t.Fatalf("%s over ssh: %v\n%s%s", cmd, err, stdout.String(), stderr.String())
	}
	return stdout.String()
}

func findInterface(ifaces []pvesim.Interface, name string) (pvesim.Interface, bool) {
	for _, i := range ifaces {
		if i.Name == name {
			return i, true
		}
	}
	return pvesim.Interface{}, false
}

func hasAddress(iface pvesim.Interface, want netip.Addr) bool {
	return slices.ContainsFunc(iface.Addresses, func(p netip.Prefix) bool { return p.Addr() == want })
}

// TestStaticContainer boots an unprivileged container with a static net0 and logs into it
// with the key given at create.
func TestStaticContainer(t *testing.T) {
	t.Parallel()
	started := time.Now()
	ct := lxctest.Container(t, lxctest.Hostname("web1.example.test"))
	t.Logf("Container booted in %s", time.Since(started).Round(time.Millisecond))

	ctx := context.Background()
	ifaces, err := ct.Backend.Interfaces(ctx, ct.Spec.VMID)
	if err != nil {
		t.Fatal(err)
	}
	eth0, ok := findInterface(ifaces, "eth0")
	if !ok {
		t.Fatalf("no eth0 in %+v", ifaces)
	}
	if !hasAddress(eth0, ct.Addr) || !strings.EqualFold(eth0.HWAddr, ct.Spec.Networks[0].HWAddr) {
		t.Fatalf("eth0 = %+v, want address %s and MAC %s", eth0, ct.Addr, ct.Spec.Networks[0].HWAddr)
	}
	if _, ok := findInterface(ifaces, "lo"); !ok {
		t.Errorf("no lo in %+v", ifaces)
	}

	client := ct.Dial(t)
	if got := strings.TrimSpace(sshRun(t, client, "systemctl is-system-running")); got != "running" {
		t.Errorf("systemctl is-system-running = %q, want running", got)
	}
	if got := sshRun(t, client, "ss -tln"); !strings.Contains(got, ":22 ") {
		t.Errorf("ss -tln shows no sshd:\n%s", got)
	}
	if got := strings.TrimSpace(sshRun(t, client, "hostname")); got != "web1" {
		t.Errorf("hostname = %q, want web1", got)
	}
	if got := sshRun(t, client, "cat /etc/hosts"); !strings.Contains(got, "127.0.1.1 web1.example.test web1\n") {
		t.Errorf("/etc/hosts does not name the container:\n%s", got)
	}
	if got := sshRun(t, client, "ip route"); !strings.Contains(got, "default via "+ct.Backend.HostAddress().String()) {
		t.Errorf("gateway from gw= missing:\n%s", got)
	}
	// Unprivileged: root inside is 100000 outside.
	if got := strings.Fields(sshRun(t, client, "cat /proc/self/uid_map")); len(got) != 3 || got[1] != "100000" {
		t.Errorf("uid_map = %v, want root mapped to 100000", got)
	}
	// The root password set at create is root's password (checked by PAM's own helper).
	checkPassword := func(pw string) error {
		s, err := client.NewSession()
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		s.Stdin = strings.NewReader(pw + "\x00")
		return s.Run("/usr/sbin/unix_chkpwd root nullok")
	}
	if err := checkPassword(ct.RootPassword); err != nil {
		t.Errorf("root password set at create is not accepted: %v", err)
	}
	if err := checkPassword("not-the-password"); err == nil {
		t.Errorf("a wrong root password is accepted")
	}
	// The host reaches the container on the bridge, and the container the host.
	if got := sshRun(t, client, "ip -4 -o addr show eth0"); !strings.Contains(got, ct.Addr.String()+"/24") {
		t.Errorf("eth0 inside: %s", got)
	}
}

// TestDHCPContainer boots a privileged container whose eth0 asks for DHCP: the simulator's
// DHCP server hands it exactly the leased address.
func TestDHCPContainer(t *testing.T) {
	t.Parallel()
	ct := lxctest.Container(t, lxctest.DHCP(), lxctest.Privileged(), lxctest.VMID(123))
	lease := ct.Spec.Networks[0].Lease.Addr()

	ifaces, err := ct.Backend.Interfaces(context.Background(), ct.Spec.VMID)
	if err != nil {
		t.Fatal(err)
	}
	eth0, ok := findInterface(ifaces, "eth0")
	if !ok || !hasAddress(eth0, lease) {
		t.Fatalf("interfaces = %+v, want eth0 with the leased %s", ifaces, lease)
	}
	client := ct.Dial(t)
	// The address came from dhclient, not from a static configuration.
	if got := sshRun(t, client, "ip -4 -o addr show eth0"); !strings.Contains(got, lease.String()+"/24") || !strings.Contains(got, "dynamic") {
		t.Errorf("eth0 inside is not the dynamic lease %s: %s", lease, got)
	}
	if got := strings.TrimSpace(sshRun(t, client, "systemctl is-system-running")); got != "running" {
		t.Errorf("systemctl is-system-running = %q, want running", got)
	}
	// Privileged: root inside is root outside.
	if got := strings.Fields(sshRun(t, client, "cat /proc/self/uid_map")); len(got) != 3 || got[1] != "0" {
		t.Errorf("uid_map = %v, want identity", got)
	}
	// No router and no DNS server come with the lease: nothing leads off the bridge.
	if got := sshRun(t, client, "ip route"); strings.Contains(got, "default") {
		t.Errorf("DHCP gave a default route:\n%s", got)
	}
}

// waitFor polls cond until it holds or the timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func cgroupValue(t *testing.T, b *lxc.Backend, vmid int, key string) string {
	t.Helper()
	out, err := exec.Command("lxc-cgroup", "-P", b.LXCPath(), "-n", strconv.Itoa(vmid), key).CombinedOutput()
	if err != nil {
		t.Fatalf("lxc-cgroup %s: %v\n%s", key, err, out)
	}
	return strings.TrimSpace(string(out))
}

// TestLifecycle drives one container through create, start, live and offline
// reconfiguration, shutdown, kill and destroy.
func TestLifecycle(t *testing.T) {
	// Not parallel: its mount point hot-plug enters a container's mount namespace on a thread of
	// this process, and the other tests check the host's mounts of their own containers.
	ctx := context.Background()
	b, subnet := lxctest.Backend(t)
	signer := lxctest.NewSigner(t)
	addr := netip.PrefixFrom(subnet.Addr().Next().Next(), 24)
	spec := pvesim.ContainerSpec{
		VMID:         200,
		Node:         "pve1",
		Hostname:     "life",
		OSTemplate:   lxctest.Template(t),
		SSHKeys:      string(ssh.MarshalAuthorizedKey(signer.PublicKey())),
		Unprivileged: true,
		Cores:        1,
		MemoryMiB:    256,
		SwapMiB:      256,
		Networks: []pvesim.NetworkSpec{{
			Index: 0, Name: "eth0", Bridge: "vmbr0", HWAddr: "BC:24:11:AA:BB:01", Address: addr,
		}},
	}
	if err := b.Create(ctx, spec); err != nil {
		t.Fatal(err)
	}
	if err := b.Create(ctx, spec); err == nil {
		t.Fatal("creating the same vmid twice succeeded")
	}
	if running, err := b.State(ctx, spec.VMID); err != nil || running {
		t.Fatalf("State after create = %v, %v; want stopped", running, err)
	}
	wantNothingMounted(t, b, spec.VMID, "after create")
	if _, err := b.Interfaces(ctx, spec.VMID); err == nil {
		t.Error("Interfaces of a stopped container succeeded")
	}

	if err := b.Start(ctx, spec); err != nil {
		t.Fatal(err)
	}
	if err := b.Start(ctx, spec); err == nil {
		t.Error("starting a running container succeeded")
	}
	ct := &lxctest.CT{Backend: b, Spec: spec, Addr: addr.Addr(), Signer: signer}
	ct.WaitBooted(t)
	if running, err := b.State(ctx, spec.VMID); err != nil || !running {
		t.Fatalf("State after start = %v, %v; want running", running, err)
	}
	wantRootfsMounted(t, b, spec.VMID, "after start")
	if got := cgroupValue(t, b, spec.VMID, "memory.limit_in_bytes"); got != strconv.Itoa(256<<20) {
		t.Errorf("memory limit = %s, want 256 MiB", got)
	}
	if got := strings.TrimSpace(ct.Exec(t, "nproc")); got != "1" {
		t.Errorf("nproc = %s, want 1 (cores=1)", got)
	}

	// Live: memory and a new static address; the hostname waits for the next start, as in PVE.
	moved := netip.PrefixFrom(addr.Addr().Next(), 24)
	live := spec
	live.Hostname = "life2"
	live.MemoryMiB = 512
	live.Networks = []pvesim.NetworkSpec{spec.Networks[0]}
	live.Networks[0].Address = moved
	live.Mounts = []pvesim.MountSpec{{Key: "mp0", Volume: "local-lvm:vm-200-disk-1", Path: "/srv/data", Size: 1 << 30}}
	if err := b.Reconfigure(ctx, live); err != nil {
		t.Fatal(err)
	}
	// A new mount point is hot-plugged, writable by the container's root.
	if got := ct.Exec(t, "sh", "-c", "findmnt -n -o TARGET /srv/data && echo kept > /srv/data/file && cat /srv/data/file"); got != "/srv/data\nkept\n" {
		t.Errorf("hot-plugged mount point: %q", got)
	}
	if got := strings.TrimSpace(ct.Exec(t, "hostname")); got != "life" {
		t.Errorf("hostname after live reconfigure = %q, want the old one until a restart", got)
	}
	if got := cgroupValue(t, b, spec.VMID, "memory.limit_in_bytes"); got != strconv.Itoa(512<<20) {
		t.Errorf("memory limit after live reconfigure = %s, want 512 MiB", got)
	}
	ifaces, err := b.Interfaces(ctx, spec.VMID)
	if err != nil {
		t.Fatal(err)
	}
	if eth0, _ := findInterface(ifaces, "eth0"); !hasAddress(eth0, moved.Addr()) || hasAddress(eth0, addr.Addr()) {
		t.Errorf("eth0 after live reconfigure = %+v, want only %s", eth0, moved)
	}
	ct.Addr = moved.Addr()
	if got := strings.TrimSpace(sshRun(t, ct.Dial(t), "hostname")); got != "life" {
		t.Errorf("hostname over ssh at the new address = %q", got)
	}

	started := time.Now()
	if err := b.Shutdown(ctx, spec.VMID, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	t.Logf("Clean shutdown took %s", time.Since(started).Round(time.Millisecond))
	if running, err := b.State(ctx, spec.VMID); err != nil || running {
		t.Fatalf("State after shutdown = %v, %v; want stopped", running, err)
	}
	wantNothingMounted(t, b, spec.VMID, "after shutdown")
	// A clean poweroff ran systemd's shutdown: the journal of the previous boot ends with it.
	// Offline: a new hostname is written into the stopped container.
	offline := live
	offline.Hostname = "life3"
	offline.Nameservers = []string{"169.254.0.53", "169.254.0.54"}
	offline.SearchDomains = []string{"example.test"}
	if err := b.Reconfigure(ctx, offline); err != nil {
		t.Fatal(err)
	}
	wantNothingMounted(t, b, spec.VMID, "after an offline reconfigure")
	if err := b.Start(ctx, offline); err != nil {
		t.Fatal(err)
	}
	ct.WaitBooted(t)
	if got := strings.TrimSpace(ct.Exec(t, "hostname")); got != "life3" {
		t.Errorf("hostname after offline reconfigure = %q", got)
	}
	if got := ct.Exec(t, "cat", "/etc/resolv.conf"); got != "search example.test\nnameserver 169.254.0.53\nnameserver 169.254.0.54\n" {
		t.Errorf("resolv.conf after a start with nameservers = %q", got)
	}
	if got := ct.Exec(t, "cat", "/srv/data/file"); got != "kept\n" {
		t.Errorf("mount point after a restart: %q", got)
	}
	if got := ct.Exec(t, "journalctl", "-b", "-1", "--no-pager", "-q", "-n", "20"); !strings.Contains(got, "Power-Off") && !strings.Contains(got, "poweroff") {
		t.Errorf("previous boot did not end in a clean poweroff:\n%s", got)
	}

	if err := b.Stop(ctx, spec.VMID); err != nil {
		t.Fatal(err)
	}
	if running, err := b.State(ctx, spec.VMID); err != nil || running {
		t.Fatalf("State after stop = %v, %v; want stopped", running, err)
	}
	wantNothingMounted(t, b, spec.VMID, "after stop")
	if err := b.Stop(ctx, spec.VMID); err != nil {
		t.Errorf("stopping a stopped container: %v", err)
	}

	if err := b.Destroy(ctx, spec.VMID); err != nil {
		t.Fatal(err)
	}
	if _, err := b.State(ctx, spec.VMID); err == nil {
		t.Error("State of a destroyed container succeeded")
	}
	if _, err := os.Stat(filepath.Join(b.LXCPath(), "200")); !os.IsNotExist(err) {
		t.Errorf("container directory still exists: %v", err)
	}
	wantNothingMounted(t, b, spec.VMID, "after destroy")
}

// TestRestartRecovery closes a backend and opens a new one on the same state directory,
// three ways: with the container running (it keeps running and stays reachable), with it
// stopped (the bridge goes; the container starts again and gets its DHCP lease again), and
// after a crash that also took the bridge (the new backend rebuilds it and reattaches). The
// container's root filesystem is mounted exactly once while it runs, whichever backend
// started it, and a crashed backend's mount of a stopped container is gone after the restart.
func TestRestartRecovery(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	bridge, subnet := lxctest.Network(t)
	state := t.TempDir()
	opts := lxctest.Options(t, state, bridge, subnet)
	open := func() *lxc.Backend {
		t.Helper()
		b, err := lxc.New(opts)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { lxctest.Shutdown(t, b) })
		return b
	}
	bridgeExists := func() bool {
		_, err := os.Stat("/sys/class/net/" + bridge)
		return err == nil
	}
	b1 := open()
	signer := lxctest.NewSigner(t)
	lease := netip.PrefixFrom(subnet.Addr().Next().Next().Next().Next(), 24)
	spec := pvesim.ContainerSpec{
		VMID:         300,
		Hostname:     "phoenix",
		OSTemplate:   lxctest.Template(t),
		SSHKeys:      string(ssh.MarshalAuthorizedKey(signer.PublicKey())),
		Unprivileged: true,
		MemoryMiB:    256,
		Networks: []pvesim.NetworkSpec{{
			Index: 0, Name: "eth0", Bridge: "vmbr0", HWAddr: "BC:24:11:AA:BB:03", DHCP: true, Lease: lease,
		}},
	}
	if err := b1.Create(ctx, spec); err != nil {
		t.Fatal(err)
	}
	if err := b1.Start(ctx, spec); err != nil {
		t.Fatal(err)
	}
	ct := &lxctest.CT{Backend: b1, Spec: spec, Addr: lease.Addr(), Signer: signer}
	ct.WaitBooted(t)
	wantRootfsMounted(t, b1, spec.VMID, "after start")
	dnsmasqPid := readPid(t, filepath.Join(state, "lxc-dhcp", "dnsmasq.pid"))

	// Closed while running: the container and its bridge stay, the DHCP server goes.
	if err := b1.Close(); err != nil {
		t.Fatal(err)
	}
	if syscall.Kill(dnsmasqPid, 0) == nil {
		t.Errorf("dnsmasq %d still runs after Close", dnsmasqPid)
	}
	if !bridgeExists() {
		t.Fatal("Close removed the bridge of a running container")
	}
	sshRun(t, ct.Dial(t), "true")
	wantRootfsMounted(t, b1, spec.VMID, "after Close with the container running")
	b2 := open()
	if running, err := b2.State(ctx, spec.VMID); err != nil || !running {
		t.Fatalf("State after restart = %v, %v; want running", running, err)
	}
	wantRootfsMounted(t, b2, spec.VMID, "after restart with the container running")
	ct.Backend = b2
	if eth0, _ := findInterface(mustInterfaces(t, b2, spec.VMID), "eth0"); !hasAddress(eth0, lease.Addr()) {
		t.Fatalf("eth0 after restart = %+v, want the lease %s", eth0, lease)
	}

	// Closed with the container stopped: nothing stays on the host but the files.
	if err := b2.Shutdown(ctx, spec.VMID, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	wantNothingMounted(t, b2, spec.VMID, "after shutdown")
	if err := b2.Close(); err != nil {
		t.Fatal(err)
	}
	if bridgeExists() {
		t.Errorf("bridge %s still exists after Close with nothing running", bridge)
	}
	b3 := open()
	if running, err := b3.State(ctx, spec.VMID); err != nil || running {
		t.Fatalf("State after restart = %v, %v; want stopped", running, err)
	}
	if err := b3.Start(ctx, spec); err != nil {
		t.Fatal(err)
	}
	ct.Backend = b3
	ct.WaitBooted(t)
	wantRootfsMounted(t, b3, spec.VMID, "after start by a restarted backend")
	if eth0, _ := findInterface(mustInterfaces(t, b3, spec.VMID), "eth0"); !hasAddress(eth0, lease.Addr()) {
		t.Fatalf("eth0 after restart = %+v, want the lease %s again", eth0, lease)
	}
	sshRun(t, ct.Dial(t), "true")

	// A simulator that dies leaves its container running; if the bridge went too, the next
	// backend rebuilds it and puts the container back on it. b3 is abandoned, not closed.
	if out, err := exec.Command("ip", "link", "del", bridge).CombinedOutput(); err != nil {
		t.Fatalf("delete bridge: %v\n%s", err, out)
	}
	b4 := open()
	if running, err := b4.State(ctx, spec.VMID); err != nil || !running {
		t.Fatalf("State after crash recovery = %v, %v; want running", running, err)
	}
	ct.Backend = b4
	waitFor(t, 10*time.Second, "ssh after crash recovery", func() bool {
		c, err := net.DialTimeout("tcp", ct.SSHAddr(), time.Second)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	sshRun(t, ct.Dial(t), "true")
	wantRootfsMounted(t, b4, spec.VMID, "after crash recovery")

	// A container that powers itself off leaves its root filesystem mounted until the
	// backend next touches it: a start uses that mount, and a backend restarted after a
	// crash removes it.
	powerOff := func(b *lxc.Backend) {
		t.Helper()
		ct.Exec(t, "systemctl", "--no-block", "poweroff")
		waitFor(t, 30*time.Second, "the container to power off", func() bool {
			running, err := b.State(ctx, spec.VMID)
			return err == nil && !running
		})
		wantRootfsMounted(t, b, spec.VMID, "after a poweroff inside")
	}
	powerOff(b4)
	if err := b4.Start(ctx, spec); err != nil {
		t.Fatal(err)
	}
	ct.WaitBooted(t)
	wantRootfsMounted(t, b4, spec.VMID, "after a start on the remaining mount")
	powerOff(b4)
	b5 := open() // b4 is abandoned, not closed
	wantNothingMounted(t, b5, spec.VMID, "after a restart with the container stopped")
	if err := b5.Start(ctx, spec); err != nil {
		t.Fatal(err)
	}
	ct.Backend = b5
	ct.WaitBooted(t)
	wantRootfsMounted(t, b5, spec.VMID, "after start")
	if got := strings.TrimSpace(sshRun(t, ct.Dial(t), "hostname")); got != "phoenix" {
		t.Errorf("hostname after the restarts = %q", got)
	}
	if err := b5.Destroy(ctx, spec.VMID); err != nil {
		t.Fatal(err)
	}
	wantNothingMounted(t, b5, spec.VMID, "after destroy")
	if _, err := os.Stat(filepath.Join(b5.LXCPath(), strconv.Itoa(spec.VMID))); !os.IsNotExist(err) {
		t.Errorf("container directory still exists: %v", err)
	}
}

func mustInterfaces(t *testing.T, b *lxc.Backend, vmid int) []pvesim.Interface {
	t.Helper()
	ifaces, err := b.Interfaces(context.Background(), vmid)
	if err != nil {
		t.Fatal(err)
	}
	return ifaces
}

func readPid(t *testing.T, file string) int {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil {
		t.Fatal(err)
	}
	return pid
}

// TestBridgeIsolation checks the bridge's address and that nothing on it is forwarded
// to other networks.
func TestBridgeIsolation(t *testing.T) {
	t.Parallel()
	b, subnet := lxctest.Backend(t)
	out, err := exec.Command("ip", "-4", "-o", "addr", "show", "dev", b.Bridge()).Output()
	if err != nil {
		t.Fatal(err)
	}
	if want := subnet.Addr().Next().String() + "/24"; !strings.Contains(string(out), want) {
		t.Errorf("bridge address: %s, want %s", out, want)
	}
	fwd, err := os.ReadFile("/proc/sys/net/ipv4/conf/" + b.Bridge() + "/forwarding")
	if err != nil || strings.TrimSpace(string(fwd)) != "0" {
		t.Errorf("forwarding on the bridge = %q, %v; want 0", fwd, err)
	}
	rules, err := exec.Command("nft", "list", "table", "inet", "pvesim_"+b.Bridge()).CombinedOutput()
	if err != nil {
		t.Fatalf("nft: %v\n%s", err, rules)
	}
	for _, want := range []string{
		`iifname "` + b.Bridge() + `" oifname != "` + b.Bridge() + `" drop`,
		`oifname "` + b.Bridge() + `" iifname != "` + b.Bridge() + `" drop`,
	} {
		if !strings.Contains(string(rules), want) {
			t.Errorf("fence lacks %q:\n%s", want, rules)
		}
	}
	if _, err := lxc.New(lxctest.Options(t, t.TempDir(), "ltmtx"+strconv.Itoa(os.Getpid()%1000), netip.MustParsePrefix("10.1.2.0/24"))); err == nil {
		t.Error("a subnet outside 169.254.0.0/16 was accepted")
	}
	if _, err := lxc.New(lxctest.Options(t, t.TempDir(), "ltmtx"+strconv.Itoa(os.Getpid()%1000), subnet)); err == nil {
		t.Error("a subnet already on another bridge was accepted")
	}
}

// TestCloneAndSnapshot clones a container with its files and rolls one back to a snapshot
// taken while it ran.
func TestCloneAndSnapshot(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ct := lxctest.Container(t, lxctest.VMID(400))
	b := ct.Backend
	ct.Exec(t, "/bin/sh", "-c", "echo one > /root/marker")
	if err := b.Snapshot(ctx, 400, "before"); err != nil {
		t.Fatal(err)
	}
	ct.Exec(t, "/bin/sh", "-c", "echo two > /root/marker")
	machineID := strings.TrimSpace(ct.Exec(t, "cat", "/etc/machine-id"))
	if err := b.Shutdown(ctx, 400, 30*time.Second); err != nil {
		t.Fatal(err)
	}

	clone := ct.Spec
	clone.VMID = 401
	clone.Hostname = "copy"
	clone.RootPassword = ""
	clone.Networks = []pvesim.NetworkSpec{ct.Spec.Networks[0]}
	clone.Networks[0].HWAddr = "BC:24:11:AA:BB:41"
	clone.Networks[0].Address = netip.PrefixFrom(ct.Addr.Next().Next().Next(), 24)
	if err := b.Clone(ctx, 400, clone); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Destroy(context.Background(), 401) })
	if err := b.Start(ctx, clone); err != nil {
		t.Fatal(err)
	}
	cc := &lxctest.CT{Backend: b, Spec: clone, Addr: clone.Networks[0].Address.Addr(), Signer: ct.Signer}
	cc.WaitBooted(t)
	client := cc.Dial(t) // the source's authorized key came along
	if got := strings.TrimSpace(sshRun(t, client, "cat /root/marker")); got != "two" {
		t.Errorf("clone's marker = %q, want the source's latest \"two\"", got)
	}
	if got := strings.TrimSpace(sshRun(t, client, "hostname")); got != "copy" {
		t.Errorf("clone's hostname = %q", got)
	}
	if got := strings.TrimSpace(sshRun(t, client, "cat /etc/machine-id")); got == machineID || got == "" {
		t.Errorf("clone's machine id = %q, source's %q: want a new one", got, machineID)
	}

	if err := b.Rollback(ctx, 400, "before"); err != nil {
		t.Fatal(err)
	}
	if err := b.Start(ctx, ct.Spec); err != nil {
		t.Fatal(err)
	}
	ct.WaitBooted(t)
	if got := strings.TrimSpace(ct.Exec(t, "cat", "/root/marker")); got != "one" {
		t.Errorf("marker after rollback = %q, want \"one\"", got)
	}
	// Containers on one bridge reach each other through the forwarding fence.
	banner := ct.Exec(t, "timeout", "5", "bash", "-c", "exec 3<>/dev/tcp/"+cc.Addr.String()+"/22; head -c 7 <&3")
	if banner != "SSH-2.0" {
		t.Errorf("sshd of the clone seen from the source: %q", banner)
	}
	if err := b.DeleteSnapshot(ctx, 400, "before"); err != nil {
		t.Fatal(err)
	}
	if err := b.Rollback(ctx, 400, "before"); err == nil {
		t.Error("rollback to a deleted snapshot succeeded")
	}
	if err := b.Snapshot(ctx, 400, "../escape"); err == nil {
		t.Error("a snapshot name with a path was accepted")
	}
}
