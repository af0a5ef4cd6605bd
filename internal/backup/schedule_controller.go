package backup

import (
	"context"
	"errors"
	"sort"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
	"templatemanager.dev/lxc-template-manager/internal/shard"
)

// ScheduleReconciler makes the LXCBackups a container's backup schedule (its own or its
// template's) asks for, and prunes the scheduled ones by its keep rules. It owns
// status.backup of the container and nothing else of it; a schedule that does not parse is
// the container reconciler's to report (InvalidSpec naming the field).
type ScheduleReconciler struct {
	client.Client
	Recorder events.EventRecorder
	// Now is the clock; nil is time.Now.
	Now func() time.Time
	// Shard picks the containers whose schedules this manager keeps; the zero Shard picks all.
	Shard shard.Selector
}

// maxScheduleWait bounds how long a container waits between looks, so a template's schedule
// that changed is picked up without a watch on every field of it.
const maxScheduleWait = 10 * time.Minute

// Reconcile makes the due backup, prunes, and waits for the next slot.
func (r *ScheduleReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	c := &lxcv1.LXCContainer{}
	if err := r.Get(ctx, req.NamespacedName, c); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !r.Shard.Owns(c) {
		return ctrl.Result{}, nil
	}
	if !c.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, nil
	}
	tmpl := &lxcv1.LXCTemplate{}
	if err := r.Get(ctx, types.NamespacedName{Namespace: c.Namespace, Name: c.Spec.TemplateRef.Name}, tmpl); err != nil {
		if !apierrors.IsNotFound(err) {
			return ctrl.Result{}, err
		}
		tmpl = nil
	}
	spec := Effective(c, tmpl)
	if spec == nil {
		return ctrl.Result{}, nil
	}
	sched, err := ParseSchedule(spec.Schedule)
	if err != nil {
		return ctrl.Result{}, nil // the container's Stalled condition names it
	}
	now := r.now()
	st := c.Status.Backup
	last := c.CreationTimestamp.Time
	if st != nil && st.LastScheduleTime != nil {
		last = st.LastScheduleTime.Time
	}
	base := c.DeepCopy()
	if slot, due := dueSlot(sched, last, now); due && c.Status.VMID != 0 {
		if err := r.makeBackup(ctx, c, spec, slot); err != nil {
			return ctrl.Result{}, err
		}
	}
	if err := r.prune(ctx, c, spec); err != nil {
		return ctrl.Result{}, err
	}
	if !equality.Semantic.DeepEqual(base.Status.Backup, c.Status.Backup) {
		if err := r.Status().Patch(ctx, c, client.MergeFrom(base)); err != nil {
			return ctrl.Result{}, client.IgnoreNotFound(err)
		}
	}
	wait := sched.Next(now).Sub(now) + time.Second
	return ctrl.Result{RequeueAfter: min(wait, maxScheduleWait)}, nil
}

func (r *ScheduleReconciler) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// makeBackup creates the slot's LXCBackup, labelled with the container, and records the slot.
// The backup is not owned by the container: it outlives it.
func (r *ScheduleReconciler) makeBackup(ctx context.Context, c *lxcv1.LXCContainer, spec *lxcv1.BackupSchedule, slot time.Time) error {
	b := &lxcv1.LXCBackup{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: c.Namespace, Name: backupName(c.Name, slot),
			Labels: map[string]string{lxcv1.ContainerLabel: LabelValue(c.Name), lxcv1.ScheduledLabel: "true"},
		},
		Spec: lxcv1.LXCBackupSpec{
			ContainerRef: lxcv1.ContainerReference{Name: c.Name},
			Storage:      spec.Storage, Mode: spec.Mode, Compress: "zstd",
			Notes:          "scheduled backup (" + spec.Schedule + ")",
			DeletionPolicy: lxcv1.DeletionPolicyDelete,
		},
	}
	if b.Spec.Mode == "" {
		b.Spec.Mode = lxcv1.BackupModeSnapshot
	}
	created := true
	if err := r.Create(ctx, b); apierrors.IsAlreadyExists(err) {
		created = false // made by a reconcile that read the container before this slot was recorded
	} else if err != nil {
		return err
	}
	if c.Status.Backup == nil {
		c.Status.Backup = &lxcv1.BackupScheduleStatus{}
	}
	c.Status.Backup.LastScheduleTime = &metav1.Time{Time: slot}
	c.Status.Backup.LastBackup = b.Name
	if created {
		r.Recorder.Eventf(c, nil, "Normal", lxcv1.BackupScheduledReason, "Backup", "LXCBackup %s for the slot of %s", b.Name, slot.UTC().Format(time.RFC3339))
	}
	return nil
}

// prune deletes the finished scheduled backups of the container that no keep rule keeps. A
// backup still running is never pruned.
func (r *ScheduleReconciler) prune(ctx context.Context, c *lxcv1.LXCContainer, spec *lxcv1.BackupSchedule) error {
	list := &lxcv1.LXCBackupList{}
	if err := r.List(ctx, list, client.InNamespace(c.Namespace),
		client.MatchingLabels{lxcv1.ContainerLabel: LabelValue(c.Name), lxcv1.ScheduledLabel: "true"}); err != nil {
		return err
	}
	var finished []dated
	for _, b := range list.Items {
		if b.Spec.ContainerRef.Name != c.Name || b.Status.CompletionTime == nil || !b.DeletionTimestamp.IsZero() {
			continue
		}
		finished = append(finished, dated{name: b.Name, at: b.Status.CompletionTime.Time})
	}
	sort.Slice(finished, func(i, j int) bool { return finished[i].at.After(finished[j].at) })
	if len(finished) > 0 {
		if c.Status.Backup == nil {
			c.Status.Backup = &lxcv1.BackupScheduleStatus{}
		}
		c.Status.Backup.LastSuccessfulTime = &metav1.Time{Time: finished[0].at}
	}
	_, removed := prune(finished, spec.Keep)
	var errs []error
	for _, name := range removed {
		b := &lxcv1.LXCBackup{ObjectMeta: metav1.ObjectMeta{Namespace: c.Namespace, Name: name}}
		if err := r.Delete(ctx, b); client.IgnoreNotFound(err) != nil {
			errs = append(errs, err)
		}
	}
	if len(removed) > 0 {
		r.Recorder.Eventf(c, nil, "Normal", lxcv1.BackupsPrunedReason, "Backup", "deleted %s by the keep rules", strings.Join(removed, ", "))
	}
	return errors.Join(errs...)
}

// LabelValue fits a name into a label value (63 characters).
func LabelValue(name string) string {
	if len(name) > 63 {
		return strings.TrimRight(name[:63], "-.")
	}
	return name
}
