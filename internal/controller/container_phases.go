package controller

import (
	"context"

	"templatemanager.dev/lxc-template-manager/internal/proxmox"
	"templatemanager.dev/lxc-template-manager/internal/ssh"
)

// The five phases hand on what they found as values. Each phase takes the value of the phase
// before it and returns its own, so the order of the pipeline is the compiler's to check, and a
// test can call any phase with a value it built by hand.
//
//	reconcileCreate      (scope)               → created
//	reconcileStart       (scope, created)      → started
//	deployConfigManager  (scope, started)      → deployed
//	reconcileScripts     (scope, deployed)     → provisioned
//	reconcileServices    (scope, provisioned)  → (done)

// proxmoxView is the container as Proxmox showed it during one reconcile; the phases share it
// so that nothing is read twice.
type proxmoxView struct {
	// guest is the container as the cluster-wide resource list showed it, settled (no lock,
	// running or stopped) on the node status names; nil when unknown or when a task since
	// changed it.
	guest *proxmox.Guest
	// config is the container's configuration when a phase read it in this reconcile.
	config *proxmox.ContainerConfig
}

// readConfig returns the container's configuration, read at most once per reconcile.
func (v *proxmoxView) readConfig(ctx context.Context, s *containerScope) (*proxmox.ContainerConfig, error) {
	if v.config == nil {
		cfg, err := s.px.ContainerConfig(ctx, s.obj.Status.Node, int(s.obj.Status.VMID))
		if err != nil {
			return nil, err
		}
		v.config = &cfg
	}
	return v.config, nil
}

// created is what Create hands on: the container exists in Proxmox and carries this object's
// marker.
type created struct {
	view *proxmoxView
}

// started is what Start hands on: the container runs at status.ipAddress, and guest opens the
// SSH session to it when a later phase first needs one.
type started struct {
	created
	guest *guestLink
}

// deployed is what Deploy config-manager hands on: the guest trusts the controller's current
// key, root's access is as the spec says, and config-manager runs the current bundle.
type deployed struct {
	started
	// configChanged says this reconcile deployed a changed bundle (files or env), which may be
	// what a failed script was missing.
	configChanged bool
}

// provisioned is what Run scripts hands on: the packages are installed and every script
// completed.
type provisioned struct {
	deployed
}

// guestLink is the SSH session to one guest, opened when a phase first needs it and then shared
// by the phases after it.
type guestLink struct {
	open func(context.Context) (ssh.Session, error)
	sess ssh.Session
}

func (g *guestLink) session(ctx context.Context) (ssh.Session, error) {
	if g.sess == nil {
		sess, err := g.open(ctx)
		if err != nil {
			return nil, err
		}
		g.sess = sess
	}
	return g.sess, nil
}
