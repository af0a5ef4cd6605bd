package controller

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
	"templatemanager.dev/lxc-template-manager/internal/desired"
	"templatemanager.dev/lxc-template-manager/internal/outcome"
	"templatemanager.dev/lxc-template-manager/internal/proxmox"
	"templatemanager.dev/lxc-template-manager/internal/ssh"
)

// probeSession answers every command with fixed output, recording what was asked.
type probeSession struct {
	ssh.Session
	out   string
	lines []string
}

func (p *probeSession) Exec(_ context.Context, cmd ssh.Command) (ssh.Result, error) {
	p.lines = append(p.lines, cmd.Line)
	return ssh.Result{Stdout: []byte(p.out)}, nil
}

// identityProxmox is what Proxmox says of CT 100: net0's MAC address and eth0's addresses.
type identityProxmox struct {
	proxmox.Client
	mac   string
	addrs []string
}

func (p *identityProxmox) ContainerConfig(context.Context, string, int) (proxmox.ContainerConfig, error) {
	return proxmox.ContainerConfig{Nets: map[int]proxmox.NetConfig{0: {Name: "eth0", HWAddr: p.mac}}}, nil
}

func (p *identityProxmox) ContainerInterfaces(context.Context, string, int) ([]proxmox.Interface, error) {
	eth0 := proxmox.Interface{Name: "eth0", HWAddr: p.mac}
	for _, a := range p.addrs {
		eth0.Addresses = append(eth0.Addresses, netip.MustParsePrefix(a+"/24"))
	}
	lo := proxmox.Interface{Name: "lo", Addresses: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/8")}}
	return []proxmox.Interface{lo, eth0}, nil
}

// TestIdentityCheck covers the check each new connection passes on its own; test/e2e
// TestOwnership shows the address conflict on real containers.
func TestIdentityCheck(t *testing.T) {
	const mac, addr = "BC:24:11:00:00:01", "169.254.10.250"
	for _, c := range []struct {
		name, out string
		proxmox   []string
		reason    string // the stall's; "moved" for an addressMovedError
		says      string
	}{
		{"this container", "bc:24:11:00:00:01\n", []string{addr}, "", ""},
		{"eth0 without an address yet", "bc:24:11:00:00:01\n", nil, "", ""},
		{"another container at the address", "bc:24:11:00:00:99\n", []string{addr}, lxcv1.AddressConflictReason, "its eth0 has MAC address bc:24:11:00:00:99, while net0 of CT 100 has " + mac},
		{"no answer", "", []string{addr}, lxcv1.AddressConflictReason, "its eth0 has MAC address (none)"},
		{"a lease that moved", "bc:24:11:00:00:01\n", []string{"169.254.10.7"}, "moved", "Proxmox shows eth0 of CT 100 with 169.254.10.7, not " + addr},
	} {
		t.Run(c.name, func(t *testing.T) {
			px := &identityProxmox{mac: mac, addrs: c.proxmox}
			sess := &probeSession{out: c.out}
			err := identityCheck(px, "pve1", 100, addr)(context.Background(), sess)
			var moved *addressMovedError
			var refused *outcome.ReasonedError
			switch {
			case c.reason == "":
				if err != nil {
					t.Errorf("refused: %v", err)
				}
			case c.reason == "moved":
				if !errors.As(err, &moved) || !strings.Contains(err.Error(), c.says) {
					t.Errorf("got %v, want the address moved saying %q", err, c.says)
				}
				if len(sess.lines) != 0 {
					t.Errorf("ran %q on a machine Proxmox does not show at the address", sess.lines)
				}
				return
			case !errors.As(err, &refused) || refused.Reason != c.reason || !strings.Contains(refused.Error(), c.says):
				t.Errorf("got %v, want %s saying %q", err, c.reason, c.says)
			}
			if len(sess.lines) != 1 || sess.lines[0] != macProbe {
				t.Errorf("ran %q, want the MAC probe alone", sess.lines)
			}
		})
	}
}

// TestCheckSupport: a guest without bash or systemd is refused at first contact.
func TestCheckSupport(t *testing.T) {
	for _, c := range []struct {
		name, out, says string
	}{
		{"bash and systemd", "bash\nsystemd\n", ""},
		{"no bash", "-\nsystemd\n", "has no bash:"},
		{"no systemd", "bash\n-\n", "has no systemd as init:"},
		{"neither", "-\n-\n", "has no bash and no systemd as init"},
		{"no answer", "", "has no bash and no systemd as init"},
	} {
		t.Run(c.name, func(t *testing.T) {
			obj := &lxcv1.LXCContainer{ObjectMeta: metav1.ObjectMeta{Name: "web"}}
			obj.Status.VMID = 100
			sess := &probeSession{out: c.out}
			err := checkSupport(context.Background(), &containerScope{obj: obj}, sess)
			if len(sess.lines) != 1 || sess.lines[0] != supportProbe {
				t.Errorf("ran %q, want the probe alone", sess.lines)
			}
			var stall *outcome.StallError
			if c.says == "" {
				if err != nil {
					t.Errorf("refused: %v", err)
				}
			} else if !errors.As(err, &stall) || stall.Reason != lxcv1.UnsupportedGuestReason || !strings.Contains(stall.Error(), c.says) {
				t.Errorf("got %v, want %s saying %q", err, lxcv1.UnsupportedGuestReason, c.says)
			}
		})
	}
}

// TestHostKeyChanged: a host key other than the pinned one at the container's address is
// followed to the container's new address when Proxmox no longer shows the old one on it (a
// lease handed on: nobody needs to act), pinned when the accept-host-key annotation names it,
// and otherwise a stall that says how to accept it — never a remedy that writes status.
func TestHostKeyChanged(t *testing.T) {
	const mac, addr = "BC:24:11:00:00:01", "169.254.10.250"
	mismatch := &ssh.HostKeyMismatchError{Address: addr, Expected: "SHA256:pinned", Seen: "SHA256:seen"}
	for _, c := range []struct {
		name     string
		proxmox  []string
		accept   string
		kind     outcome.Kind
		reason   string
		says     string
		pinned   string
		announce string
	}{
		{"the lease moved", []string{"169.254.10.7"}, "", outcome.Waiting, lxcv1.WaitingForAddressReason,
			"Proxmox shows eth0 of CT 100 with 169.254.10.7, not " + addr, "SHA256:pinned", ""},
		{"accepted by annotation", []string{addr}, "SHA256:seen", outcome.Waiting, lxcv1.ConnectingReason,
			"accepted SSH host key SHA256:seen", "SHA256:seen", "presented SSH host key SHA256:seen instead of the pinned SHA256:pinned"},
		{"an old annotation", []string{addr}, "SHA256:older", outcome.Stalled, lxcv1.HostKeyMismatchReason,
			lxcv1.AcceptHostKeyAnnotation + "=SHA256:seen", "SHA256:pinned", ""},
		{"not accepted", []string{addr}, "", outcome.Stalled, lxcv1.HostKeyMismatchReason,
			"Proxmox shows the address on CT 100; if its host keys were made again on purpose, annotate this LXCContainer with " +
				lxcv1.AcceptHostKeyAnnotation + "=SHA256:seen", "SHA256:pinned", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			obj := &lxcv1.LXCContainer{ObjectMeta: metav1.ObjectMeta{Name: "web", UID: "u1"}}
			if c.accept != "" {
				obj.Annotations = map[string]string{lxcv1.AcceptHostKeyAnnotation: c.accept}
			}
			obj.Status.VMID, obj.Status.Node, obj.Status.IPAddress, obj.Status.SSHHostKey = 100, "pve1", addr, "SHA256:pinned"
			s := &containerScope{obj: obj, px: &identityProxmox{mac: mac, addrs: c.proxmox},
				desired: &desired.Container{Network: lxcv1.Network{IPv4: "dhcp"}}}
			events := &notes{}
			r := &LXCContainerReconciler{Recorder: events}
			got := outcome.Of(r.hostKeyChanged(context.Background(), s, mismatch))
			if got.Kind != c.kind || got.Reason != c.reason || !strings.Contains(got.Message, c.says) {
				t.Errorf("got %+v, want kind %d, reason %s, saying %q", got, c.kind, c.reason, c.says)
			}
			if obj.Status.SSHHostKey != c.pinned {
				t.Errorf("pinned %s, want %s", obj.Status.SSHHostKey, c.pinned)
			}
			if said := strings.Join(events.got, "\n"); c.announce == "" && said != "" || !strings.Contains(said, c.announce) {
				t.Errorf("Events %q, want %q", said, c.announce)
			}
		})
	}
}
