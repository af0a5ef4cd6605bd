package controller

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/fluxcd/pkg/runtime/conditions"
	"sigs.k8s.io/controller-runtime/pkg/client"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
	"templatemanager.dev/lxc-template-manager/internal/desired"
	"templatemanager.dev/lxc-template-manager/internal/ostemplate"
	"templatemanager.dev/lxc-template-manager/internal/outcome"
	"templatemanager.dev/lxc-template-manager/internal/proxmox"
)

// reconcileCreate makes sure the Proxmox container exists and is ours: it places and numbers a
// new container, creates it, polls the create task, and adopts a container that carries our
// marker after a crash. A VMID held by a container that is not ours is never touched.
func (r *LXCContainerReconciler) reconcileCreate(ctx context.Context, s *containerScope) (created, string, error) {
	out := created{view: &proxmoxView{}}
	st := &s.obj.Status
	if err := r.finishCreateTasks(ctx, s); err != nil {
		return out, "", err
	}
	exists := func() string { return fmt.Sprintf("CT %d exists on node %s", st.VMID, st.Node) }
	if st.VMID != 0 && st.Operation == "" {
		if _, err := r.followMoved(ctx, s, false); err != nil {
			return out, "", err
		}
	}
	if st.VMID != 0 {
		out.view.guest = r.settledGuest(ctx, s)
		if out.view.guest != nil && st.AppliedConfigHash == s.desired.ConfigHash() && !osTemplateUpgradePending(s) && (!migrationWanted(s.obj) || s.desired.HAPlacesNode()) {
			// Nothing in the spec changed since it was applied: what cannot change in place has not.
			return out, exists(), nil
		}
	}
	if st.VMID == 0 {
		if err := r.recordPlacement(ctx, s); err != nil {
			return out, "", err
		}
	}
	cfg, err := r.configWherever(ctx, s)
	switch {
	case errors.Is(err, proxmox.ErrNotFound):
		return out, "", r.create(ctx, s)
	case err != nil:
		return out, "", err
	}
	if cfg.Lock == "create" {
		// Until its create task ends a container shows no description, so whose it is cannot
		// be told yet.
		return out, "", outcome.Wait(r.taskPoll(), lxcv1.CreatingReason, "CT %d on %s is still being created", st.VMID, st.Node)
	}
	out.view.config = &cfg
	if err := r.claim(ctx, s, &cfg); err != nil {
		return out, "", err
	}
	if err := r.reconcileRecreate(ctx, s, &cfg); err != nil {
		return out, "", err
	}
	if err := r.reconcileMigrate(ctx, s, &cfg); err != nil {
		return out, "", err
	}
	r.announceAdoption(s)
	return out, exists(), nil
}

// finishCreateTasks polls the create or recreate task in status.operation; it returns nil once
// none runs.
func (r *LXCContainerReconciler) finishCreateTasks(ctx context.Context, s *containerScope) error {
	st := &s.obj.Status
	if err := r.finishOCIPull(ctx, s); err != nil {
		return err
	}
	if upid, ok := operationTask(st.Operation, "vzcreate", "vzrestore", "vzclone"); ok {
		done, err := r.pollTask(ctx, s, upid, lxcv1.CreatingReason, "creating CT %d on %s", st.VMID, st.Node)
		if !done {
			return err
		}
		if err != nil {
			r.announce(s.obj, createFailed, err)
			// A failed create leaves nothing behind in Proxmox; it is tried again, with a
			// VMID allocated afresh, on the back-off schedule.
			if s.obj.Spec.VMID == nil {
				st.VMID = 0
			}
			return outcome.Failed(lxcv1.TaskFailedReason, fmt.Errorf("creating the container failed: %w", err))
		}
	}
	if err := r.finishMigrateTask(ctx, s); err != nil {
		return err
	}
	if upid, ok := operationTask(st.Operation, "vzdestroy"); ok {
		done, err := r.pollTask(ctx, s, upid, lxcv1.RecreatingReason, "destroying CT %d to create it again", st.VMID)
		if !done {
			return err
		}
		return r.recreated(s, err)
	}
	return nil
}

// recordPlacement places and numbers a new container and records the VMID and node before
// asking Proxmox, so a crash between the two finds the container by its marker instead of
// creating a second one. The write is conditional on the version read: a reconcile working
// from a stale copy of the object (one that has not seen an earlier placement yet) fails here
// instead of creating a second container.
func (r *LXCContainerReconciler) recordPlacement(ctx context.Context, s *containerScope) error {
	st := &s.obj.Status
	before := s.obj.DeepCopy()
	if err := r.place(ctx, s); err != nil {
		return err
	}
	if err := r.Status().Patch(ctx, s.obj, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{})); err != nil {
		if s.obj.Spec.VMID == nil {
			r.vmids.Release(s.cluster.Name, int(st.VMID))
		}
		return fmt.Errorf("recording the placement of CT %d: %w", st.VMID, err)
	}
	return nil
}

// settledGuest answers, from the cluster-wide resource list, whether a container that was
// already created still exists with our tag and a settled state, and returns it as the list
// shows it; it saves requests per container.
func (r *LXCContainerReconciler) settledGuest(ctx context.Context, s *containerScope) *proxmox.Guest {
	if r.Guests == nil || !conditions.IsTrue(s.obj, lxcv1.ContainerCreatedCondition) || s.obj.Status.Operation != "" {
		return nil
	}
	g, ok, err := r.Guests.Lookup(ctx, s.cluster.Name, s.px, int(s.obj.Status.VMID))
	if err != nil || !ok || g.Node != s.obj.Status.Node || !g.HasTag(lxcv1.ProxmoxTag) || g.Lock != "" ||
		(g.Status != "running" && g.Status != "stopped") {
		return nil
	}
	return &g
}

// create starts the create task and records it.
func (r *LXCContainerReconciler) create(ctx context.Context, s *containerScope) error {
	obj, st, d := s.obj, &s.obj.Status, s.desired
	free, err := s.px.VMIDFree(ctx, int(st.VMID))
	if err != nil {
		return err
	}
	if !free {
		// A create of this very container may have taken the VMID since the config was read:
		// one a shard started before the container moved to this one. Such a container is on
		// the recorded node; the next pass reads its lock or marker instead of numbering anew.
		if _, err := s.px.ContainerConfig(ctx, st.Node, int(st.VMID)); err == nil {
			return outcome.Wait(time.Second, lxcv1.CreatingReason, "CT %d appeared on %s while creating it", st.VMID, st.Node)
		} else if !errors.Is(err, proxmox.ErrNotFound) {
			return err
		}
		// The VMID is used by a guest on another node, or by a VM.
		return r.vmidTaken(s, fmt.Sprintf("VMID %d is in use elsewhere in the cluster", st.VMID))
	}
	if conditions.IsTrue(obj, lxcv1.ContainerCreatedCondition) {
		r.announce(obj, containerVanished, st.VMID, st.Node)
	}
	if obj.Spec.RestoreFrom != nil {
		return r.restore(ctx, s)
	}
	if bake := bakeToCloneFrom(s); bake != nil {
		return r.clone(ctx, s, bake)
	}
	var pinned *lxcv1.PinnedOCIImage
	var volid string
	if ostemplate.IsOCI(d.OSTemplate) {
		if pinned, err = r.ociImageForCreate(ctx, s); err != nil {
			return err
		}
		volid = pinned.Volid
	} else {
		var ok bool
		if volid, ok, err = osTemplateForCreate(s); err != nil {
			return err
		} else if !ok {
			return outcome.Wait(outcome.DependencyRetry, lxcv1.OSTemplateNotFoundReason, "node %s of cluster %s has no OS template %s",
				st.Node, s.cluster.Name, ostemplate.Wanted(d.OSTemplate))
		}
	}
	password, authorized, err := r.newGuest(ctx, s, volid)
	if err != nil {
		return err
	}
	st.OCIImage = pinned
	upid, err := s.px.CreateContainer(ctx, st.Node, createSpec(s, volid, password, createKeys(authorized, obj)))
	if err := r.taskStarted(s, upid, err, lxcv1.CreatingReason, "create", "creating"); err != nil {
		return err
	}
	r.announce(obj, creating, st.VMID, st.Node, volid)
	return outcome.Wait(r.taskPoll(), lxcv1.CreatingReason, "creating CT %d on %s", st.VMID, st.Node)
}

// newGuest readies what a new container gets however it is made (created or cloned): the pool
// is checked, status forgets the inside of any container before it, and the root password and
// the controller's key are loaded. It returns the password and the key's authorized_keys line.
func (r *LXCContainerReconciler) newGuest(ctx context.Context, s *containerScope, volid string) (password, authorized string, err error) {
	obj, st := s.obj, &s.obj.Status
	if err := r.checkPool(ctx, s); err != nil {
		return "", "", err
	}
	forgetProvisioning(obj)
	st.OSTemplate = volid
	password, err = r.rootPassword(ctx, obj)
	if err != nil {
		return "", "", err
	}
	s.redactor.Add(password)
	key, err := r.Key.Load(ctx, s.cluster.Name)
	if err != nil {
		return "", "", err
	}
	st.SSHKeyFingerprint = key.Current.fingerprint
	return password, key.Current.authorized, nil
}

// taskStarted records the task that makes the container (a create or a clone: call names the
// request, doing what it does), or turns the call's error into what the pass does next.
func (r *LXCContainerReconciler) taskStarted(s *containerScope, upid proxmox.UPID, err error, reason, call, doing string) error {
	st := &s.obj.Status
	switch {
	case errors.Is(err, proxmox.ErrAlreadyExists):
		// Made by someone between our check and our call; the next pass reads its marker.
		return outcome.Wait(time.Second, reason, "CT %d appeared on %s while %s it", st.VMID, st.Node, doing)
	case proxmox.IsOutcomeUnknown(err):
		// The request may have reached Proxmox: look for the marker instead of asking twice.
		return outcome.Wait(r.taskPoll(), reason, "%s request for CT %d ended without an answer: %v", call, st.VMID, err)
	case err != nil:
		return rootRequired(err, s)
	}
	r.vmids.Release(s.cluster.Name, int(st.VMID))
	st.Operation = string(upid)
	return nil
}

// createSpec is the create call for the container: its desired settings, the marker, the
// root password and the SSH keys.
func createSpec(s *containerScope, volid, password string, keys []string) proxmox.CreateSpec {
	obj, st, d := s.obj, &s.obj.Status, s.desired
	swap := d.SwapMiB
	return proxmox.CreateSpec{
		VMID:          int(st.VMID),
		OSTemplate:    volid,
		Hostname:      d.Hostname,
		Description:   containerDescription(s),
		Tags:          d.Tags,
		Cores:         d.Cores,
		MemoryMiB:     d.MemoryMiB,
		SwapMiB:       &swap,
		Storage:       d.Storage,
		RootFSGiB:     d.DiskGiB,
		Privileged:    !d.Unprivileged,
		Features:      d.ProxmoxFeatures(),
		Nets:          []proxmox.NetConfig{d.Net0()},
		Nameservers:   d.Network.Nameservers,
		Password:      password,
		SSHPublicKeys: keys,
		OnBoot:        obj.Spec.PowerState != lxcv1.PowerStateStopped,
		Pool:          d.Pool,
		Passthrough:   desired.PassthroughOptions(d),
	}
}

// forgetProvisioning clears what status knows of a container's inside, before a container is
// created: a new container has a new host key, no config-manager, no HA resource, and has run
// no scripts.
func forgetProvisioning(obj *lxcv1.LXCContainer) {
	st := &obj.Status
	st.IPAddress, st.SSHHostKey, st.ConfigHash, st.PackagesHash, st.AppliedConfigHash = "", "", "", "", ""
	st.RestartPending, st.RootPasswordVersion, st.AuthorizedKeysHash, st.AppliedFirewallHash = nil, "", "", ""
	st.Scripts, st.Services, st.AppliedHA, st.ClonedFrom = nil, nil, "", 0
	for _, c := range []string{lxcv1.ContainerStartedCondition, lxcv1.ConfigManagerDeployedCondition,
		lxcv1.ScriptsCompletedCondition, lxcv1.ServicesDiscoveredCondition} {
		conditions.Delete(obj, c)
	}
}

// createKeys are root's keys in a new container: the controller's, then the spec's.
func createKeys(own string, obj *lxcv1.LXCContainer) []string {
	keys := []string{own}
	for _, k := range obj.Spec.SSHPublicKeys {
		keys = append(keys, string(k))
	}
	return keys
}
