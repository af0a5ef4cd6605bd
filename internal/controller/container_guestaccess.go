package controller

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
	"templatemanager.dev/lxc-template-manager/internal/configmanager"
	"templatemanager.dev/lxc-template-manager/internal/desired"
	"templatemanager.dev/lxc-template-manager/internal/outcome"
	"templatemanager.dev/lxc-template-manager/internal/ssh"
)

// reconcileGuestAccess keeps who may log in to the guest as the spec says: root's authorized
// keys are the controller's key and spec.sshPublicKeys, and root's password is the one in its
// Secret. Proxmox sets both only at creation.
func (r *LXCContainerReconciler) reconcileGuestAccess(ctx context.Context, s *containerScope, guest *guestLink) error {
	if err := r.reconcileAuthorizedKeys(ctx, s, guest); err != nil {
		return err
	}
	return r.reconcileRootPassword(ctx, s, guest)
}

func authorizedKeysHash(keys []lxcv1.SSHPublicKey) string {
	h := sha256.New()
	for _, k := range keys {
		fmt.Fprintf(h, "%s\n", k)
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

func (r *LXCContainerReconciler) reconcileAuthorizedKeys(ctx context.Context, s *containerScope, guest *guestLink) error {
	st := &s.obj.Status
	want := authorizedKeysHash(s.obj.Spec.SSHPublicKeys)
	if st.AuthorizedKeysHash == want {
		return nil
	}
	key, err := r.Key.Load(ctx, s.cluster.Name)
	if err != nil {
		return err
	}
	sess, err := guest.session(ctx)
	if err != nil {
		return err
	}
	old, err := sess.ReadFile(ctx, authorizedKeysPath)
	if err != nil {
		return fmt.Errorf("reading %s: %w", authorizedKeysPath, err)
	}
	// The controller's own keys stay as the rotation left them; every other line is the spec's.
	var lines []string
	for _, line := range strings.Split(string(old), "\n") {
		for _, k := range []*sshKey{key.Current, key.Previous} {
			if k != nil && sameKey(line, k.authorized) && !slices.Contains(lines, line) {
				lines = append(lines, line)
			}
		}
	}
	for _, k := range s.obj.Spec.SSHPublicKeys {
		lines = append(lines, string(k))
	}
	content := []byte(strings.Join(lines, "\n") + "\n")
	if !bytes.Equal(content, old) {
		if err := sess.Upload(ctx, ssh.File{Path: authorizedKeysPath, Content: content, Mode: 0o600, Owner: "root:root"}); err != nil {
			return fmt.Errorf("writing %s: %w", authorizedKeysPath, err)
		}
		if st.AuthorizedKeysHash != "" {
			r.announce(s.obj, authorizedKeysChanged, st.VMID, len(s.obj.Spec.SSHPublicKeys))
		}
	}
	st.AuthorizedKeysHash = want
	return nil
}

// sameKey compares two authorized_keys lines by their key, not their comments.
func sameKey(a, b string) bool {
	fa, fb := strings.Fields(a), strings.Fields(b)
	return len(fa) >= 2 && len(fb) >= 2 && fa[0] == fb[0] && fa[1] == fb[1]
}

// reconcileRootPassword sets root's password in the guest when its Secret changed since it
// was last set. The password travels as an uploaded file, never on a command line.
func (r *LXCContainerReconciler) reconcileRootPassword(ctx context.Context, s *containerScope, guest *guestLink) error {
	st := &s.obj.Status
	ref := st.RootPasswordSecretRef
	if s.obj.Spec.RootPasswordSecretRef != nil {
		ref = s.obj.Spec.RootPasswordSecretRef
	}
	if ref == nil {
		return nil
	}
	nn := types.NamespacedName{Namespace: s.obj.Namespace, Name: ref.Name}
	// The manager caches Secrets' metadata only: the version comes from the cache, the
	// password is read only when the version moved.
	meta := &metav1.PartialObjectMetadata{}
	meta.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Secret"))
	if err := r.Get(ctx, nn, meta); err == nil && st.RootPasswordVersion == meta.ResourceVersion &&
		st.RootPasswordSecretRef != nil && *st.RootPasswordSecretRef == *ref {
		return nil
	}
	secret := &corev1.Secret{}
	if err := r.APIReader.Get(ctx, nn, secret); err != nil {
		return desired.NotFoundAsWait(err, "Secret", ref.Name)
	}
	if st.RootPasswordVersion == secret.ResourceVersion && st.RootPasswordSecretRef != nil && *st.RootPasswordSecretRef == *ref {
		return nil
	}
	password := secret.Data[ref.Key]
	if len(password) == 0 {
		return outcome.Stall(lxcv1.InvalidSpecReason, "Secret %s has no key %s", ref.Name, ref.Key)
	}
	if bytes.ContainsAny(password, "\n\r") {
		return outcome.Stall(lxcv1.InvalidSpecReason, "the root password in Secret %s key %s has a line break", ref.Name, ref.Key)
	}
	s.redactor.Add(string(password))
	sess, err := guest.session(ctx)
	if err != nil {
		return err
	}
	line := append([]byte("root:"), password...)
	line = append(line, '\n')
	if err := sess.Upload(ctx, ssh.File{Path: configmanager.RootPasswordFile, Content: line, Mode: 0o600, Owner: "root:root"}); err != nil {
		return fmt.Errorf("uploading the root password: %w", err)
	}
	res, err := sess.Exec(ctx, ssh.Command{Line: configmanager.SetRootPasswordCommand})
	if err != nil {
		return err
	}
	if res.ExitCode != 0 {
		return fmt.Errorf("chpasswd exited %d: %s", res.ExitCode, strings.TrimSpace(string(res.Stderr)))
	}
	if st.RootPasswordVersion != "" {
		r.announce(s.obj, rootPasswordChanged, st.VMID, ref.Name)
	}
	st.RootPasswordSecretRef = ref.DeepCopy()
	st.RootPasswordVersion = secret.ResourceVersion
	return nil
}
