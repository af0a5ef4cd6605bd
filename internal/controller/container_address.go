package controller

import (
	"context"
	"net/netip"
	"time"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
	"templatemanager.dev/lxc-template-manager/internal/proxmox"
)

// address returns eth0's IPv4 address.
func (r *LXCContainerReconciler) address(ctx context.Context, s *containerScope, view *proxmoxView) (string, error) {
	if !s.desired.DHCP() {
		return s.desired.StaticAddress(), nil
	}
	uid, known := s.obj.UID, s.obj.Status.IPAddress
	if view.guest != nil && known != "" && r.lastAddress.fresh(uid, known, r.fullCheck()) && !restartedSince(view.guest, r.lastAddress.age(uid)) {
		// A running container keeps its lease: its interfaces are read again when the bulk list
		// shows it restarted, when SSH to the address fails, and with its full check.
		return known, nil
	}
	ifaces, err := s.px.ContainerInterfaces(ctx, s.obj.Status.Node, int(s.obj.Status.VMID))
	if err != nil {
		return "", err
	}
	if addr, ok := eth0IPv4(ifaces); ok {
		if known != "" && known != addr.String() {
			// The DHCP server moved the lease: services' URLs follow at the next discovery.
			r.announce(s.obj, addressChanged, s.obj.Status.VMID, known, addr)
		}
		r.lastAddress.mark(uid, addr.String())
		return addr.String(), nil
	}
	return "", lookAgain(s, lxcv1.WaitingForAddressReason, "CT %d runs but eth0 has no IPv4 address yet", s.obj.Status.VMID)
}

// restartedSince says the bulk list shows the guest started after the look age ago. The list
// may be older than the look, so the start time is computed from when the list was read; the
// slack covers uptime's whole seconds.
func restartedSince(g *proxmox.Guest, age time.Duration) bool {
	if g.Uptime <= 0 || g.Seen.IsZero() {
		return false
	}
	started := g.Seen.Add(-g.Uptime)
	return started.After(time.Now().Add(-age).Add(2 * time.Second))
}

// eth0IPv4 finds the first global IPv4 address of eth0.
func eth0IPv4(ifaces []proxmox.Interface) (netip.Addr, bool) {
	for _, i := range ifaces {
		if i.Name != "eth0" {
			continue
		}
		for _, p := range i.IPv4() {
			if a := p.Addr(); a.IsValid() && !a.IsLoopback() {
				return a, true
			}
		}
	}
	return netip.Addr{}, false
}
