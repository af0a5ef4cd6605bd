package controller

import (
	"bytes"
	"context"
	"fmt"
	"strings"

	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
	"templatemanager.dev/lxc-template-manager/internal/outcome"
	"templatemanager.dev/lxc-template-manager/internal/ssh"
)

// authorizedKeysPath is where Proxmox puts the keys given at creation, the controller's among them.
const authorizedKeysPath = "/root/.ssh/authorized_keys"

// reconcileSSHKey moves a container to its cluster's current SSH key: it adds the new key to
// root's authorized_keys, checks that the new key logs in, and only then removes the old one.
// When every container of the cluster has the new key, the old key leaves the Secret.
func (r *LXCContainerReconciler) reconcileSSHKey(ctx context.Context, s *containerScope, guest *guestLink) error {
	key, err := r.Key.Load(ctx, s.cluster.Name)
	if err != nil {
		return err
	}
	st := &s.obj.Status
	if st.SSHKeyFingerprint == key.Current.fingerprint {
		return r.retireSSHKey(ctx, s, key)
	}
	sess, err := guest.session(ctx)
	if err != nil {
		return err
	}
	old, err := sess.ReadFile(ctx, authorizedKeysPath)
	if err != nil {
		return fmt.Errorf("reading %s: %w", authorizedKeysPath, err)
	}
	changed := false
	withNew := authorizedKeys(old, key.Current, nil)
	if !bytes.Equal(withNew, old) {
		changed = true
		if err := sess.Upload(ctx, ssh.File{Path: authorizedKeysPath, Content: withNew, Mode: 0o600, Owner: "root:root"}); err != nil {
			return fmt.Errorf("adding the controller's new SSH key: %w", err)
		}
	}
	check, err := r.SSH.Connect(ctx, ssh.Target{Address: st.IPAddress, Signer: key.Current.signer, HostKey: st.SSHHostKey})
	if err != nil {
		return outcome.Failed(lxcv1.SSHUnreachableReason, fmt.Errorf("the controller's new SSH key %s does not log in to %s: %w",
			key.Current.fingerprint, st.IPAddress, err))
	}
	_ = check.Close()
	if key.Previous != nil {
		if withoutOld := authorizedKeys(withNew, key.Current, key.Previous); !bytes.Equal(withoutOld, withNew) {
			changed = true
			if err := sess.Upload(ctx, ssh.File{Path: authorizedKeysPath, Content: withoutOld, Mode: 0o600, Owner: "root:root"}); err != nil {
				return fmt.Errorf("removing the controller's old SSH key: %w", err)
			}
		}
	}
	from := st.SSHKeyFingerprint
	st.SSHKeyFingerprint = key.Current.fingerprint
	if from != "" && changed {
		r.announce(s.obj, sshKeyRotated, from, key.Current.fingerprint)
	}
	return r.retireSSHKey(ctx, s, key)
}

// retireSSHKey drops the previous key from the cluster's Secret once every provisioned
// container of the cluster trusts the current one.
func (r *LXCContainerReconciler) retireSSHKey(ctx context.Context, s *containerScope, key *ClusterKey) error {
	if key.Previous == nil {
		return nil
	}
	list := &lxcv1.LXCContainerList{}
	if err := r.List(ctx, list, client.MatchingFields{containerClusterIndex: s.cluster.Name}); err != nil {
		return err
	}
	for i := range list.Items {
		c := &list.Items[i]
		if c.UID == s.obj.UID {
			c = s.obj // this reconcile's status is not written yet
		}
		if c.Status.VMID != 0 && c.DeletionTimestamp.IsZero() && c.Status.SSHKeyFingerprint != key.Current.fingerprint {
			return nil
		}
	}
	return r.Key.Retire(ctx, s.cluster.Name, key.Current.fingerprint)
}

// authorizedKeys returns an authorized_keys file with add present once and remove absent; other
// lines (the users' keys) stay as they are.
func authorizedKeys(content []byte, add, remove *sshKey) []byte {
	keyOf := func(line string) string {
		f := strings.Fields(line)
		if len(f) < 2 {
			return ""
		}
		return f[1]
	}
	addKey := keyOf(add.authorized)
	removeKey := ""
	if remove != nil {
		removeKey = keyOf(remove.authorized)
	}
	var out []string
	found := false
	for _, line := range strings.Split(strings.TrimRight(string(content), "\n"), "\n") {
		switch k := keyOf(line); {
		case line == "":
			continue
		case removeKey != "" && k == removeKey:
			continue
		case k == addKey:
			if found {
				continue
			}
			found = true
		}
		out = append(out, line)
	}
	if !found {
		out = append(out, add.authorized)
	}
	return []byte(strings.Join(out, "\n") + "\n")
}

// containersForKeySecret forgets a cluster's cached key when its key Secret changes and requeues
// the cluster's containers, which carry out a rotation or recover from a lost key.
func (r *LXCContainerReconciler) containersForKeySecret(ctx context.Context, obj client.Object) []reconcile.Request {
	if obj.GetNamespace() != r.Key.Namespace || !strings.HasPrefix(obj.GetName(), sshKeySecretPrefix) {
		return nil
	}
	cluster := obj.GetAnnotations()[sshKeyClusterAnnotation]
	if cluster == "" {
		return nil
	}
	r.Key.Forget(cluster)
	list := &lxcv1.LXCContainerList{}
	if err := r.List(ctx, list, client.MatchingFields{containerClusterIndex: cluster}); err != nil {
		return nil
	}
	return requestsFor(list.Items)
}
