package controller

import (
	"slices"
	"strings"

	"github.com/fluxcd/pkg/runtime/conditions"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
	"templatemanager.dev/lxc-template-manager/internal/proxmox"
	"templatemanager.dev/lxc-template-manager/internal/ssh"
)

// runInFlight names the script or package install the scripts phase runs in the guest now
// (status.operation holds its run id while it runs), or says none runs.
func runInFlight(st *lxcv1.LXCContainerStatus) (string, bool) {
	op := st.Operation
	if op == "" || !(strings.HasPrefix(op, "script-") || strings.HasPrefix(op, "packages-")) {
		return "", false
	}
	for _, sc := range st.Scripts {
		if len(sc.Hash) >= 12 && string(ssh.MakeRunID("script", sc.Name, sc.Hash[:12])) == op {
			return "script " + sc.Name, true
		}
	}
	if strings.HasPrefix(op, "packages-") {
		return "the package install", true
	}
	return op, true
}

// holdForRun says whether a change that would restart, resize, stop or recreate the container
// must wait because a script runs in the guest, and records it (what) as held: the script is
// never killed by the controller and run again from the start. The scripts phase follows the
// run to its end (or its timeout) and then lets the held change go ahead.
func (s *containerScope) holdForRun(what string) bool {
	if _, ok := runInFlight(&s.obj.Status); !ok {
		return false
	}
	s.held = append(s.held, what)
	return true
}

// heldMessage says what waits for what, or "" when nothing is held.
func (s *containerScope) heldMessage() string {
	label, ok := runInFlight(&s.obj.Status)
	if len(s.held) == 0 || !ok {
		return ""
	}
	return strings.Join(s.held, "; ") + " waits for " + label + " to end"
}

// markHeld sets ContainerStarted to WaitingForScript while a change is held for a run.
func markHeld(s *containerScope) {
	if msg := s.heldMessage(); msg != "" {
		conditions.MarkFalse(s.obj, lxcv1.ContainerStartedCondition, lxcv1.WaitingForScriptReason, "%s", msg)
	}
}

// holdConfig holds a configuration change of a running container while a script runs in it:
// what is written, a disk to grow, a restart for pending settings. Memory and cores would
// apply live, but a changed limit can kill the script as surely as a restart, so all of it
// waits together.
func holdConfig(s *containerScope, fields []string, pc proxmox.PendingConfig) bool {
	what := slices.Clone(fields)
	if growsDisks(s, pc.Current) {
		what = append(what, "disk sizes")
	}
	st := &s.obj.Status
	if len(st.RestartPending) > 0 || slices.ContainsFunc(st.PendingWritten, func(k string) bool { return slices.Contains(pc.Pending, k) }) {
		what = append(what, "a restart for pending settings")
	}
	if len(what) == 0 {
		return false
	}
	return s.holdForRun("applying " + strings.Join(what, ", "))
}

// growsDisks says whether the root disk or a mount point is to be resized.
func growsDisks(s *containerScope, cur proxmox.ContainerConfig) bool {
	if have := cur.RootFS.SizeBytes; have != 0 && have != uint64(s.desired.DiskGiB)<<30 {
		return true
	}
	for _, m := range s.desired.MountPoints {
		if have, ok := cur.MountPoints[int(m.Index)]; ok && !m.IsBind() && have.SizeBytes != 0 && have.SizeBytes != uint64(m.SizeGiB)<<30 {
			return true
		}
	}
	return false
}
