package outcome

import (
	"fmt"
	"time"

	"github.com/fluxcd/pkg/runtime/conditions"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
)

// Object is one of this project's kinds.
type Object interface {
	client.Object
	conditions.Setter
	SetObservedGeneration(int64)
}

// Summarize sets Ready, Reconciling and Stalled (kstatus polarity: the last two exist only while
// true) from how a reconcile ended, as Of judges it, and moves observedGeneration when the
// generation is finished: Ready, or Stalled. It returns what controller-runtime should do next.
func Summarize(obj Object, readyMessage string, recErr error, resync time.Duration) (ctrl.Result, error) {
	o := Of(recErr)
	ro, counted := obj.(Retrying)
	switch {
	case o.Kind == Done:
		if counted {
			ro.SetRetry(nil)
		}
		conditions.MarkTrue(obj, lxcv1.ReadyCondition, lxcv1.SucceededReason, "%s", readyMessage)
		conditions.Delete(obj, lxcv1.ReconcilingCondition)
		conditions.Delete(obj, lxcv1.StalledCondition)
		obj.SetObservedGeneration(obj.GetGeneration())
		return ctrl.Result{RequeueAfter: resync}, nil
	case o.Kind == Stalled:
		if counted {
			ro.SetRetry(nil)
		}
		conditions.MarkFalse(obj, lxcv1.ReadyCondition, o.Reason, "%s", o.Message)
		conditions.MarkStalled(obj, o.Reason, "%s", o.Message)
		conditions.Delete(obj, lxcv1.ReconcilingCondition)
		obj.SetObservedGeneration(obj.GetGeneration())
		// A stalled object waits for a change, but references outside the watch (Proxmox itself)
		// can change too, so look again at the resync period.
		return ctrl.Result{RequeueAfter: resync}, nil
	case o.Kind == Waiting:
		conditions.MarkFalse(obj, lxcv1.ReadyCondition, o.Reason, "%s", o.Message)
		conditions.MarkReconciling(obj, o.Reason, "%s", o.Message)
		conditions.Delete(obj, lxcv1.StalledCondition)
		return ctrl.Result{RequeueAfter: o.RequeueAfter}, nil
	case counted:
		// A failure is retried on the back-off schedule kept in status, not by the work
		// queue's rate limiter, which any successful poll in between would reset.
		attempts, delay := CountFailure(ro, o.Reason, time.Now())
		msg := fmt.Sprintf("%s (%s)", o.Message, AttemptNote(attempts, delay))
		conditions.MarkFalse(obj, lxcv1.ReadyCondition, o.Reason, "%s", msg)
		conditions.MarkReconciling(obj, o.Reason, "retrying: %s", msg)
		conditions.Delete(obj, lxcv1.StalledCondition)
		return ctrl.Result{RequeueAfter: delay}, nil
	default:
		conditions.MarkFalse(obj, lxcv1.ReadyCondition, o.Reason, "%s", o.Message)
		conditions.MarkReconciling(obj, o.Reason, "retrying: %s", o.Message)
		conditions.Delete(obj, lxcv1.StalledCondition)
		return ctrl.Result{}, recErr
	}
}
