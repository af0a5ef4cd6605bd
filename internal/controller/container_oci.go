package controller

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
	"templatemanager.dev/lxc-template-manager/internal/ostemplate"
	"templatemanager.dev/lxc-template-manager/internal/outcome"
	"templatemanager.dev/lxc-template-manager/internal/proxmox"
)

// ociPullTask is the type of Proxmox's oci-registry-pull task.
const ociPullTask = "ociregistrypull"

// resolveOCIDigest asks the registry which manifest digest (sha256:…) a reference's tag has
// now. Proxmox pulls by tag only, so the controller pins the digest itself: the archive's file
// name carries it, and status.ociImage records it. A registry on a loopback address is spoken
// to over plain HTTP, as skopeo does.
var resolveOCIDigest = func(ctx context.Context, reference string) (string, error) {
	ref, err := name.ParseReference(reference, name.StrictValidation)
	if err != nil {
		return "", err
	}
	desc, err := remote.Head(ref, remote.WithContext(ctx))
	if err != nil {
		return "", err
	}
	return desc.Digest.String(), nil
}

// ociStorage is the storage of the node OCI images are pulled to: the first active storage, by
// name, that holds container templates.
func ociStorage(cluster *lxcv1.ProxmoxCluster, node string) (string, bool) {
	var names []string
	for _, st := range cluster.Status.Storages {
		if st.Node == node && st.Active && slices.Contains(strings.Split(st.Content, ","), "vztmpl") {
			names = append(names, st.Name)
		}
	}
	if len(names) == 0 {
		return "", false
	}
	slices.Sort(names)
	return names[0], true
}

// ociImageForCreate makes sure the node holds the archive of the template's OCI image at the
// digest its tag has now, and returns it pinned. Until the pull task that copies it ends, it
// returns a WaitError with the task recorded in status.operation.
func (r *LXCContainerReconciler) ociImageForCreate(ctx context.Context, s *containerScope) (*lxcv1.PinnedOCIImage, error) {
	st := &s.obj.Status
	reference := ostemplate.OCIReference(s.desired.OSTemplate)
	digest, err := resolveOCIDigest(ctx, reference)
	if err != nil {
		return nil, outcome.Wait(outcome.DependencyRetry, lxcv1.OSTemplateNotFoundReason,
			"the registry does not answer with a manifest for OCI image %s: %v", reference, err)
	}
	storage, ok := ociStorage(s.cluster, st.Node)
	if !ok {
		return nil, outcome.Wait(outcome.DependencyRetry, lxcv1.OSTemplateNotFoundReason,
			"node %s of cluster %s has no active storage for container templates to pull OCI image %s to", st.Node, s.cluster.Name, reference)
	}
	file := ostemplate.OCIArchiveName(reference, digest)
	pinned := &lxcv1.PinnedOCIImage{Reference: reference, Digest: digest, Volid: storage + ":vztmpl/" + file + ".tar"}
	listed, err := s.px.OSTemplates(ctx, st.Node, storage)
	if err != nil {
		return nil, err
	}
	if slices.ContainsFunc(listed, func(t proxmox.OSTemplate) bool { return t.VolID == pinned.Volid }) {
		return pinned, nil
	}
	upid, err := s.px.PullOCIImage(ctx, st.Node, storage, reference, file)
	if err != nil {
		return nil, rootRequired(err, s)
	}
	st.Operation = string(upid)
	r.announce(s.obj, pullingOCIImage, reference, digest, st.Node, pinned.Volid)
	return nil, outcome.Wait(r.taskPoll(), lxcv1.CreatingReason, "pulling OCI image %s (%s) to %s on %s", reference, digest, pinned.Volid, st.Node)
}

// finishOCIPull polls the pull task in status.operation. A failed pull stalls the create with
// the task's exit status, on the back-off schedule.
func (r *LXCContainerReconciler) finishOCIPull(ctx context.Context, s *containerScope) error {
	st := &s.obj.Status
	upid, ok := operationTask(st.Operation, ociPullTask)
	if !ok {
		return nil
	}
	reference := ostemplate.OCIReference(s.desired.OSTemplate)
	done, err := r.pollTask(ctx, s, upid, lxcv1.CreatingReason, "pulling OCI image %s to node %s", reference, st.Node)
	if !done {
		return err
	}
	if err != nil {
		return outcome.Failed(lxcv1.TaskFailedReason, fmt.Errorf("pulling OCI image %s failed: %w", reference, err))
	}
	return nil
}

// ociImageChange says why a container made from an OCI image must be made again: the
// template names another reference (a new tag) than the one it was made from.
func ociImageChange(s *containerScope) string {
	have := s.obj.Status.OCIImage
	if !ostemplate.IsOCI(s.desired.OSTemplate) {
		return ""
	}
	if have == nil {
		if s.obj.Status.OSTemplate == "" || s.obj.Status.ClonedFrom != 0 {
			return "" // an adopted container, or one cloned from a bake: its origin is unknown
		}
		return fmt.Sprintf("osTemplate (created from %s, the template asks for OCI image %s)", s.obj.Status.OSTemplate, ostemplate.OCIReference(s.desired.OSTemplate))
	}
	if want := ostemplate.OCIReference(s.desired.OSTemplate); want != have.Reference {
		return fmt.Sprintf("osTemplate (made from OCI image %s at %s, the template asks for %s)", have.Reference, have.Digest, want)
	}
	return ""
}
