package lxc_test

import (
	"bytes"
	"context"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"templatemanager.dev/lxc-template-manager/internal/pvesim"
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
