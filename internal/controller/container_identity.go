package controller

import (
	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"

	"context"
	"errors"
	"fmt"
	"strings"

	"templatemanager.dev/lxc-template-manager/internal/outcome"
	"templatemanager.dev/lxc-template-manager/internal/proxmox"
	"templatemanager.dev/lxc-template-manager/internal/ssh"
)

// macProbe prints eth0's MAC address without changing anything.
const macProbe = `cat /sys/class/net/eth0/address 2>/dev/null || echo -`

// supportProbe says, without changing anything, whether the guest has what config-manager
// needs: bash, and systemd as init.
const supportProbe = `command -v bash >/dev/null 2>&1 && echo bash || echo -; ` +
	`[ -d /run/systemd/system ] && echo systemd || echo -`

// addressMovedError says Proxmox shows the container's eth0 without the address dialled: its
// DHCP lease moved, and another machine may answer at the old address.
type addressMovedError struct {
	vmid    int32
	address string
	proxmox []string
}

func (e *addressMovedError) Error() string {
	return fmt.Sprintf("Proxmox shows eth0 of CT %d with %s, not %s", e.vmid, strings.Join(e.proxmox, ", "), e.address)
}

// identityCheck is run on every new SSH connection to the container, at first contact and after
// each address change, before anything is sent on it: the machine answering at addr must be this
// container as Proxmox knows it. Proxmox's view of the container's interfaces must hold addr
// (when it shows eth0's addresses at all), and the guest's eth0 must carry net0's MAC address.
// Otherwise our scripts would run in another container — a static address given twice, a lease
// handed on — and its credentials would be copied here.
func identityCheck(px proxmox.Client, node string, vmid int32, addr string) func(context.Context, ssh.Session) error {
	return func(ctx context.Context, sess ssh.Session) error {
		if err := proxmoxHolds(ctx, px, node, vmid, addr); err != nil {
			return err
		}
		cfg, err := px.ContainerConfig(ctx, node, int(vmid))
		if err != nil {
			return err
		}
		res, err := sess.Exec(ctx, ssh.Command{Line: macProbe})
		if err != nil {
			return err
		}
		want, seen := cfg.Nets[0].HWAddr, strings.TrimSpace(string(res.Stdout))
		if seen == "" || seen == "-" {
			seen = "(none)"
		}
		if want != "" && !strings.EqualFold(want, seen) {
			// Retried on the back-off schedule: which machine answers may change (two that
			// answer at one address take turns), and this container may be the address's
			// rightful holder; claimAddress says which LXCContainer is.
			return outcome.Failed(lxcv1.AddressConflictReason, fmt.Errorf(
				"the machine answering at %s is not CT %d: its eth0 has MAC address %s, while net0 of CT %d has %s; another container answers at the address, so nothing was run there",
				addr, vmid, seen, vmid, want))
		}
		return nil
	}
}

// proxmoxHolds checks that Proxmox shows addr on the container's eth0. A container whose eth0
// shows no IPv4 address yet (still configuring) is left to the MAC address check.
func proxmoxHolds(ctx context.Context, px proxmox.Client, node string, vmid int32, addr string) error {
	ifaces, err := px.ContainerInterfaces(ctx, node, int(vmid))
	if err != nil {
		return err
	}
	var shown []string
	for _, i := range ifaces {
		if i.Name != "eth0" {
			continue
		}
		for _, p := range i.IPv4() {
			if p.Addr().String() == addr {
				return nil
			}
			shown = append(shown, p.Addr().String())
		}
	}
	if len(shown) == 0 {
		return nil
	}
	return &addressMovedError{vmid: vmid, address: addr, proxmox: shown}
}

// addressMoved turns an addressMovedError into what the phase does: a DHCP container reads its
// address again at once (the next look announces AddressChanged); a static one, whose eth0 does
// not hold the address its spec gives, is retried on the back-off schedule.
func (r *LXCContainerReconciler) addressMoved(s *containerScope, err error) (error, bool) {
	var moved *addressMovedError
	if !errors.As(err, &moved) {
		return err, false
	}
	r.lastAddress.forget(s.obj.UID)
	if s.desired.DHCP() {
		return lookAgain(s, lxcv1.WaitingForAddressReason, "%v; reading its address again", moved), true
	}
	return outcome.Failed(lxcv1.AddressConflictReason, fmt.Errorf("%w: its static address is not on eth0", moved)), true
}

// checkSupport refuses, at first contact, a guest config-manager cannot run on.
func checkSupport(ctx context.Context, s *containerScope, sess ssh.Session) error {
	res, err := sess.Exec(ctx, ssh.Command{Line: supportProbe})
	if err != nil {
		return err
	}
	lines := strings.Split(strings.TrimSpace(string(res.Stdout)), "\n")
	for len(lines) < 2 {
		lines = append(lines, "-")
	}
	var missing []string
	if strings.TrimSpace(lines[0]) != "bash" {
		missing = append(missing, "bash")
	}
	if strings.TrimSpace(lines[1]) != "systemd" {
		missing = append(missing, "systemd as init")
	}
	if len(missing) > 0 {
		return outcome.Stall(lxcv1.UnsupportedGuestReason, "the guest of CT %d has no %s: config-manager runs as a systemd unit and its scripts with bash",
			s.obj.Status.VMID, strings.Join(missing, " and no "))
	}
	return nil
}
