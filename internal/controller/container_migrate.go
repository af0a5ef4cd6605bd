package controller

import (
	"context"
	"fmt"
	"slices"

	"github.com/fluxcd/pkg/runtime/conditions"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
	"templatemanager.dev/lxc-template-manager/internal/outcome"
	"templatemanager.dev/lxc-template-manager/internal/proxmox"
)

// reconcileMigrate moves the container to the node spec.node names when a change of the spec
// asks for it: a restart migration (Proxmox shuts a running container down, moves its volumes
// and starts it on the target), with target-storage when the target lacks the storage of the
// root disk. For an HA-managed container Proxmox hands the migration to HA (a hamigrate
// task), as it does for every migrate call on such a container. A container that HA or an
// admin moved while the spec stayed as it was is followed there (followMoved), not moved back;
// spec.node is acted on when the spec changes. A target that is not online is waited for.
func (r *LXCContainerReconciler) reconcileMigrate(ctx context.Context, s *containerScope, cfg *proxmox.ContainerConfig) error {
	obj, st := s.obj, &s.obj.Status
	target := obj.Spec.Node
	if !migrationWanted(obj) || s.desired.HAPlacesNode() {
		// With node affinity the HA stack places the container; followMoved keeps status.node.
		return nil
	}
	if moving, err := r.haMoving(ctx, s); err != nil || moving {
		if err == nil {
			err = outcome.Wait(r.taskPoll(), lxcv1.MigratingReason, "HA moves CT %d from %s to %s", st.VMID, st.Node, target)
		}
		return err
	}
	if cfg.Lock != "" {
		return outcome.Wait(r.taskPoll(), lxcv1.MigratingReason, "CT %d is locked (%s); migrating it to %s waits", st.VMID, cfg.Lock, target)
	}
	if s.holdForRun(fmt.Sprintf("migrating CT %d to %s", st.VMID, target)) {
		// A restart migration would kill the script running in the guest.
		return nil
	}
	opts, err := r.migrateOptions(ctx, s, cfg, target)
	if err != nil {
		return err
	}
	upid, err := s.px.MigrateContainer(ctx, st.Node, int(st.VMID), opts)
	switch {
	case proxmox.IsOutcomeUnknown(err):
		// The request may have reached Proxmox: the next pass finds the container where it is.
		return outcome.Wait(r.taskPoll(), lxcv1.MigratingReason, "migrate request for CT %d ended without an answer: %v", st.VMID, err)
	case err != nil:
		return err
	}
	st.Operation = string(upid)
	r.forgetGuests(s)
	r.announce(obj, migrating, st.VMID, st.Node, target)
	return outcome.Wait(r.taskPoll(), lxcv1.MigratingReason, "migrating CT %d from %s to %s", st.VMID, st.Node, target)
}

// migrationWanted says whether a spec the controller has not yet carried out names another
// node than the container is on.
func migrationWanted(obj *lxcv1.LXCContainer) bool {
	return obj.Spec.Node != "" && obj.Spec.Node != obj.Status.Node && obj.Status.ObservedGeneration != obj.Generation
}

// migrateOptions checks that the target is online and not in maintenance, and maps the root
// disk's storage to the spec's storage when the target does not have it.
func (r *LXCContainerReconciler) migrateOptions(ctx context.Context, s *containerScope, cfg *proxmox.ContainerConfig, target string) (proxmox.MigrateOptions, error) {
	opts := proxmox.MigrateOptions{Target: target, Restart: true}
	nodes, err := s.px.Nodes(ctx)
	if err != nil {
		return opts, err
	}
	online := false
	for _, n := range nodes {
		online = online || (n.Name == target && n.Online())
	}
	if !online {
		return opts, outcome.Wait(outcome.DependencyRetry, lxcv1.NodeOfflineReason, "node %s is not online; CT %d stays on %s", target, s.obj.Status.VMID, s.obj.Status.Node)
	}
	maintenance, err := maintenanceNodes(ctx, s.px)
	if err != nil {
		return opts, err
	}
	if slices.Contains(maintenance, target) {
		// A node in maintenance takes no new guests; moving one there would undo the drain.
		return opts, outcome.Wait(outcome.DependencyRetry, lxcv1.NodeMaintenanceReason, "node %s is in maintenance mode; CT %d stays on %s", target, s.obj.Status.VMID, s.obj.Status.Node)
	}
	storages, err := s.px.Storages(ctx, target)
	if err != nil {
		return opts, err
	}
	if sid := volumeStorage(cfg.RootFS.Volume); sid != "" && !hasRootdirStorage(storages, sid) {
		if want := s.desired.Storage; want != "" && hasRootdirStorage(storages, want) {
			opts.TargetStorage = want
		} else {
			return opts, outcome.Stall(lxcv1.InvalidSpecReason, "node %s has no storage %s for the root disk of CT %d", target, sid, s.obj.Status.VMID)
		}
	}
	return opts, nil
}

func hasRootdirStorage(storages []proxmox.Storage, name string) bool {
	for _, st := range storages {
		if st.Name == name && st.Active && st.HasContent("rootdir") {
			return true
		}
	}
	return false
}

// haMoving reports whether HA is moving the container (a migration it was handed and has not
// finished), as the cluster-wide list shows it.
func (r *LXCContainerReconciler) haMoving(ctx context.Context, s *containerScope) (bool, error) {
	g, ok, err := r.clusterGuest(ctx, s, false)
	if err != nil || !ok {
		return false, err
	}
	return g.Lock == "migrate" || g.HAState == "migrate" || g.HAState == "relocate", nil
}

// finishMigrateTask polls the migrate task in status.operation. Once it succeeded the
// container is looked up on the target; an HA-handed migration (hamigrate) ends when HA has
// only queued it, and the container is followed once it arrives.
func (r *LXCContainerReconciler) finishMigrateTask(ctx context.Context, s *containerScope) error {
	st := &s.obj.Status
	upid, ok := operationTask(st.Operation, "vzmigrate", "hamigrate")
	if !ok {
		return nil
	}
	done, err := r.pollTask(ctx, s, upid, lxcv1.MigratingReason, "migrating CT %d from %s to %s", st.VMID, st.Node, s.obj.Spec.Node)
	if !done {
		return err
	}
	r.forgetGuests(s)
	if err != nil {
		return outcome.Failed(lxcv1.TaskFailedReason, fmt.Errorf("migrating the container failed: %w", err))
	}
	// A restart migration boots the guest anew on the target: as after a start, its address
	// is read again and, once provisioned, it must answer over a fresh SSH connection.
	r.forgetConnection(s.obj)
	r.lastAddress.forget(s.obj.UID)
	if conditions.IsTrue(s.obj, lxcv1.ConfigManagerDeployedCondition) {
		r.unreached.add(s.obj.UID)
	}
	target := s.obj.Spec.Node
	if _, err := s.px.ContainerConfig(ctx, target, int(st.VMID)); err == nil {
		st.Node = target
		return nil
	}
	_, err = r.followMoved(ctx, s, true)
	return err
}
