package controller

import (
	"context"
	"fmt"
	"strings"

	"github.com/fluxcd/pkg/runtime/conditions"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
	"templatemanager.dev/lxc-template-manager/internal/configmanager"
	"templatemanager.dev/lxc-template-manager/internal/outcome"
	"templatemanager.dev/lxc-template-manager/internal/ssh"
)

// deployConfigManager is the ConfigManagerDeployed phase: the guest first trusts the cluster's
// current SSH key and grants root's access as the spec says, then gets config-manager.
func (r *LXCContainerReconciler) deployConfigManager(ctx context.Context, s *containerScope, st started) (deployed, string, error) {
	if err := r.reconcileSSHKey(ctx, s, st.guest); err != nil {
		return deployed{started: st}, "", err
	}
	if err := r.reconcileGuestAccess(ctx, s, st.guest); err != nil {
		return deployed{started: st}, "", err
	}
	return r.reconcileConfigManager(ctx, s, st)
}

// reconcileConfigManager installs config-manager — config.env, config-sync.sh, the managed files
// with their manifest, the systemd unit — and runs it once, whenever the rendered bundle changes.
func (r *LXCContainerReconciler) reconcileConfigManager(ctx context.Context, s *containerScope, st started) (deployed, string, error) {
	out := deployed{started: st}
	bundle, err := configmanager.Render(s.desired.Config)
	if err != nil {
		return out, "", outcome.Stall(lxcv1.InvalidSpecReason, "rendering config-manager: %v", err)
	}
	hash := bundle.Hash()
	done := fmt.Sprintf("config-manager applied %d files and %d variables", len(s.desired.Config.Files), len(s.desired.Config.Env))
	if s.obj.Status.ConfigHash == hash && conditions.IsTrue(s.obj, lxcv1.ConfigManagerDeployedCondition) {
		return out, done, nil
	}
	sess, err := st.guest.session(ctx)
	if err != nil {
		return out, "", err
	}
	op := configSyncOperation(hash)
	if s.obj.Status.Operation != op {
		if err := installBundle(ctx, sess, bundle); err != nil {
			return out, "", err
		}
		s.obj.Status.Operation = op
	}
	// config-sync runs in the guest on its own; later reconciles look at how it ended.
	res, err := sess.Exec(ctx, ssh.Command{Line: configmanager.ResultCommand})
	if err != nil {
		return out, "", err
	}
	fields := strings.Fields(string(res.Stdout))
	if len(fields) > 0 && fields[0] != "0" {
		return out, "", outcome.Wait(r.taskPoll(), lxcv1.ProgressingReason, "config-sync is applying %d files and %d variables",
			len(s.desired.Config.Files), len(s.desired.Config.Env))
	}
	s.obj.Status.Operation = ""
	if len(fields) < 3 || fields[1] != "success" || fields[2] != "enabled" {
		log, _ := sess.Exec(ctx, ssh.Command{Line: configmanager.LogCommand})
		return out, "", outcome.Failed(lxcv1.ConfigSyncFailedReason, fmt.Errorf("%s did not succeed (%s): %s",
			configmanager.UnitName, strings.Join(fields[min(1, len(fields)):], " "), tail(string(log.Stdout)+string(log.Stderr), 5)))
	}
	out.configChanged = s.obj.Status.ConfigHash != ""
	s.obj.Status.ConfigHash = hash
	return out, done, nil
}

// configSyncOperation is status.operation while config-sync applies the bundle of this hash.
func configSyncOperation(hash string) string { return "config-sync-" + hash[:min(12, len(hash))] }

// installBundle uploads config-manager's directories and files and starts config-sync.
func installBundle(ctx context.Context, sess ssh.Session, bundle *configmanager.Bundle) error {
	for _, d := range bundle.Directories {
		line := fmt.Sprintf("install -d -m %04o -o %s -g %s %s", d.Mode.Perm(),
			ssh.ShellQuote(ownerUser(d.Owner)), ssh.ShellQuote(ownerGroup(d.Owner)), ssh.ShellQuote(d.Path))
		if err := execOK(ctx, sess, line); err != nil {
			return err
		}
	}
	for _, f := range bundle.Files {
		if err := sess.Upload(ctx, ssh.File{Path: f.Path, Content: f.Content, Mode: f.Mode, Owner: f.Owner}); err != nil {
			return fmt.Errorf("uploading %s: %w", f.Path, err)
		}
	}
	return execOK(ctx, sess, configmanager.ActivateCommand)
}
