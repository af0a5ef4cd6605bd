package controller

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/fluxcd/pkg/runtime/conditions"
	gossh "golang.org/x/crypto/ssh"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
	"templatemanager.dev/lxc-template-manager/internal/outcome"
	"templatemanager.dev/lxc-template-manager/internal/proxmox"
	"templatemanager.dev/lxc-template-manager/internal/ssh"
)

// bakePoll is how often a bake being stopped is looked at.
const bakePoll = 2 * time.Second

// isBake says the container provisions its template's bake.
func isBake(obj *lxcv1.LXCContainer) bool { return obj.Labels[lxcv1.BakeOfLabel] != "" }

// bakeEnabled says the template asks to be baked.
func bakeEnabled(tmpl *lxcv1.LXCTemplate) bool {
	return tmpl != nil && tmpl.Spec.Bake != nil && tmpl.Spec.Bake.Enabled != nil && *tmpl.Spec.Bake.Enabled
}

// templateHash is the hash of what a template puts on a container's disk: a bake made from
// another hash is outdated. What the controller keeps per container or outside the guest (HA,
// pool, firewall, backups, snapshots, the description, baking itself) is left out, so changing
// it does not bake again.
func templateHash(tmpl *lxcv1.LXCTemplate) string {
	spec := tmpl.Spec.DeepCopy()
	spec.Bake, spec.HA, spec.Pool, spec.Firewall, spec.Backup, spec.SnapshotBeforeChange, spec.Description = nil, nil, "", nil, nil, nil, ""
	b, _ := json.Marshal(struct {
		Spec     *lxcv1.LXCTemplateSpec
		Packages []lxcv1.ResolvedPackages
	}{spec, tmpl.Status.ResolvedPackages})
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])[:16]
}

// bakeToCloneFrom returns the template's ready bake on the container's cluster and node, made
// from the template as it is now, or nil: then the container is built from the OS template.
func bakeToCloneFrom(s *containerScope) *lxcv1.BakeStatus {
	obj, tmpl := s.obj, s.template
	if isBake(obj) || !bakeEnabled(tmpl) || obj.Spec.RestoreFrom != nil || obj.Annotations[lxcv1.OSTemplateUpgradeAnnotation] != "" {
		return nil
	}
	// A disk smaller than the bake's cannot be had by cloning it.
	if s.desired.DiskGiB < templateDiskGiB(tmpl) {
		return nil
	}
	hash := templateHash(tmpl)
	for i := range tmpl.Status.Bakes {
		b := &tmpl.Status.Bakes[i]
		if b.Ready && b.VMID != 0 && b.Cluster == s.cluster.Name && b.Node == obj.Status.Node && b.TemplateHash == hash {
			return b
		}
	}
	return nil
}

// templateDiskGiB is the root disk size of the template's containers, and so of its bakes.
func templateDiskGiB(tmpl *lxcv1.LXCTemplate) int {
	if d := tmpl.Spec.Resources.DiskGiB; d != nil {
		return int(*d)
	}
	return 8
}

// clone starts the clone of the template's bake into the container's VMID and records the
// task. The clone is linked where Proxmox can link it (a template on a storage with the clone
// feature), full otherwise; what differs per container follows in the later phases.
func (r *LXCContainerReconciler) clone(ctx context.Context, s *containerScope, bake *lxcv1.BakeStatus) error {
	obj, st, d := s.obj, &s.obj.Status, s.desired
	storage := s.template.Spec.Storage
	if storage == "" {
		storage = "local-lvm"
	}
	full := s.template.Spec.Bake.Clone == lxcv1.BakeCloneFull || d.Storage != storage
	if !full {
		linkable, err := s.px.HasFeature(ctx, bake.Node, int(bake.VMID), "clone")
		if err != nil {
			return err
		}
		full = !linkable
	}
	volid, _, err := osTemplateForCreate(s)
	if err != nil {
		return err
	}
	// The password and the key reach the clone over SSH, after its first start.
	if _, _, err := r.newGuest(ctx, s, volid); err != nil {
		return err
	}
	spec := proxmox.CloneSpec{NewID: int(st.VMID), Hostname: d.Hostname, Description: containerDescription(s), Full: full, Pool: d.Pool}
	if full && d.Storage != storage {
		spec.Storage = d.Storage
	}
	upid, err := s.px.CloneContainer(ctx, st.Node, int(bake.VMID), spec)
	if err := r.taskStarted(s, upid, err, lxcv1.CloningReason, "clone", "cloning"); err != nil {
		return err
	}
	st.ClonedFrom = bake.VMID
	kind := "linked"
	if full {
		kind = "full"
	}
	r.announce(obj, cloning, st.VMID, st.Node, bake.VMID, s.template.Name, kind)
	return outcome.Wait(r.taskPoll(), lxcv1.CloningReason, "cloning CT %d on %s from CT %d", st.VMID, st.Node, bake.VMID)
}

// provisionedOnce says all five phases of the container finished.
func provisionedOnce(obj *lxcv1.LXCContainer) bool {
	for _, c := range []string{lxcv1.ContainerCreatedCondition, lxcv1.ContainerStartedCondition, lxcv1.ConfigManagerDeployedCondition,
		lxcv1.ScriptsCompletedCondition, lxcv1.ServicesDiscoveredCondition} {
		if !conditions.IsTrue(obj, c) {
			return false
		}
	}
	return true
}

// reconcileBake runs instead of the pipeline for a bake that finished its five phases: it stops
// the container and makes it a Proxmox template, once. A template is never started again, so a
// baked container is left as it is until it is deleted.
func (r *LXCContainerReconciler) reconcileBake(ctx context.Context, s *containerScope) error {
	st := &s.obj.Status
	if st.Baked {
		return nil
	}
	if s.px == nil {
		if err := r.resolve(ctx, s); err != nil {
			return err
		}
	}
	if upid, ok := operationTask(st.Operation, "vzstop"); ok {
		ts, err := s.px.TaskStatus(ctx, upid)
		if err != nil {
			return err
		}
		if ts.Running {
			return outcome.Wait(bakePoll, lxcv1.BakingReason, "stopping CT %d to make it a template", st.VMID)
		}
		st.Operation = ""
	}
	cs, err := s.px.ContainerStatus(ctx, st.Node, int(st.VMID))
	if err != nil {
		return err
	}
	if cs.Status != "stopped" {
		upid, err := s.px.StopContainer(ctx, st.Node, int(st.VMID))
		if err != nil {
			return err
		}
		st.Operation = string(upid)
		r.forgetConnection(s.obj)
		return outcome.Wait(bakePoll, lxcv1.BakingReason, "stopping CT %d to make it a template", st.VMID)
	}
	if !cs.Template {
		if err := s.px.ConvertToTemplate(ctx, st.Node, int(st.VMID)); err != nil {
			return err
		}
	}
	st.Baked = true
	r.announce(s.obj, baked, st.VMID, st.Node, s.obj.Spec.TemplateRef.Name)
	return nil
}

// bakeOrphaned says the bake's template is gone or no longer asks for this bake; the bake then
// deletes itself (owner references do the same where the garbage collector runs).
func (r *LXCContainerReconciler) bakeOrphaned(ctx context.Context, obj *lxcv1.LXCContainer) (bool, error) {
	tmpl := &lxcv1.LXCTemplate{}
	err := r.Get(ctx, types.NamespacedName{Namespace: obj.Namespace, Name: obj.Labels[lxcv1.BakeOfLabel]}, tmpl)
	if apierrors.IsNotFound(err) {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	return !bakeEnabled(tmpl), nil
}

// regenerateHostKeysCommand makes new SSH host keys and has sshd use them for new connections;
// the connection it runs on keeps the old key. It prints the new public keys.
const regenerateHostKeysCommand = `set -e; rm -f /etc/ssh/ssh_host_*_key /etc/ssh/ssh_host_*_key.pub; ssh-keygen -A >/dev/null; ` +
	`(systemctl reload ssh.service 2>/dev/null || systemctl reload sshd.service 2>/dev/null || systemctl restart ssh.service); ` +
	`cat /etc/ssh/ssh_host_*_key.pub`

// hostKeyPreference is the order in which the controller's SSH client asks for host key types.
var hostKeyPreference = []string{gossh.KeyAlgoED25519, gossh.KeyAlgoECDSA256, gossh.KeyAlgoECDSA384, gossh.KeyAlgoECDSA521, gossh.KeyAlgoRSA}

// regenerateHostKeys gives a cloned container host keys of its own: a clone carries its bake's,
// and no two containers may share one. The new key is pinned, and the connection dropped so the
// next one is held to it.
func (r *LXCContainerReconciler) regenerateHostKeys(ctx context.Context, s *containerScope, sess ssh.Session) error {
	res, err := sess.Exec(ctx, ssh.Command{Line: regenerateHostKeysCommand})
	if err != nil {
		return err
	}
	if res.ExitCode != 0 {
		return fmt.Errorf("making new SSH host keys exited %d: %s", res.ExitCode, strings.TrimSpace(string(res.Stderr)))
	}
	keys := map[string]gossh.PublicKey{}
	for _, line := range strings.Split(string(res.Stdout), "\n") {
		if k, _, _, _, err := gossh.ParseAuthorizedKey([]byte(line)); err == nil {
			keys[k.Type()] = k
		}
	}
	for _, t := range hostKeyPreference {
		if k, ok := keys[t]; ok {
			st := &s.obj.Status
			st.SSHHostKey = ssh.Fingerprint(k)
			r.connections().Drop(connectionKey(s.obj))
			r.announce(s.obj, hostKeysRegenerated, st.VMID, st.ClonedFrom, st.SSHHostKey)
			return outcome.Wait(time.Second, lxcv1.ConnectingReason, "connecting to %s with the new SSH host key %s", st.IPAddress, st.SSHHostKey)
		}
	}
	return fmt.Errorf("making new SSH host keys left none the controller can use")
}
