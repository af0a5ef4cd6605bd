package controller

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/fluxcd/pkg/runtime/conditions"
	ctrl "sigs.k8s.io/controller-runtime"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
	"templatemanager.dev/lxc-template-manager/internal/outcome"
)

// errDeleting marks status writes during deletion, which are progress, not news.
var errDeleting = outcome.Wait(0, lxcv1.DeletingReason, "deleting")

// errStopped ends the pipeline early for a container whose powerState is Stopped: the later
// phases keep their last outcome.
var errStopped = errors.New("stopped as spec.powerState asks")

// phaseError is the error of the phase that ended the pipeline, with that phase's condition.
type phaseError struct {
	condition string
	err       error
}

func (e *phaseError) Error() string { return e.err.Error() }
func (e *phaseError) Unwrap() error { return e.err }

// runPipeline resolves what the container is made of, then runs the five phases in order, each
// on what the one before it handed on; the first that does not finish ends the reconcile.
func (r *LXCContainerReconciler) runPipeline(ctx context.Context, s *containerScope) error {
	if err := r.heldByRestore(s); err != nil {
		return err
	}
	if err := r.resolve(ctx, s); err != nil {
		return err
	}
	c, msg, err := r.reconcileCreate(ctx, s)
	if err := r.record(s, lxcv1.ContainerCreatedCondition, msg, err); err != nil {
		return err
	}
	if err := r.guardChange(ctx, s); err != nil {
		return err
	}
	st, msg, err := r.reconcileStart(ctx, s, c)
	if err := r.record(s, lxcv1.ContainerStartedCondition, msg, err); err != nil {
		return r.rollBackOnFailure(ctx, s, err)
	}
	markHeld(s)
	if s.desired.Application {
		skipGuestPhases(s)
		r.changeApplied(s)
		return nil
	}
	d, msg, err := r.deployConfigManager(ctx, s, st)
	if err := r.record(s, lxcv1.ConfigManagerDeployedCondition, msg, err); err != nil {
		return err
	}
	p, msg, err := r.reconcileScripts(ctx, s, d)
	if err := r.record(s, lxcv1.ScriptsCompletedCondition, msg, err); err != nil {
		return r.rollBackOnFailure(ctx, s, err)
	}
	msg, err = r.reconcileServices(ctx, s, p)
	if err := r.record(s, lxcv1.ServicesDiscoveredCondition, msg, err); err != nil {
		return err
	}
	r.changeApplied(s)
	return nil
}

// skipGuestPhases marks the phases that work inside the guest done for an OCI application
// image: it has no init and no SSH, and is Ready when it runs.
func skipGuestPhases(s *containerScope) {
	for _, c := range []string{lxcv1.ConfigManagerDeployedCondition, lxcv1.ScriptsCompletedCondition, lxcv1.ServicesDiscoveredCondition} {
		conditions.MarkTrue(s.obj, c, lxcv1.ApplicationImageReason, "skipped: the container runs an OCI application image (no init, no SSH)")
	}
}

// record sets a phase's condition from how it ended and returns the error that ends the
// pipeline, if the phase did not finish.
func (r *LXCContainerReconciler) record(s *containerScope, condition, msg string, err error) error {
	switch {
	case errors.Is(err, errStopped):
		conditions.MarkFalse(s.obj, condition, lxcv1.StoppedReason, "%s", errStopped.Error())
		return err
	case err != nil:
		o := outcome.Of(err)
		conditions.MarkFalse(s.obj, condition, o.Reason, "%s", o.Message)
		return &phaseError{condition: condition, err: err}
	}
	if !conditions.IsTrue(s.obj, condition) {
		r.Metrics.observePhase(s.obj, condition)
	}
	conditions.MarkTrue(s.obj, condition, lxcv1.SucceededReason, "%s", msg)
	return nil
}

// summarizeContainer computes Ready, Reconciling, Stalled, phase and observedGeneration.
func (r *LXCContainerReconciler) summarizeContainer(ctx context.Context, s *containerScope, err error) (ctrl.Result, error) {
	obj := s.obj
	resync := r.resync()
	if errors.Is(err, errStopped) {
		res, serr := outcome.Summarize(obj, "stopped as spec.powerState asks", nil, resync)
		obj.Status.Phase = "Stopped"
		return res, serr
	}
	res, serr := outcome.Summarize(obj, readyMessage(obj), err, resync)
	obj.Status.Phase = phaseOf(obj)
	if outcome.Of(err).Kind == outcome.Failing && obj.Status.Retry != nil {
		// The failed phase says how often it failed and when it is tried again, like Ready.
		retry := obj.Status.Retry
		delay := retry.NextAttemptTime.Sub(retry.LastFailureTime.Time)
		note := outcome.AttemptNote(retry.Attempts, delay)
		var failed *phaseError
		if errors.As(err, &failed) {
			conditions.MarkFalse(obj, failed.condition, retry.Reason, "%s (%s)", err.Error(), note)
		}
		// The error is raw here: the status written with it is redacted later, the log line now.
		ctrl.LoggerFrom(ctx).Info("Reconcile failed; retrying with back-off", "reason", retry.Reason,
			"error", s.redactor.String(err.Error()), "attempt", retry.Attempts, "after", delay.Round(time.Millisecond))
	}
	return res, serr
}

func readyMessage(obj *lxcv1.LXCContainer) string {
	return fmt.Sprintf("CT %d on %s at %s with %d services", obj.Status.VMID, obj.Status.Node, obj.Status.IPAddress, len(obj.Status.Services))
}

// phaseOf names, for printing, the first phase not yet done, or the summary.
func phaseOf(obj *lxcv1.LXCContainer) string {
	if conditions.IsStalled(obj) {
		return "Failed"
	}
	if conditions.IsReady(obj) {
		return "Ready"
	}
	for _, p := range []struct{ cond, name string }{
		{lxcv1.ContainerCreatedCondition, "Creating"},
		{lxcv1.ContainerStartedCondition, "Starting"},
		{lxcv1.ConfigManagerDeployedCondition, "Configuring"},
		{lxcv1.ScriptsCompletedCondition, "Provisioning"},
		{lxcv1.ServicesDiscoveredCondition, "Discovering"},
	} {
		if !conditions.IsTrue(obj, p.cond) {
			return p.name
		}
	}
	return "Pending"
}
