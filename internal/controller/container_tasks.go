package controller

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"templatemanager.dev/lxc-template-manager/internal/outcome"
	"templatemanager.dev/lxc-template-manager/internal/proxmox"
)

// operationTask returns the UPID in status.operation when it is a Proxmox task of one of the
// given types (vzcreate, vzstart, …).
func operationTask(operation string, types ...string) (proxmox.UPID, bool) {
	parts, err := proxmox.UPID(operation).Parse()
	if err != nil {
		return "", false
	}
	for _, t := range types {
		if parts.Type == t {
			return proxmox.UPID(operation), true
		}
	}
	return "", false
}

// pollTask checks the task in status.operation. It returns done=false with a WaitError while the
// task runs; once it stopped it clears status.operation and returns done=true with the task's
// failure, if any. A task Proxmox no longer knows counts as done: what it did is read from the
// container itself next.
func (r *LXCContainerReconciler) pollTask(ctx context.Context, s *containerScope, upid proxmox.UPID, reason, format string, args ...any) (bool, error) {
	ts, err := s.px.TaskStatus(ctx, upid)
	switch {
	case errors.Is(err, proxmox.ErrNotFound):
		s.obj.Status.Operation = ""
		return true, nil
	case err != nil:
		return false, err
	case ts.Running:
		return false, outcome.Wait(r.taskPoll(), reason, format+" (task %s)", append(args, upid)...)
	}
	s.obj.Status.Operation = ""
	if terr := ts.Err(); terr != nil {
		return true, fmt.Errorf("task %s: %s", ts.Type, ts.ExitStatus)
	}
	if ts.Warnings() > 0 {
		r.reportWarnings(ctx, s, ts)
	}
	return true, nil
}

// reportWarnings keeps what a task that succeeded with warnings logged ("WARN: …" lines) in an
// Event: the task did its work, but what it warns of (a systemd guest without nesting, a
// filesystem that was not grown) is worth a look.
func (r *LXCContainerReconciler) reportWarnings(ctx context.Context, s *containerScope, ts proxmox.TaskStatus) {
	lines, err := s.px.TaskLogTail(ctx, ts.UPID, 50)
	var warnings []string
	for _, l := range lines {
		if w, ok := strings.CutPrefix(l, "WARN: "); ok {
			warnings = append(warnings, w)
		}
	}
	if err != nil || len(warnings) == 0 {
		warnings = []string{ts.ExitStatus}
	}
	r.announce(s.obj, taskWarnings, ts.Type, s.obj.Status.VMID, strings.Join(warnings, "; "))
}
