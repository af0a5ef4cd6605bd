package e2e

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fluxcd/pkg/runtime/conditions"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
	"templatemanager.dev/lxc-template-manager/internal/pvesim/lxc/lxctest"
	"templatemanager.dev/lxc-template-manager/internal/testkit"
)

// TestBindMountAndDevice: a template with a read-only bind mount of a directory the test makes
// on the node and the node's /dev/net/tun passed through. On a ProxmoxCluster that signs in as
// root@pam, bin/manager writes both into the Proxmox config (read back through the API), and in
// the running container (read over SSH) the host's file is there through the bind mount, cannot
// be written, and the device node has the node's device number, the asked mode, and opens. On
// the cluster that signs in with an API token the same template's container stalls with
// RootRequired naming both fields.
func TestBindMountAndDevice(t *testing.T) {
	t.Parallel()
	secret := make([]byte, 12)
	_, _ = rand.Read(secret)
	rootPassword := hex.EncodeToString(secret)
	s := startStack(t, "--user", "root@pam="+rootPassword)
	ctx := context.Background()
	ns := "passthrough"
	shared := filepath.Join(t.TempDir(), "shared")
	// Writable by everyone, so only readOnly keeps the container from writing.
	if err := os.Mkdir(shared, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(shared, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(shared, "greeting"), []byte("hello from the node\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	policy := &lxcv1.ClusterPolicy{HostPaths: []string{filepath.Dir(shared)}, Devices: []string{"/dev/net/tun"}}

	token := &lxcv1.ProxmoxCluster{}
	if err := s.k8s.Get(ctx, client.ObjectKey{Name: "pve"}, token); err != nil {
		t.Fatal(err)
	}
	token.Spec.Policy = *policy.DeepCopy()
	if err := s.k8s.Update(ctx, token); err != nil {
		t.Fatal(err)
	}
	root := &lxcv1.ProxmoxCluster{ObjectMeta: metav1.ObjectMeta{Name: "pve-root"}, Spec: *token.Spec.DeepCopy()}
	root.Spec.CredentialsRef.Name = "pve-root"
	s.create(t,
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: s.namespace, Name: "pve-root"},
			Data: map[string][]byte{"username": []byte("root@pam"), "password": []byte(rootPassword)}},
		root)
	s.startManager(t)

	tmpl := s.lightTemplate(ns, "passthrough")
	tmpl.Spec.MountPoints = []lxcv1.MountPoint{{Index: 0, Path: "/mnt/shared", HostPath: shared, ReadOnly: true}}
	tmpl.Spec.Devices = []lxcv1.Device{{Path: "/dev/net/tun", Mode: "0666"}}
	s.create(t, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, tmpl)

	signer := lxctest.NewSigner(t)
	c := s.guestWithKey(t, ns, "passthrough", "passthrough", signer, func(c *lxcv1.LXCContainer) { c.Spec.ClusterRef.Name = "pve-root" })
	cfg, err := s.px.ContainerConfig(ctx, c.Status.Node, int(c.Status.VMID))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := cfg.Raw["mp0"], shared+",mp=/mnt/shared,ro=1"; got != want {
		t.Errorf("mp0 = %q, want %q", got, want)
	}
	if got, want := cfg.Raw["dev0"], "/dev/net/tun,mode=0666"; got != want {
		t.Errorf("dev0 = %q, want %q", got, want)
	}

	guest := dialContainer(t, c.Status.IPAddress, signer)
	if got := run1(t, guest, "cat /mnt/shared/greeting"); got != "hello from the node\n" {
		t.Errorf("the bind-mounted file reads %q", got)
	}
	if out := run1(t, guest, "touch /mnt/shared/written 2>/dev/null && echo wrote || echo refused"); out != "refused\n" {
		t.Errorf("writing into the read-only bind mount: %q", out)
	}
	if _, err := os.Stat(filepath.Join(shared, "written")); err == nil {
		t.Error("the container wrote into the read-only bind mount")
	}
	// 10:200 is /dev/net/tun's device number; stat prints major and minor in hex.
	if got := run1(t, guest, "stat -c '%F %t:%T %a' /dev/net/tun"); got != "character special file a:c8 666\n" {
		t.Errorf("/dev/net/tun in the container: %q", got)
	}
	if out := run1(t, guest, "exec 3<>/dev/net/tun && echo opened"); out != "opened\n" {
		t.Errorf("opening /dev/net/tun: %q", out)
	}

	// The same template on the cluster that signs in with an API token.
	bt := s.container(ns, "by-token", "passthrough")
	bt.Spec.Network = nil
	s.create(t, bt)
	testkit.Eventually(t, 2*time.Minute, func() error {
		bt := s.getContainer(t, ns, "by-token")
		cond := conditions.Get(bt, lxcv1.StalledCondition)
		if cond == nil || cond.Reason != lxcv1.RootRequiredReason {
			return fmt.Errorf("by-token is not Stalled with RootRequired: %+v", bt.Status.Conditions)
		}
		for _, field := range []string{"mountPoints[0].hostPath", "devices[0] (/dev/net/tun)", "root@pam"} {
			if !strings.Contains(cond.Message, field) {
				return fmt.Errorf("the stall %q does not name %s", cond.Message, field)
			}
		}
		return nil
	})
}
