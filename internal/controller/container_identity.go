package controller

import (
	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"

	"context"
	"strings"

	"templatemanager.dev/lxc-template-manager/internal/outcome"
	"templatemanager.dev/lxc-template-manager/internal/ssh"
)

// guestProbe reads, in one command and without changing anything, what identifies the guest
// and what config-manager needs of it: eth0's MAC address, bash, and systemd as init.
const guestProbe = `cat /sys/class/net/eth0/address 2>/dev/null || echo -; ` +
	`command -v bash >/dev/null 2>&1 && echo bash || echo -; ` +
	`[ -d /run/systemd/system ] && echo systemd || echo -`

// checkGuest refuses a machine that is not this container — another container answering at its
// address: a static address given twice, a lease handed out again — by comparing eth0's MAC
// address with the one Proxmox gave net0; our scripts would run there, and its credentials
// would be copied here. It also refuses a guest config-manager cannot run on.
func (r *LXCContainerReconciler) checkGuest(ctx context.Context, s *containerScope, view *proxmoxView, sess ssh.Session) error {
	cfg, err := view.readConfig(ctx, s)
	if err != nil {
		return err
	}
	res, err := sess.Exec(ctx, ssh.Command{Line: guestProbe})
	if err != nil {
		return err
	}
	lines := strings.Split(strings.TrimSpace(string(res.Stdout)), "\n")
	for len(lines) < 3 {
		lines = append(lines, "-")
	}
	addr := s.obj.Status.IPAddress
	want, seen := cfg.Nets[0].HWAddr, strings.TrimSpace(lines[0])
	if seen == "" || seen == "-" {
		seen = "(none)"
	}
	if want != "" && !strings.EqualFold(want, seen) {
		return outcome.Stall(lxcv1.AddressConflictReason,
			"the machine answering at %s is not CT %d: its eth0 has MAC address %s, while net0 of CT %d has %s; another container holds the address, so nothing was run there",
			addr, s.obj.Status.VMID, seen, s.obj.Status.VMID, want)
	}
	var missing []string
	if strings.TrimSpace(lines[1]) != "bash" {
		missing = append(missing, "bash")
	}
	if strings.TrimSpace(lines[2]) != "systemd" {
		missing = append(missing, "systemd as init")
	}
	if len(missing) > 0 {
		return outcome.Stall(lxcv1.UnsupportedGuestReason, "the guest of CT %d has no %s: config-manager runs as a systemd unit and its scripts with bash",
			s.obj.Status.VMID, strings.Join(missing, " and no "))
	}
	return nil
}
