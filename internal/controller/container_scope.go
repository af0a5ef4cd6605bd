package controller

import (
	"context"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
	"templatemanager.dev/lxc-template-manager/internal/desired"
	"templatemanager.dev/lxc-template-manager/internal/outcome"
	"templatemanager.dev/lxc-template-manager/internal/proxmox"
	"templatemanager.dev/lxc-template-manager/internal/redact"
)

// containerScope is what one reconcile of one container works with: the object, what resolve
// read and merged for it, and how its status is written. Phases read it and change the object's
// status; what a phase finds for the phases after it travels in the phase values
// (container_phases.go), not here.
type containerScope struct {
	obj      *lxcv1.LXCContainer
	template *lxcv1.LXCTemplate
	cluster  *lxcv1.ProxmoxCluster
	px       proxmox.Client
	desired  *desired.Container
	patcher  *outcome.Patcher
	// requested says a user asked for this reconcile through the reconcile-requested-at
	// annotation: failed runs are retried and services discovered afresh.
	requested bool
	// redactor replaces the values of the Secrets the container uses in text bound for
	// status, Events and logs.
	redactor *redact.Redactor
	// held names the changes this reconcile held back because a script runs in the guest
	// (restarting, resizing, stopping or recreating would kill it): they wait for it to end.
	held []string
	// changeKey memoizes what the pipeline would make of the container (see changeKey): it is
	// derived from the inputs above, and a reconcile asks for it before and after the phases.
	changeKey string
}

// checkpoint persists the object now, mid-reconcile: the finalizer goes in before any Proxmox
// call, so nothing is ever created without it.
func (s *containerScope) checkpoint(ctx context.Context) error {
	return s.patcher.Checkpoint(ctx, s.obj, false)
}

// checkpointStatus persists the status now, mid-reconcile: what must survive a crash between a
// Proxmox write and the end of the reconcile.
func (s *containerScope) checkpointStatus(ctx context.Context) error {
	redactStatus(s.obj, s.redactor)
	return s.patcher.Checkpoint(ctx, s.obj, true)
}
