package controller

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"

	"github.com/fluxcd/pkg/runtime/conditions"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
	"templatemanager.dev/lxc-template-manager/internal/backup"
	"templatemanager.dev/lxc-template-manager/internal/configmanager"
	"templatemanager.dev/lxc-template-manager/internal/outcome"
)

// beforeChangeLabel marks the LXCSnapshots and LXCBackups taken before a change; its value is
// the change's key.
const beforeChangeLabel = "lxc.templatemanager.dev/before-change"

// defaultKeepBeforeChange is how many ways back a container keeps when keep is unset.
const defaultKeepBeforeChange = 3

// wayBackPolicy is the container's snapshotBeforeChange, else its template's.
func wayBackPolicy(s *containerScope) *lxcv1.SnapshotBeforeChange {
	if s.obj.Spec.SnapshotBeforeChange != nil {
		return s.obj.Spec.SnapshotBeforeChange
	}
	return s.template.Spec.SnapshotBeforeChange
}

// changeKey identifies what the pipeline would make of the container: its Proxmox
// configuration, the config-manager bundle (files, env) and the scripts and packages it runs.
// It is computed once per reconcile.
func (r *LXCContainerReconciler) changeKey(s *containerScope) string {
	if s.changeKey != "" {
		return s.changeKey
	}
	h := sha256.New()
	fmt.Fprintln(h, s.desired.ConfigHash())
	if bundle, err := configmanager.Render(s.desired.Config); err == nil {
		fmt.Fprintln(h, bundle.Hash())
	}
	if runs, err := r.plannedRuns(s); err == nil {
		for _, rn := range runs {
			fmt.Fprintln(h, rn.label, rn.hash)
		}
	}
	s.changeKey = hex.EncodeToString(h.Sum(nil))[:12]
	return s.changeKey
}

// guardChange takes a way back before a change reaches a container that was Ready before: an
// LXCSnapshot, or an LXCBackup where snapshots are unsupported. The change waits until it is
// taken. A change already rolled back stays stalled until the spec changes or a reconcile is
// requested.
func (r *LXCContainerReconciler) guardChange(ctx context.Context, s *containerScope) error {
	cp := s.obj.Status.ChangeProtection
	if wayBackPolicy(s) == nil || cp == nil || cp.AppliedKey == "" {
		return nil
	}
	key := r.changeKey(s)
	switch {
	case key == cp.AppliedKey:
		cp.Key, cp.Snapshot, cp.Backup, cp.RolledBack = "", "", "", ""
		return nil
	case cp.Key == key && cp.RolledBack != "":
		if !s.requested {
			if err := r.rollbackDone(ctx, s, key); err != nil {
				return err
			}
			return outcome.Stall(lxcv1.RolledBackReason, "%s", cp.RolledBack)
		}
		cp.RolledBack = "" // asked to try the same change again, from the same way back
	case cp.Key != key:
		cp.Key, cp.Snapshot, cp.Backup, cp.RolledBack = key, "", "", ""
	}
	return r.wayBackTaken(ctx, s, key)
}

// wayBackTaken makes sure the way back of the change key exists and is Ready.
func (r *LXCContainerReconciler) wayBackTaken(ctx context.Context, s *containerScope, key string) error {
	cp := s.obj.Status.ChangeProtection
	if cp.Backup != "" {
		b := &lxcv1.LXCBackup{}
		if err := r.Get(ctx, types.NamespacedName{Namespace: s.obj.Namespace, Name: cp.Backup}, b); err != nil {
			return client.IgnoreNotFound(err)
		}
		return wayBackReady(b, "backup", cp.Backup)
	}
	if cp.Snapshot == "" {
		cp.Snapshot = fmt.Sprintf("%.240s-%s", s.obj.Name, key)
		if err := r.createOwned(ctx, s, &lxcv1.LXCSnapshot{
			ObjectMeta: wayBackMeta(s, cp.Snapshot, key),
			Spec: lxcv1.LXCSnapshotSpec{ContainerRef: lxcv1.ContainerReference{Name: s.obj.Name},
				Description: fmt.Sprintf("before generation %d of %s/%s", s.obj.Generation, s.obj.Namespace, s.obj.Name)},
		}); err != nil {
			return err
		}
		r.announce(s.obj, snapshotTaken, cp.Snapshot)
		r.pruneWayBacks(ctx, s)
	}
	snap := &lxcv1.LXCSnapshot{}
	if err := r.Get(ctx, types.NamespacedName{Namespace: s.obj.Namespace, Name: cp.Snapshot}, snap); err != nil {
		if apierrors.IsNotFound(err) {
			return outcome.Wait(r.taskPoll(), lxcv1.SnapshottingReason, "taking LXCSnapshot %s before the change", cp.Snapshot)
		}
		return err
	}
	if stalled := conditions.Get(snap, lxcv1.StalledCondition); stalled != nil && stalled.Reason == lxcv1.SnapshotUnsupportedReason {
		return r.backUpInstead(ctx, s, key, stalled.Message)
	}
	return wayBackReady(snap, "snapshot", cp.Snapshot)
}

// backedUpBeforeRecreate makes sure an LXCBackup of the container is Ready before it is
// destroyed to be made again: its data is lost otherwise. The backup is kept (it is not owned
// by the container, and no schedule prunes it); one is taken per generation.
func (r *LXCContainerReconciler) backedUpBeforeRecreate(ctx context.Context, s *containerScope, fields []string) error {
	name := fmt.Sprintf("%.220s-before-recreate-g%d", s.obj.Name, s.obj.Generation)
	b := &lxcv1.LXCBackup{}
	err := r.Get(ctx, types.NamespacedName{Namespace: s.obj.Namespace, Name: name}, b)
	if apierrors.IsNotFound(err) {
		b = &lxcv1.LXCBackup{ObjectMeta: wayBackMeta(s, name, fmt.Sprintf("recreate-g%d", s.obj.Generation)), Spec: lxcv1.LXCBackupSpec{
			ContainerRef: lxcv1.ContainerReference{Name: s.obj.Name}, Storage: wayBackStorage(s),
			Mode: lxcv1.BackupModeSnapshot, Compress: "zstd", DeletionPolicy: lxcv1.DeletionPolicyDelete,
			Notes: "before recreating it: " + strings.Join(fields, "; "),
		}}
		if err := r.Create(ctx, b); err != nil && !apierrors.IsAlreadyExists(err) {
			return err
		}
		return outcome.Wait(r.taskPoll(), lxcv1.BackingUpReason, "backing CT %d up to LXCBackup %s before recreating it", s.obj.Status.VMID, name)
	}
	if err != nil {
		return err
	}
	return wayBackReady(b, "backup", name)
}

// wayBackStorage is where a backup taken before a change goes: the storage of the container's
// backup schedule, else local.
func wayBackStorage(s *containerScope) string {
	if s.obj.Spec.Backup != nil {
		return s.obj.Spec.Backup.Storage
	}
	if s.template.Spec.Backup != nil {
		return s.template.Spec.Backup.Storage
	}
	return "local"
}

// backUpInstead takes an LXCBackup where the container cannot be snapshotted. It is not owned
// by the container: a backup outlives it.
func (r *LXCContainerReconciler) backUpInstead(ctx context.Context, s *containerScope, key, why string) error {
	cp := s.obj.Status.ChangeProtection
	cp.Backup = fmt.Sprintf("%.240s-%s", s.obj.Name, key)
	b := &lxcv1.LXCBackup{ObjectMeta: wayBackMeta(s, cp.Backup, key), Spec: lxcv1.LXCBackupSpec{
		ContainerRef: lxcv1.ContainerReference{Name: s.obj.Name}, Storage: wayBackStorage(s),
		Mode: lxcv1.BackupModeSnapshot, Compress: "zstd", DeletionPolicy: lxcv1.DeletionPolicyDelete,
		Notes: fmt.Sprintf("before generation %d (%s)", s.obj.Generation, why),
	}}
	if err := r.Create(ctx, b); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	return outcome.Wait(r.taskPoll(), lxcv1.BackingUpReason, "taking LXCBackup %s before the change: %s", cp.Backup, why)
}

func wayBackMeta(s *containerScope, name, key string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Namespace: s.obj.Namespace, Name: name, Labels: map[string]string{
		lxcv1.ContainerLabel: backup.LabelValue(s.obj.Name), beforeChangeLabel: key,
	}}
}

func (r *LXCContainerReconciler) createOwned(ctx context.Context, s *containerScope, obj client.Object) error {
	if err := controllerutil.SetControllerReference(s.obj, obj, r.Scheme()); err != nil {
		return err
	}
	if err := r.Create(ctx, obj); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	return nil
}

// wayBackReady waits until the snapshot or backup taken before a change is Ready.
func wayBackReady(obj conditions.Getter, what, name string) error {
	if conditions.IsReady(obj) {
		return nil
	}
	msg := "not taken yet"
	if c := conditions.Get(obj, lxcv1.ReadyCondition); c != nil {
		msg = c.Message
	}
	return outcome.Wait(outcome.DependencyRetry/8, lxcv1.SnapshottingReason, "waiting for the %s %s taken before the change: %s", what, name, msg)
}

// pruneWayBacks deletes the container's oldest snapshots taken before changes beyond keep.
func (r *LXCContainerReconciler) pruneWayBacks(ctx context.Context, s *containerScope) {
	keep := defaultKeepBeforeChange
	if p := wayBackPolicy(s); p != nil && p.Keep != nil {
		keep = int(*p.Keep)
	}
	list := &lxcv1.LXCSnapshotList{}
	if err := r.List(ctx, list, client.InNamespace(s.obj.Namespace), client.MatchingLabels{lxcv1.ContainerLabel: backup.LabelValue(s.obj.Name)}, client.HasLabels{beforeChangeLabel}); err != nil {
		return
	}
	items := list.Items
	sort.Slice(items, func(i, j int) bool { return items[i].CreationTimestamp.After(items[j].CreationTimestamp.Time) })
	for i := keep; i < len(items); i++ {
		_ = r.Delete(ctx, &items[i])
	}
}

// rollBackOnFailure rolls a failed change back to the snapshot taken before it, when the
// policy asks for it: an LXCRestore (owned by the container) does the rollback, and once it is
// done the container stalls with RolledBack naming the failure. The spec stays as it is.
func (r *LXCContainerReconciler) rollBackOnFailure(ctx context.Context, s *containerScope, failure error) error {
	p, cp := wayBackPolicy(s), s.obj.Status.ChangeProtection
	reason := outcome.Of(failure).Reason
	if p == nil || !p.RollbackOnFailure || cp == nil || cp.Snapshot == "" || cp.RolledBack != "" ||
		(reason != lxcv1.ScriptFailedReason && reason != lxcv1.PackagesFailedReason && reason != lxcv1.StoppedAfterStartReason) {
		return failure
	}
	restore := &lxcv1.LXCRestore{
		// One per change and request: a reconcile working from a stale copy (one that has not
		// seen RolledBack yet) finds it exists instead of rolling back twice, and a change
		// tried again on request gets a rollback of its own.
		ObjectMeta: metav1.ObjectMeta{Namespace: s.obj.Namespace, Name: rollbackName(s.obj, cp.Key),
			Labels: map[string]string{lxcv1.ContainerLabel: backup.LabelValue(s.obj.Name), beforeChangeLabel: cp.Key}},
		Spec: lxcv1.LXCRestoreSpec{ContainerRef: lxcv1.ContainerReference{Name: s.obj.Name}, SnapshotRef: &lxcv1.LocalObjectReference{Name: cp.Snapshot}},
	}
	if err := r.createOwned(ctx, s, restore); err != nil {
		return err
	}
	cp.RolledBack = fmt.Sprintf("%v; rolled back to LXCSnapshot %s taken before the change (the spec is unchanged: fix it, or request a reconcile to try again)", failure, cp.Snapshot)
	// Ready says RolledBack once the rollback is done: the restore holds the container
	// meanwhile, and guardChange stalls it when the restore lets go.
	return outcome.Wait(outcome.DependencyRetry, lxcv1.RestoringReason, "%v; rolling back to LXCSnapshot %s taken before the change", failure, cp.Snapshot)
}

// rollbackName names the LXCRestore rolling back the change key, for the last reconcile
// request (the reconcile-requested-at annotation) that tried it.
func rollbackName(obj *lxcv1.LXCContainer, key string) string {
	req := sha256.Sum256([]byte(obj.Annotations[lxcv1.ReconcileRequestAnnotation]))
	return fmt.Sprintf("%.200s-rollback-%s-%s", obj.Name, key, hex.EncodeToString(req[:])[:6])
}

// rollbackDone waits until the LXCRestores rolling back the change key are done, so that
// Ready says RolledBack only of a container that is back.
func (r *LXCContainerReconciler) rollbackDone(ctx context.Context, s *containerScope, key string) error {
	list := &lxcv1.LXCRestoreList{}
	if err := r.List(ctx, list, client.InNamespace(s.obj.Namespace), client.MatchingLabels{beforeChangeLabel: key}); err != nil {
		return err
	}
	for _, rs := range list.Items {
		if rs.Spec.ContainerRef.Name == s.obj.Name && !conditions.IsReady(&rs) && !conditions.IsStalled(&rs) {
			return outcome.Wait(outcome.DependencyRetry, lxcv1.RestoringReason, "LXCRestore %s is rolling the change back", rs.Name)
		}
	}
	return nil
}

// changeApplied records what the container is Ready with, the base of the next change.
func (r *LXCContainerReconciler) changeApplied(s *containerScope) {
	if wayBackPolicy(s) == nil {
		s.obj.Status.ChangeProtection = nil
		return
	}
	s.obj.Status.ChangeProtection = &lxcv1.ChangeProtectionStatus{AppliedKey: r.changeKey(s)}
}
