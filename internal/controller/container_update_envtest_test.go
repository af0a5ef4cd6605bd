package controller

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
)

// TestRunningContainerTakesPendingChangesWithARestart: on a running container Proxmox applies
// the new cores and mount point at once, keeps the nameserver pending and takes the hostname
// into the guest only at a start; the controller writes all of it and restarts once.
func TestRunningContainerTakesPendingChangesWithARestart(t *testing.T) {
	f := newPipelineFixture(t, "pipe-pending")
	f.createTemplate(t)
	c, vmid, node := f.started(t, f.container("pending"))
	update(t, c, func(c *lxcv1.LXCContainer) {
		c.Spec.Hostname = "renamed"
		c.Spec.Resources = &lxcv1.Resources{Cores: ptr(int32(3))}
		c.Spec.Network = &lxcv1.Network{Nameservers: []string{"169.254.0.53"}, SearchDomains: []string{"example.test"}}
		c.Spec.MountPoints = []lxcv1.MountPoint{{Index: 0, Path: "/srv/data", SizeGiB: 2}}
		c.Spec.Startup = &lxcv1.StartupOrder{Order: ptr(int32(3)), UpDelaySeconds: ptr(int32(10))}
	})
	eventually(t, 30*time.Second, func() error {
		pc, err := f.px.ContainerPending(testCtx, node, vmid)
		if err != nil {
			return err
		}
		cur := pc.Current
		if len(pc.Pending) > 0 || cur.Hostname != "renamed" || cur.Cores != 3 || !slices.Equal(cur.Nameservers, []string{"169.254.0.53"}) ||
			cur.SearchDomain != "example.test" || cur.Raw["startup"] != "order=3,up=10" || cur.MountPoints[0].Options["mp"] != "/srv/data" {
			return fmt.Errorf("config %+v, pending %v", cur.Raw, pc.Pending)
		}
		return nil
	})
	eventually(t, 30*time.Second, eventFor(c, lxcv1.RestartingReason))
	eventually(t, 30*time.Second, func() error {
		if n := f.sim.Counters().TaskTotal("vzreboot", "ok"); n != 1 {
			return fmt.Errorf("%d reboots, want 1", n)
		}
		return nil
	})
	eventually(t, 20*time.Second, func() error {
		if err := k8s.Get(testCtx, client.ObjectKeyFromObject(c), c); err != nil {
			return err
		}
		if len(c.Status.RestartPending) != 0 {
			return fmt.Errorf("status.restartPending = %v after the restart", c.Status.RestartPending)
		}
		return nil
	})
	if n := f.sim.Counters().TaskTotal("vzreboot", ""); n != 1 {
		t.Errorf("%d reboots, want exactly 1", n)
	}
}

// TestProtectedContainerIsStillDeleted: protection keeps Proxmox users from destroying the
// container; deleting the LXCContainer lifts it and destroys the container.
func TestProtectedContainerIsStillDeleted(t *testing.T) {
	f := newPipelineFixture(t, "pipe-protect")
	f.createTemplate(t)
	c, vmid, node := f.started(t, f.container("protected", func(c *lxcv1.LXCContainer) { c.Spec.Protection = true }))
	eventually(t, 20*time.Second, func() error {
		cfg, err := f.px.ContainerConfig(testCtx, node, vmid)
		if err != nil {
			return err
		}
		if cfg.Raw["protection"] != "1" {
			return fmt.Errorf("protection = %q", cfg.Raw["protection"])
		}
		return nil
	})
	f.deleteAndExpectDestroyed(t, c, node, vmid)
}

// TestTemplateWaitsForItsContent: a template whose file names a missing Secret is not Ready,
// naming it, and becomes Ready when the Secret appears.
func TestTemplateWaitsForItsContent(t *testing.T) {
	f := newPipelineFixture(t, "tmpl-content")
	f.template.Spec.Files = []lxcv1.ManagedFile{{Path: "/etc/app.conf", SecretRef: &lxcv1.KeySelector{Name: "app-conf", Key: "conf"}}}
	f.createTemplate(t)
	eventually(t, 20*time.Second, func() error {
		if err := k8s.Get(testCtx, client.ObjectKeyFromObject(f.template), f.template); err != nil {
			return err
		}
		if msg := conditionMessage(f.template.Status.Conditions); !strings.Contains(msg, "Secret app-conf not found") {
			return fmt.Errorf("template conditions: %q", msg)
		}
		return nil
	})
	create(t, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: f.ns, Name: "app-conf"}, Data: map[string][]byte{"conf": []byte("x=1\n")}})
	eventually(t, 20*time.Second, condition(f.template, lxcv1.ReadyCondition, "True", ""))
}
