package controller

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/fluxcd/pkg/runtime/conditions"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
	"templatemanager.dev/lxc-template-manager/internal/configmanager"
	"templatemanager.dev/lxc-template-manager/internal/desired"
	"templatemanager.dev/lxc-template-manager/internal/discovery"
	"templatemanager.dev/lxc-template-manager/internal/outcome"
	"templatemanager.dev/lxc-template-manager/internal/ssh"
)

// Limits of what a script's run leaves in status.
const (
	scriptTailLines = 20
	scriptTailBytes = 2048
	// packageInstallTimeout bounds one package manager's install run.
	packageInstallTimeout = 30 * time.Minute
)

// run is one detached run of the scripts phase: a package install or a template script.
type run struct {
	id      ssh.RunID
	label   string // "packages (apt)" or "script setup"
	script  []byte
	env     map[string]string
	timeout time.Duration
	// status is the script's status entry; nil for package installs.
	status *lxcv1.ScriptStatus
	hash   string
	// packagesHash, on package runs, is recorded in status once every package run succeeded.
	packagesHash string
}

// reconcileScripts installs the packages, then runs each script in order, each as a detached run
// polled by later reconciles. A run is keyed by the hash of what it runs, so finished runs are
// never repeated; a failure stops the phase until the spec changes.
func (r *LXCContainerReconciler) reconcileScripts(ctx context.Context, s *containerScope, d deployed) (provisioned, string, error) {
	out := provisioned{deployed: d}
	runs, err := r.plannedRuns(s)
	if err != nil {
		return out, "", err
	}
	st := &s.obj.Status
	// A failure is retried only when something it may depend on changed — a new generation of
	// the container's spec, new files or env from config-manager — or when a user asks for it
	// with the reconcile-requested-at annotation; the same inputs would fail the same way, and
	// running them again in a loop helps nobody. (Changed scripts or packages run anyway: their
	// runs are keyed by content.)
	failed := conditions.Get(s.obj, lxcv1.ScriptsCompletedCondition)
	retry := failed != nil && (failed.Reason == lxcv1.ScriptFailedReason || failed.Reason == lxcv1.PackagesFailedReason) &&
		(failed.ObservedGeneration < s.obj.Generation || d.configChanged || s.requested)
	// Once every script has succeeded, the runs that follow are not the container's first.
	firstDone := conditions.IsTrue(s.obj, lxcv1.ScriptsCompletedCondition)

	for i := range runs {
		rn := &runs[i]
		if rn.status != nil && rn.status.Hash == rn.hash && rn.status.ExitCode != nil {
			if *rn.status.ExitCode == 0 {
				continue
			}
			if !retry {
				return out, "", scriptFailed(rn)
			}
		}
		sess, err := d.guest.session(ctx)
		if err != nil {
			return out, "", err
		}
		if firstDone {
			if err := markFirstRunDone(ctx, sess); err != nil {
				return out, "", err
			}
			firstDone = false
		}
		rs, err := r.startRun(ctx, s, sess, rn, &retry)
		if err != nil {
			return out, "", err
		}
		err = r.followRun(ctx, s, sess, runs, i, rs)
		if msg := s.heldMessage(); msg == "" && len(s.held) > 0 {
			// The run the held changes waited for ended: they go ahead now, before anything
			// else runs. A failed run is reported again once they are done.
			return out, "", outcome.Wait(time.Second, lxcv1.WaitingForScriptReason, "%s ended; now %s", rn.label, strings.Join(s.held, "; "))
		}
		if err != nil {
			return out, "", err
		}
	}
	if !conditions.IsTrue(s.obj, lxcv1.ScriptsCompletedCondition) {
		sess, err := d.guest.session(ctx)
		if err == nil {
			err = markFirstRunDone(ctx, sess)
		}
		if err != nil {
			return out, "", err
		}
	}
	st.Operation = ""
	return out, fmt.Sprintf("%d packages installed, %d scripts completed", desired.CountPackages(s.desired.Packages), len(s.desired.Scripts)), nil
}

// markFirstRunDone leaves the marker that makes CONFIG_MANAGER_FIRST_RUN "false" for the
// script runs that follow: the original's scripts skip their one-time setup by it.
func markFirstRunDone(ctx context.Context, sess ssh.Session) error {
	res, err := sess.Exec(ctx, ssh.Command{Line: configmanager.MarkFirstRunCommand})
	if err == nil && res.ExitCode != 0 {
		err = fmt.Errorf("leaving %s exited %d: %s", configmanager.FirstRunMarker, res.ExitCode, strings.TrimSpace(string(res.Stderr)))
	}
	return err
}

// startRun starts a run, or finds it running or finished, and records what it shows. A failed
// run that may be retried (retry) is removed and started afresh, once per reconcile.
func (r *LXCContainerReconciler) startRun(ctx context.Context, s *containerScope, sess ssh.Session, rn *run, retry *bool) (ssh.RunStatus, error) {
	spec := ssh.RunSpec{ID: rn.id, Script: rn.script, Env: rn.env, Timeout: rn.timeout}
	rs, err := sess.StartRun(ctx, spec)
	if err == nil && *retry && rs.State == ssh.RunFinished && rs.ExitCode != 0 {
		*retry = false
		if err = sess.RemoveRun(ctx, rn.id); err == nil {
			rs, err = sess.StartRun(ctx, spec)
		}
	}
	if err != nil {
		return rs, err
	}
	if rs.State == ssh.RunRunning || rs.State == ssh.RunFinished {
		// StartRun reports what is there; read the tail of the output as well.
		if rs, err = sess.InspectRun(ctx, rn.id, scriptTailLines); err != nil {
			return rs, err
		}
	}
	// Scripts see the container's Secrets in their environment and may print them, and the
	// credentials they save, which no Secret holds until discovery copies them.
	if rs.OutputTail != "" {
		if err := learnCredentials(ctx, s, sess); err != nil {
			return rs, err
		}
	}
	rs.OutputTail = s.redactor.String(rs.OutputTail)
	r.recordRun(rn, rs)
	return rs, nil
}

// learnCredentials adds the values of the credentials files scripts saved so far to the
// reconcile's redactor.
func learnCredentials(ctx context.Context, s *containerScope, sess ssh.Session) error {
	res, err := sess.Exec(ctx, ssh.Command{Line: discovery.ReadCredentialsCommand})
	if err != nil {
		return fmt.Errorf("reading the credentials scripts saved, to keep them out of their output: %w", err)
	}
	s.redactor.Add(discovery.Values(discovery.ParseCredentialsDump(res.Stdout))...)
	return nil
}

// followRun acts on the state of runs[i]: a running one is polled again, a finished one that
// failed ends the phase, a lost one is started afresh. It returns nil when the run succeeded.
func (r *LXCContainerReconciler) followRun(ctx context.Context, s *containerScope, sess ssh.Session, runs []run, i int, rs ssh.RunStatus) error {
	st, rn := &s.obj.Status, &runs[i]
	switch rs.State {
	case ssh.RunRunning:
		if st.Operation != string(rn.id) {
			r.announce(s.obj, scriptRunning, rn.label)
		}
		st.Operation = string(rn.id)
		if held := s.heldMessage(); held != "" {
			return outcome.Wait(r.taskPoll(), lxcv1.ScriptRunningReason, "running %s; %s", rn.label, held)
		}
		return outcome.Wait(r.taskPoll(), lxcv1.ScriptRunningReason, "running %s", rn.label)
	case ssh.RunFinished:
		st.Operation = ""
		r.Metrics.observeScript(rn, rs)
		if rs.ExitCode != 0 {
			// The Ready condition's transition reports it as a Warning event.
			if rn.status == nil {
				return outcome.Stall(lxcv1.PackagesFailedReason, "%s exited %d; last output:\n%s", rn.label, rs.ExitCode, tail(rs.OutputTail, 8))
			}
			return scriptFailed(rn)
		}
		if rn.status == nil && (i+1 == len(runs) || runs[i+1].status != nil) {
			st.PackagesHash = rn.packagesHash
		}
		return nil
	default:
		// The run was lost (the container rebooted under it): start it afresh.
		st.Operation = ""
		if err := sess.RemoveRun(ctx, rn.id); err != nil {
			return err
		}
		return outcome.Wait(time.Second, lxcv1.ScriptRunningReason, "%s was interrupted (%s); starting it again", rn.label, rs.Detail)
	}
}

// plannedRuns lists the runs of the phase in order and aligns status.scripts with the template's
// scripts, keeping the outcome of scripts whose content did not change.
func (r *LXCContainerReconciler) plannedRuns(s *containerScope) ([]run, error) {
	env := map[string]string{}
	for _, e := range s.desired.Config.Env {
		env[e.Name] = e.Value
	}
	var runs []run
	var pkgHashes []string
	for _, p := range s.desired.Packages {
		script, err := configmanager.RenderPackageInstall(configmanager.PackageManager(p.Manager), p.Names)
		if err != nil {
			return nil, outcome.Stall(lxcv1.InvalidSpecReason, "packages for %s: %v", p.Manager, err)
		}
		h := desired.ContentHash(script)
		pkgHashes = append(pkgHashes, h)
		runs = append(runs, run{
			id: ssh.MakeRunID("packages", string(p.Manager), h[:12]), label: fmt.Sprintf("package install (%s)", p.Manager),
			script: script, env: env, timeout: packageInstallTimeout, hash: h,
		})
	}

	if packagesHash := desired.ContentHash([]byte(strings.Join(pkgHashes, ","))); s.obj.Status.PackagesHash == packagesHash {
		// Installed before: package managers are not asked again.
		runs = nil
	} else {
		s.obj.Status.PackagesHash = ""
		for i := range runs {
			runs[i].packagesHash = packagesHash
		}
	}

	old := s.obj.Status.Scripts
	statuses := make([]lxcv1.ScriptStatus, 0, len(s.desired.Scripts))
	for _, ds := range s.desired.Scripts {
		entry := lxcv1.ScriptStatus{Name: ds.Name, Hash: ds.Hash}
		if i := slices.IndexFunc(old, func(o lxcv1.ScriptStatus) bool { return o.Name == ds.Name }); i >= 0 && old[i].Hash == ds.Hash {
			entry = old[i]
		}
		statuses = append(statuses, entry)
	}
	s.obj.Status.Scripts = statuses
	for i, ds := range s.desired.Scripts {
		scriptEnv := make(map[string]string, len(env)+len(ds.Env))
		for k, v := range env {
			scriptEnv[k] = v
		}
		for _, e := range ds.Env {
			scriptEnv[e.Name] = e.Value
		}
		for k, v := range configmanager.ScriptRunEnv() {
			scriptEnv[k] = v
		}
		script := ds.Content
		if ds.Check != "" {
			script = configmanager.RenderCheckedScript(ds.Name, ds.Check, ds.Content)
		}
		runs = append(runs, run{
			id: ssh.MakeRunID("script", ds.Name, ds.Hash[:12]), label: "script " + ds.Name,
			script: script, env: scriptEnv, timeout: ds.Timeout, status: &s.obj.Status.Scripts[i], hash: ds.Hash,
		})
	}
	return runs, nil
}

// recordRun copies a run's state into its status entry.
func (r *LXCContainerReconciler) recordRun(rn *run, rs ssh.RunStatus) {
	if rn.status == nil {
		return
	}
	rn.status.Hash = rn.hash
	if !rs.StartedAt.IsZero() {
		t := metav1.NewTime(rs.StartedAt)
		rn.status.StartedAt = &t
	}
	rn.status.OutputTail = clip(rs.OutputTail)
	if rs.State == ssh.RunFinished {
		code := int32(rs.ExitCode)
		rn.status.ExitCode = &code
		if !rs.FinishedAt.IsZero() {
			t := metav1.NewTime(rs.FinishedAt)
			rn.status.FinishedAt = &t
		}
	} else {
		rn.status.ExitCode = nil
		rn.status.FinishedAt = nil
	}
}

// scriptFailed is the stall of a script that exited non-zero, naming the script, its exit code
// and the last lines of its output.
func scriptFailed(rn *run) error {
	code := -1
	if rn.status != nil && rn.status.ExitCode != nil {
		code = int(*rn.status.ExitCode)
	}
	how := fmt.Sprintf("exited %d", code)
	if code == ssh.TimeoutExitCode {
		how = fmt.Sprintf("timed out after %s (exit %d)", rn.timeout, code)
	}
	out := ""
	if rn.status != nil {
		out = tail(rn.status.OutputTail, 5)
	}
	return outcome.Stall(lxcv1.ScriptFailedReason, "%s %s; last output:\n%s", rn.label, how, out)
}

// clip keeps the end of an output tail within scriptTailBytes, at a line boundary if it can.
func clip(s string) string {
	if len(s) <= scriptTailBytes {
		return s
	}
	s = s[len(s)-scriptTailBytes:]
	if i := strings.IndexByte(s, '\n'); i >= 0 && i < len(s)-1 {
		s = s[i+1:]
	}
	return strings.ToValidUTF8(s, "")
}
