package backup

import (
	"context"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
	"templatemanager.dev/lxc-template-manager/internal/outcome"
)

// hold marks the container as being restored, so its reconciler neither starts it while it is
// stopped for the restore nor takes it for gone while Proxmox makes it again. Another restore
// of the same container waits.
func (r *RestoreReconciler) hold(ctx context.Context, obj *lxcv1.LXCRestore, t target) error {
	// The container's reconciler writes it too: read it again on a conflict, so that two
	// restores never both believe they hold it.
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		c := &lxcv1.LXCContainer{}
		if err := r.Get(ctx, client.ObjectKeyFromObject(t.container), c); err != nil {
			return err
		}
		switch holder := c.Annotations[lxcv1.RestoringAnnotation]; holder {
		case obj.Name:
			return nil
		case "":
		default:
			return outcome.Wait(outcome.DependencyRetry, lxcv1.RestoringReason, "LXCRestore %s is restoring LXCContainer %s; this one waits", holder, c.Name)
		}
		base := c.DeepCopy()
		metav1.SetMetaDataAnnotation(&c.ObjectMeta, lxcv1.RestoringAnnotation, obj.Name)
		return r.Patch(ctx, c, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{}))
	})
}

// release gives the container back to its reconciler, if this restore holds it.
func (r *RestoreReconciler) release(ctx context.Context, obj *lxcv1.LXCRestore) error {
	c := &lxcv1.LXCContainer{}
	if err := r.Get(ctx, types.NamespacedName{Namespace: obj.Namespace, Name: obj.Spec.ContainerRef.Name}, c); err != nil {
		return client.IgnoreNotFound(err)
	}
	if c.Annotations[lxcv1.RestoringAnnotation] != obj.Name {
		return nil
	}
	base := c.DeepCopy()
	delete(c.Annotations, lxcv1.RestoringAnnotation)
	err := r.Patch(ctx, c, client.MergeFrom(base))
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

// forgetGuest clears what the container's status knows of the guest's inside, so its pipeline
// checks and converges the restored guest from the start: the configuration is read and set
// again, config-manager is deployed again (changed scripts run again), keys and the password
// are written again. A container made from an archive has an unknown OS template origin,
// which is never a reason to make it again.
func forgetGuest(ctx context.Context, c client.Client, obj *lxcv1.LXCContainer, fromArchive bool) error {
	fresh := &lxcv1.LXCContainer{}
	if err := c.Get(ctx, types.NamespacedName{Namespace: obj.Namespace, Name: obj.Name}, fresh); err != nil {
		return client.IgnoreNotFound(err)
	}
	base := fresh.DeepCopy()
	st := &fresh.Status
	st.ConfigHash, st.AppliedConfigHash, st.PackagesHash = "", "", ""
	st.AuthorizedKeysHash, st.RootPasswordVersion, st.AppliedFirewallHash = "", "", ""
	st.RestartPending, st.PendingWritten, st.RestartedFor = nil, nil, nil
	if fromArchive {
		st.OSTemplate = ""
	}
	return c.Status().Patch(ctx, fresh, client.MergeFrom(base))
}
