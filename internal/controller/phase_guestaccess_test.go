package controller

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
)

// TestGuestAccess covers root's keys and password on guest stand-ins: they follow the spec and
// the password Secret after creation, where Proxmox sets them only once.
func TestGuestAccess(t *testing.T) {
	f := newGuestFixture(t, "phase-access")
	tmpl := f.templateWith(t, "ga", func(*lxcv1.LXCTemplateSpec) {})
	const userKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKeyOfAUserForTheGuestAccessTestOnly0000 user@test"
	c := f.containerOf("ga", tmpl)
	create(t, c)
	readyWithin(t, c, time.Minute)
	g := f.guestOf(t, c)
	hashOf := func(p string) string { s := sha256.Sum256([]byte(p)); return hex.EncodeToString(s[:]) }

	t.Run("first deploy: → root's password is the generated Secret's", func(t *testing.T) {
		secret := &corev1.Secret{}
		if err := k8s.Get(testCtx, types.NamespacedName{Namespace: c.Namespace, Name: c.Name + "-root-password"}, secret); err != nil {
			t.Fatal(err)
		}
		if got := g.RootPasswordHash(); got != hashOf(string(secret.Data["password"])) {
			t.Errorf("root's password in the guest is not the Secret's (hash %q)", got)
		}
		if _, ok := g.ReadFile("/run/config-manager-chpasswd"); ok {
			t.Error("the password file was left in the guest")
		}
	})

	t.Run("rotated password Secret: → chpasswd with the new password, RootPasswordChanged", func(t *testing.T) {
		secret := &corev1.Secret{}
		if err := k8s.Get(testCtx, types.NamespacedName{Namespace: c.Namespace, Name: c.Name + "-root-password"}, secret); err != nil {
			t.Fatal(err)
		}
		secret.Data["password"] = []byte("rotated-Pass-1")
		if err := k8s.Update(testCtx, secret); err != nil {
			t.Fatal(err)
		}
		eventually(t, 30*time.Second, func() error {
			if g.RootPasswordHash() != hashOf("rotated-Pass-1") {
				return fmt.Errorf("the guest still has the old password")
			}
			return nil
		})
		eventually(t, 10*time.Second, eventFor(c, lxcv1.RootPasswordChangedReason))
	})

	t.Run("added key: → authorized_keys holds the controller's key and the spec's", func(t *testing.T) {
		update(t, c, func(c *lxcv1.LXCContainer) { c.Spec.SSHPublicKeys = []lxcv1.SSHPublicKey{userKey} })
		eventually(t, 30*time.Second, func() error {
			data, _ := g.ReadFile("/root/.ssh/authorized_keys")
			lines := strings.Split(strings.TrimSpace(string(data)), "\n")
			if len(lines) != 2 || lines[1] != userKey || !strings.HasPrefix(lines[0], "ssh-ed25519 ") {
				return fmt.Errorf("authorized_keys:\n%s", data)
			}
			return nil
		})
		readyWithin(t, c, time.Minute)
	})

	t.Run("removed key: → only the controller's key is left", func(t *testing.T) {
		update(t, c, func(c *lxcv1.LXCContainer) { c.Spec.SSHPublicKeys = nil })
		eventually(t, 30*time.Second, func() error {
			data, _ := g.ReadFile("/root/.ssh/authorized_keys")
			if strings.Contains(string(data), "user@test") || strings.Count(strings.TrimSpace(string(data)), "\n") != 0 {
				return fmt.Errorf("authorized_keys:\n%s", data)
			}
			return nil
		})
		readyWithin(t, c, time.Minute)
	})
}
