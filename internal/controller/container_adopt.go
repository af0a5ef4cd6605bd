package controller

import (
	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"

	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/fluxcd/pkg/runtime/conditions"
	ctrl "sigs.k8s.io/controller-runtime"
	"templatemanager.dev/lxc-template-manager/internal/outcome"
	"templatemanager.dev/lxc-template-manager/internal/proxmox"
)

// ownerMarker is the description line that ties a Proxmox container to its LXCContainer.
func ownerMarker(obj *lxcv1.LXCContainer) string {
	return fmt.Sprintf("%s %s/%s uid=%s", lxcv1.OwnerMarkerPrefix, obj.Namespace, obj.Name, obj.UID)
}

// ownedBy reports whether a Proxmox description carries obj's marker line.
func ownedBy(description string, obj *lxcv1.LXCContainer) bool {
	marker := ownerMarker(obj)
	for _, line := range strings.Split(description, "\n") {
		if strings.TrimSpace(line) == marker {
			return true
		}
	}
	return false
}

// adoptable says whether obj may take over the container at its spec.vmid, given that
// container's description. A container with the marker of an LXCContainer of the same namespace
// and name — an earlier incarnation of this object (deletionPolicy Retain, a restore), since two
// objects of one name cannot exist at once — is adopted on spec.vmid alone. One without any
// marker (made by hand or by another tool) needs the adopt annotation, which the cluster's
// policy allows only in its adoptionNamespaces. One with another object's marker never is.
func adoptable(description string, obj *lxcv1.LXCContainer) bool {
	if obj.Spec.VMID == nil {
		return false
	}
	same := fmt.Sprintf("%s %s/%s uid=", lxcv1.OwnerMarkerPrefix, obj.Namespace, obj.Name)
	earlier := false
	for _, line := range strings.Split(description, "\n") {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, lxcv1.OwnerMarkerPrefix) {
			continue
		}
		if !strings.HasPrefix(line, same) {
			return false
		}
		earlier = true
	}
	return earlier || obj.Annotations[lxcv1.AdoptAnnotation] == "true"
}

// adopt writes obj's marker into the container's description (replacing an earlier marker of
// the same object) and its tag, with the digest read, so a concurrent edit is not overwritten.
func (r *LXCContainerReconciler) adopt(ctx context.Context, s *containerScope, cfg *proxmox.ContainerConfig) error {
	st := &s.obj.Status
	lines := []string{ownerMarker(s.obj)}
	for _, line := range strings.Split(cfg.Description, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(line), lxcv1.OwnerMarkerPrefix) && strings.TrimSpace(line) != "" {
			lines = append(lines, line)
		}
	}
	description := strings.Join(lines, "\n")
	tags := cfg.Tags
	if !slices.Contains(tags, lxcv1.ProxmoxTag) {
		tags = append(slices.Clone(tags), lxcv1.ProxmoxTag)
	}
	if err := s.px.UpdateContainerConfig(ctx, st.Node, int(st.VMID), proxmox.ConfigUpdate{Description: &description, Tags: tags, Digest: cfg.Digest}); err != nil {
		return fmt.Errorf("writing this LXCContainer's marker into CT %d: %w", st.VMID, err)
	}
	cfg.Description, cfg.Tags = description, tags
	// Proxmox does not record the OS template a container was made from: an adopted one's is
	// unknown, and never a reason to recreate it.
	st.OSTemplate = ""
	r.announce(s.obj, adoptedByAnnotation, st.VMID, st.Node, s.obj.UID)
	r.forgetGuests(s)
	return nil
}

// vmidTaken handles a VMID that belongs to someone else: an allocated one is given up and a new
// one taken on the next pass; a VMID the user asked for stalls.
func (r *LXCContainerReconciler) vmidTaken(s *containerScope, msg string) error {
	if s.obj.Spec.VMID == nil && !conditions.IsTrue(s.obj, lxcv1.ContainerCreatedCondition) {
		s.obj.Status.VMID = 0
		return outcome.Wait(time.Second, lxcv1.CreatingReason, "%s; allocating another", msg)
	}
	return outcome.Stall(lxcv1.VMIDConflictReason, "%s", msg)
}

// claim makes sure the container at the VMID is this object's: one without a marker, or with an
// earlier incarnation's, is adopted when the adopt annotation asks; any other is refused.
func (r *LXCContainerReconciler) claim(ctx context.Context, s *containerScope, cfg *proxmox.ContainerConfig) error {
	st := &s.obj.Status
	if !ownedBy(cfg.Description, s.obj) && adoptable(cfg.Description, s.obj) {
		if err := r.checkAdoption(ctx, s, cfg.Description); err != nil {
			return err
		}
		if err := r.adopt(ctx, s, cfg); err != nil {
			return err
		}
	}
	if ownedBy(cfg.Description, s.obj) {
		return nil
	}
	ctrl.LoggerFrom(ctx).Info("VMID held by a container without this object's marker", "vmid", st.VMID, "node", st.Node,
		"descriptionLines", strings.Count(cfg.Description, "\n")+1)
	msg := fmt.Sprintf("VMID %d on node %s is held by a container this LXCContainer does not own", st.VMID, st.Node)
	if s.obj.Spec.VMID != nil && s.obj.Annotations[lxcv1.AdoptAnnotation] != "true" && markerless(cfg.Description) {
		msg += fmt.Sprintf("; it carries no owner marker: to take it over, annotate this LXCContainer with %s=true (allowed in the namespaces of ProxmoxCluster %s spec.policy.adoptionNamespaces)",
			lxcv1.AdoptAnnotation, s.cluster.Name)
	}
	return r.vmidTaken(s, msg)
}

// announceAdoption reports a container found with this object's marker that this object did
// not create or recreate: it was made before a crash, or kept by a deleted incarnation.
func (r *LXCContainerReconciler) announceAdoption(s *containerScope) {
	st := &s.obj.Status
	reason := conditions.GetReason(s.obj, lxcv1.ContainerCreatedCondition)
	if !conditions.IsTrue(s.obj, lxcv1.ContainerCreatedCondition) && st.Operation == "" &&
		reason != lxcv1.CreatingReason && reason != lxcv1.RecreatingReason && reason != lxcv1.MigratingReason {
		r.announce(s.obj, adoptedByMarker, st.VMID, st.Node)
	}
}
