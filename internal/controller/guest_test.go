package controller

import (
	"context"
	"errors"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
	"templatemanager.dev/lxc-template-manager/internal/outcome"
	"templatemanager.dev/lxc-template-manager/internal/proxmox"
	"templatemanager.dev/lxc-template-manager/internal/ssh"
)

// probeSession answers the guest probe with fixed output; nothing else may be asked of it.
type probeSession struct {
	ssh.Session
	out   string
	lines []string
}

func (p *probeSession) Exec(_ context.Context, cmd ssh.Command) (ssh.Result, error) {
	p.lines = append(p.lines, cmd.Line)
	return ssh.Result{Stdout: []byte(p.out)}, nil
}

// TestCheckGuest covers the first-contact check on its own; test/e2e TestOwnership shows the
// address conflict on real containers.
func TestCheckGuest(t *testing.T) {
	const mac = "BC:24:11:00:00:01"
	for _, c := range []struct {
		name, out, reason, says string
	}{
		{"this container", "bc:24:11:00:00:01\nbash\nsystemd\n", "", ""},
		{"another container at the address", "bc:24:11:00:00:99\nbash\nsystemd\n", lxcv1.AddressConflictReason, "its eth0 has MAC address bc:24:11:00:00:99, while net0 of CT 100 has " + mac},
		{"no bash", "bc:24:11:00:00:01\n-\nsystemd\n", lxcv1.UnsupportedGuestReason, "has no bash:"},
		{"no systemd", "bc:24:11:00:00:01\nbash\n-\n", lxcv1.UnsupportedGuestReason, "has no systemd as init:"},
		{"neither", "bc:24:11:00:00:01\n-\n-\n", lxcv1.UnsupportedGuestReason, "has no bash and no systemd as init"},
		{"no answer", "", lxcv1.AddressConflictReason, "its eth0 has MAC address (none)"},
	} {
		t.Run(c.name, func(t *testing.T) {
			obj := &lxcv1.LXCContainer{ObjectMeta: metav1.ObjectMeta{Name: "web"}}
			obj.Status.VMID, obj.Status.IPAddress = 100, "169.254.10.250"
			s := &containerScope{obj: obj}
			view := &proxmoxView{config: &proxmox.ContainerConfig{Nets: map[int]proxmox.NetConfig{0: {Name: "eth0", HWAddr: mac}}}}
			sess := &probeSession{out: c.out}
			err := (&LXCContainerReconciler{}).checkGuest(context.Background(), s, view, sess)
			if len(sess.lines) != 1 || sess.lines[0] != guestProbe {
				t.Errorf("ran %q, want the probe alone", sess.lines)
			}
			if c.reason == "" {
				if err != nil {
					t.Errorf("refused: %v", err)
				}
				return
			}
			var stall *outcome.StallError
			if !errors.As(err, &stall) || stall.Reason != c.reason || !strings.Contains(stall.Error(), c.says) {
				t.Errorf("got %v, want %s saying %q", err, c.reason, c.says)
			}
		})
	}
}
