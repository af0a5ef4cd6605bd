package controller

import (
	"context"
	"errors"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
	"templatemanager.dev/lxc-template-manager/internal/outcome"
	"templatemanager.dev/lxc-template-manager/internal/proxmox"
)

// heldByRestore keeps the pipeline off a container an LXCRestore is working on: it is stopped,
// rolled back or made again by Proxmox, and must not be started or taken for gone meanwhile.
// What the controller knew of the guest's boot is dropped, so once the restore lets go the
// restored guest must answer over a fresh SSH connection before the container is Ready.
func (r *LXCContainerReconciler) heldByRestore(s *containerScope) error {
	name := s.obj.Annotations[lxcv1.RestoringAnnotation]
	if name == "" {
		return nil
	}
	r.forgetConnection(s.obj)
	r.lastAddress.forget(s.obj.UID)
	r.unreached.add(s.obj.UID)
	return outcome.Wait(outcome.DependencyRetry, lxcv1.RestoringReason, "LXCRestore %s is restoring the container", name)
}

// restoreArchive is the archive spec.restoreFrom names, and the node it is on ("" when any
// node may reach it: an archive given by volume id). An LXCBackup not finished yet waits.
func (r *LXCContainerReconciler) restoreArchive(ctx context.Context, obj *lxcv1.LXCContainer) (archive, node string, err error) {
	from := obj.Spec.RestoreFrom
	if from.BackupRef == nil {
		return from.Archive, "", nil
	}
	b := &lxcv1.LXCBackup{}
	if err := r.Get(ctx, types.NamespacedName{Namespace: obj.Namespace, Name: from.BackupRef.Name}, b); err != nil {
		if apierrors.IsNotFound(err) {
			return "", "", outcome.Wait(outcome.DependencyRetry, lxcv1.DependencyNotReadyReason, "spec.restoreFrom.backupRef: LXCBackup %s not found", from.BackupRef.Name)
		}
		return "", "", err
	}
	if b.Status.Archive == "" {
		return "", "", outcome.Wait(outcome.DependencyRetry, lxcv1.DependencyNotReadyReason, "spec.restoreFrom.backupRef: LXCBackup %s has no archive yet", b.Name)
	}
	return b.Status.Archive, b.Status.Node, nil
}

// restoreNode is the node a container made from a backup must be placed on: the node whose
// storage holds the archive. A spec.node that names another stalls.
func (r *LXCContainerReconciler) restoreNode(ctx context.Context, s *containerScope) (string, error) {
	if s.obj.Spec.RestoreFrom == nil {
		return s.obj.Spec.Node, nil
	}
	_, node, err := r.restoreArchive(ctx, s.obj)
	switch {
	case err != nil:
		return "", err
	case node == "":
		return s.obj.Spec.Node, nil
	case s.obj.Spec.Node != "" && s.obj.Spec.Node != node:
		return "", outcome.Stall(lxcv1.InvalidSpecReason, "spec.restoreFrom: the archive is on node %s, spec.node asks for %s", node, s.obj.Spec.Node)
	}
	return node, nil
}

// restore makes the container from the archive spec.restoreFrom names, under its VMID, with
// this object's marker, hostname and tags and new MAC addresses (the original may still run).
// Its data comes back; the pipeline then makes it match the spec. Where it was made from is
// unknown, which is never a reason to make it again.
func (r *LXCContainerReconciler) restore(ctx context.Context, s *containerScope) error {
	obj, st, d := s.obj, &s.obj.Status, s.desired
	archive, _, err := r.restoreArchive(ctx, obj)
	if err != nil {
		return err
	}
	key, err := r.Key.Load(ctx, s.cluster.Name)
	if err != nil {
		return err
	}
	forgetProvisioning(obj)
	st.OSTemplate = ""
	st.SSHKeyFingerprint = key.Current.fingerprint
	upid, err := s.px.RestoreContainer(ctx, st.Node, proxmox.RestoreSpec{
		VMID: int(st.VMID), Archive: archive, Storage: d.Storage, Unique: true,
		Hostname: d.Hostname, Description: containerDescription(s), Tags: d.Tags,
	})
	switch {
	case errors.Is(err, proxmox.ErrAlreadyExists):
		return outcome.Wait(time.Second, lxcv1.CreatingReason, "CT %d appeared on %s while restoring it", st.VMID, st.Node)
	case proxmox.IsOutcomeUnknown(err):
		return outcome.Wait(r.taskPoll(), lxcv1.CreatingReason, "restore request for CT %d ended without an answer: %v", st.VMID, err)
	case err != nil:
		return rootRequired(err, s)
	}
	r.vmids.Release(s.cluster.Name, int(st.VMID))
	st.Operation = string(upid)
	r.announce(obj, creating, st.VMID, st.Node, archive)
	return outcome.Wait(r.taskPoll(), lxcv1.CreatingReason, "restoring CT %d on %s from %s", st.VMID, st.Node, archive)
}

// containerDescription is the Proxmox description of a container the controller makes: the
// owner marker first.
func containerDescription(s *containerScope) string {
	return fmt.Sprintf("%s\nManaged by LXC Template Manager from template %s/%s.", ownerMarker(s.obj), s.template.Namespace, s.template.Name)
}
