package controller

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/fluxcd/pkg/runtime/conditions"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
	"templatemanager.dev/lxc-template-manager/internal/configmanager"
	"templatemanager.dev/lxc-template-manager/internal/ssh"
)

// session opens, once per reconcile, the SSH session to the container, pinning its host key on
// first contact and refusing a changed one.
func (r *LXCContainerReconciler) session(ctx context.Context, s *containerScope) (ssh.Session, error) {
	if s.session != nil {
		return s.session, nil
	}
	signer, fallback, err := r.loginKeys(ctx, s)
	if err != nil {
		return nil, err
	}
	sess, err := r.SSH.Connect(ctx, ssh.Target{
		Address:  s.obj.Status.IPAddress,
		Signer:   signer,
		Fallback: fallback,
		HostKey:  s.obj.Status.SSHHostKey,
	})
	var mismatch *ssh.HostKeyMismatchError
	switch {
	case errors.As(err, &mismatch):
		return nil, Stall(lxcv1.HostKeyMismatchReason,
			"the SSH host key of %s changed from %s to %s; if the container was rebuilt on purpose, clear status.sshHostKey",
			s.obj.Status.IPAddress, mismatch.Expected, mismatch.Seen)
	case errors.Is(err, ssh.ErrAuthentication):
		return nil, Failed(lxcv1.SSHUnreachableReason, fmt.Errorf("the container at %s refused the controller's SSH key", s.obj.Status.IPAddress))
	case err != nil:
		// The dial already retried while the guest boots; what still fails is retried on the
		// back-off schedule, so an address that never answers is not dialled forever. A DHCP
		// lease may have moved: the next look reads the interfaces again.
		r.lastAddress.forget(s.obj.UID)
		return nil, Failed(lxcv1.SSHUnreachableReason, fmt.Errorf("no SSH on %s: %w", s.obj.Status.IPAddress, err))
	}
	if s.obj.Status.SSHHostKey == "" {
		// First contact: before the host key is pinned and anything is uploaded or run, make
		// sure the machine is this container and can take config-manager. Later sessions are
		// held to the pinned key.
		if err := r.checkGuest(ctx, s, sess); err != nil {
			_ = sess.Close()
			return nil, err
		}
		s.obj.Status.SSHHostKey = sess.HostKey()
	}
	s.session = sess
	return sess, nil
}

// guestProbe reads, in one command and without changing anything, what identifies the guest
// and what config-manager needs of it: eth0's MAC address, bash, and systemd as init.
const guestProbe = `cat /sys/class/net/eth0/address 2>/dev/null || echo -; ` +
	`command -v bash >/dev/null 2>&1 && echo bash || echo -; ` +
	`[ -d /run/systemd/system ] && echo systemd || echo -`

// checkGuest refuses a machine that is not this container — another container answering at its
// address: a static address given twice, a lease handed out again — by comparing eth0's MAC
// address with the one Proxmox gave net0; our scripts would run there, and its credentials
// would be copied here. It also refuses a guest config-manager cannot run on.
func (r *LXCContainerReconciler) checkGuest(ctx context.Context, s *containerScope, sess ssh.Session) error {
	cfg, err := s.containerConfig(ctx)
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
		return Stall(lxcv1.AddressConflictReason,
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
		return Stall(lxcv1.UnsupportedGuestReason, "the guest of CT %d has no %s: config-manager runs as a systemd unit and its scripts with bash",
			s.obj.Status.VMID, strings.Join(missing, " and no "))
	}
	return nil
}

// reconcileConfigManager installs config-manager — config.env, config-sync.sh, the managed files
// with their manifest, the systemd unit — and runs it once, whenever the rendered bundle changes.
func (r *LXCContainerReconciler) reconcileConfigManager(ctx context.Context, s *containerScope) (string, error) {
	bundle, err := configmanager.Render(s.desired.Config)
	if err != nil {
		return "", Stall(lxcv1.InvalidSpecReason, "rendering config-manager: %v", err)
	}
	hash := bundle.Hash()
	done := fmt.Sprintf("config-manager applied %d files and %d variables", len(s.desired.Config.Files), len(s.desired.Config.Env))
	if s.obj.Status.ConfigHash == hash && conditions.IsTrue(s.obj, lxcv1.ConfigManagerDeployedCondition) {
		return done, nil
	}
	sess, err := r.session(ctx, s)
	if err != nil {
		return "", err
	}
	for _, d := range bundle.Directories {
		line := fmt.Sprintf("install -d -m %04o -o %s -g %s %s", d.Mode.Perm(),
			ssh.ShellQuote(ownerUser(d.Owner)), ssh.ShellQuote(ownerGroup(d.Owner)), ssh.ShellQuote(d.Path))
		if err := execOK(ctx, sess, line); err != nil {
			return "", err
		}
	}
	for _, f := range bundle.Files {
		if err := sess.Upload(ctx, ssh.File{Path: f.Path, Content: f.Content, Mode: f.Mode, Owner: f.Owner}); err != nil {
			return "", fmt.Errorf("uploading %s: %w", f.Path, err)
		}
	}
	if _, err := sess.Exec(ctx, ssh.Command{Line: configmanager.ActivateCommand}); err != nil {
		return "", err
	}
	res, err := sess.Exec(ctx, ssh.Command{Line: configmanager.ResultCommand})
	if err != nil {
		return "", err
	}
	fields := strings.Fields(string(res.Stdout))
	if len(fields) < 2 || fields[0] != "success" || fields[1] != "enabled" {
		log, _ := sess.Exec(ctx, ssh.Command{Line: configmanager.LogCommand})
		return "", Failed(lxcv1.ConfigSyncFailedReason, fmt.Errorf("%s did not succeed (%s): %s",
			configmanager.UnitName, strings.Join(fields, " "), tail(string(log.Stdout)+string(log.Stderr), 5)))
	}
	s.configChanged = s.obj.Status.ConfigHash != ""
	s.obj.Status.ConfigHash = hash
	return done, nil
}

// execOK runs a command and turns a non-zero exit into an error carrying its stderr.
func execOK(ctx context.Context, sess ssh.Session, line string) error {
	res, err := sess.Exec(ctx, ssh.Command{Line: line})
	if err != nil {
		return err
	}
	if res.ExitCode != 0 {
		return fmt.Errorf("%q exited %d: %s", line, res.ExitCode, tail(string(res.Stderr), 3))
	}
	return nil
}

func ownerUser(owner string) string {
	u, _, _ := strings.Cut(owner, ":")
	return u
}

func ownerGroup(owner string) string {
	u, g, ok := strings.Cut(owner, ":")
	if !ok {
		return u
	}
	return g
}

// tail keeps the last n non-empty lines of text.
func tail(text string, n int) string {
	lines := strings.Split(strings.TrimRight(text, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
