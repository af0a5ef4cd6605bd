package e2e

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fluxcd/pkg/runtime/conditions"
	gossh "golang.org/x/crypto/ssh"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
	"templatemanager.dev/lxc-template-manager/internal/proxmox"
	"templatemanager.dev/lxc-template-manager/internal/pvesim/lxc/lxctest"
	"templatemanager.dev/lxc-template-manager/internal/testkit"
)

const rebootEndpoint = "POST /nodes/{node}/lxc/{vmid}/status/reboot"

// TestPendingRestartsAreBoundedAndOurs: a setting someone else left pending on a running
// container (tty, set through the Proxmox API) restarts nothing, not even at the full check;
// a setting the controller wrote that fails to apply at the start (pvesim's apply fault, as
// vmconfig_apply_pending leaves an entry pending when applying it dies) costs exactly one
// restart, then the container stalls with PendingNotApplied naming it.
func TestPendingRestartsAreBoundedAndOurs(t *testing.T) {
	t.Parallel()
	s := startStack(t, "--fault", "apply,option=mp0,message=lvcreate 'pve/vm-100-disk-1' error: insufficient free space")
	s.startManager(t)
	ctx := context.Background()
	ns := "pets"
	tmpl := s.lightTemplate(ns, "app")
	s.create(t, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, tmpl)
	c := s.container(ns, "app", "app")
	c.Spec.MountPoints = []lxcv1.MountPoint{{Index: 0, Path: "/srv/a", SizeGiB: 1}}
	s.create(t, c)
	s.waitReady(t, ns, "app")
	c = s.getContainer(t, ns, "app")
	node, vmid := c.Status.Node, int(c.Status.VMID)

	t.Run("an admin's pending tty restarts nothing", func(t *testing.T) {
		if err := s.px.UpdateContainerConfig(ctx, node, vmid, proxmox.ConfigUpdate{Set: map[string]string{"tty": "3"}}); err != nil {
			t.Fatal(err)
		}
		pc, err := s.px.ContainerPending(ctx, node, vmid)
		if err != nil || strings.Join(pc.Pending, ",") != "tty" {
			t.Fatalf("pending after setting tty: %v (%v)", pc.Pending, err)
		}
		reads := s.simCounters(t).Total("GET /nodes/{node}/lxc/{vmid}/pending")
		// The controller's full check (every minute here) reads the pending configuration.
		testkit.Eventually(t, 3*time.Minute, func() error {
			if n := s.simCounters(t).Total("GET /nodes/{node}/lxc/{vmid}/pending"); n == reads {
				return fmt.Errorf("no full check yet")
			}
			return nil
		})
		time.Sleep(10 * time.Second)
		if n := s.simCounters(t).Total(rebootEndpoint); n != 0 {
			t.Errorf("%d restarts for an admin's pending tty, want none", n)
		}
		pc, err = s.px.ContainerPending(ctx, node, vmid)
		if err != nil || !strings.Contains(strings.Join(pc.Pending, ","), "tty") {
			t.Errorf("tty no longer pending: %v (%v)", pc.Pending, err)
		}
		if c := s.getContainer(t, ns, "app"); !conditions.IsReady(c) {
			t.Errorf("not Ready: %+v", c.Status.Conditions)
		}
	})

	t.Run("a pending mount point that fails at the start: one restart, then PendingNotApplied", func(t *testing.T) {
		update(t, s, c, func(c *lxcv1.LXCContainer) { c.Spec.MountPoints[0].Path = "/srv/b" })
		testkit.Eventually(t, 3*time.Minute, func() error {
			c := s.getContainer(t, ns, "app")
			st := conditions.Get(c, lxcv1.StalledCondition)
			if st == nil || st.Reason != lxcv1.PendingNotAppliedReason || !strings.Contains(st.Message, "mp0") {
				return fmt.Errorf("not Stalled with PendingNotApplied naming mp0: %+v", c.Status.Conditions)
			}
			return nil
		})
		// Long enough for several more polls and a full check.
		time.Sleep(80 * time.Second)
		if n := s.simCounters(t).Total(rebootEndpoint); n != 1 {
			t.Errorf("%d restarts for the mount point, want exactly 1", n)
		}
		c := s.getContainer(t, ns, "app")
		if st := conditions.Get(c, lxcv1.StalledCondition); st == nil || st.Reason != lxcv1.PendingNotAppliedReason {
			t.Errorf("no longer Stalled with PendingNotApplied: %+v", c.Status.Conditions)
		}
		pc, err := s.px.ContainerPending(ctx, node, vmid)
		if err != nil || !strings.Contains(strings.Join(pc.Pending, ","), "mp0") {
			t.Errorf("mp0 not pending any more: %v (%v)", pc.Pending, err)
		}
		if notes := eventsAbout(t, s, ns, "app"); !containsLine(notes, lxcv1.RestartingReason, "mp0") {
			t.Errorf("no Restarting Event naming mp0:\n%s", strings.Join(notes, "\n"))
		}
	})
}

// TestRunningScriptIsNotInterrupted: memory, disk and a nameserver (which takes a restart)
// change while a 60 s script runs. The changes wait for the script (Ready says so), the script
// runs once and finishes, and only then does the container take them.
func TestRunningScriptIsNotInterrupted(t *testing.T) {
	t.Parallel()
	s := startStack(t)
	s.startManager(t)
	ctx := context.Background()
	ns := "hold"
	signer := lxctest.NewSigner(t)
	userKey := lxcv1.SSHPublicKey(strings.TrimSpace(string(gossh.MarshalAuthorizedKey(signer.PublicKey()))) + " e2e@test")
	tmpl := s.lightTemplate(ns, "slow")
	tmpl.Spec.Scripts = []lxcv1.Script{{Name: "slow", Content: str("#!/bin/sh\necho run >> /root/runs\nsleep 60\ndate +%s > /root/finished\n")}}
	s.create(t, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, tmpl)
	c := s.container(ns, "app", "slow")
	c.Spec.SSHPublicKeys = []lxcv1.SSHPublicKey{userKey}
	s.create(t, c)

	testkit.Eventually(t, 5*time.Minute, func() error {
		c := s.getContainer(t, ns, "app")
		if conditions.GetReason(c, lxcv1.ScriptsCompletedCondition) != lxcv1.ScriptRunningReason {
			return fmt.Errorf("the script does not run yet: %+v", c.Status.Conditions)
		}
		return nil
	})
	c = s.getContainer(t, ns, "app")
	node, vmid, addr := c.Status.Node, int(c.Status.VMID), c.Status.IPAddress
	update(t, s, c, func(c *lxcv1.LXCContainer) {
		c.Spec.Resources = &lxcv1.Resources{MemoryMiB: ptr(int32(384)), DiskGiB: ptr(int32(3))}
		// A nameserver is pending until a start: the change restarts the container too.
		c.Spec.Network.Nameservers = []string{"169.254.0.53"}
	})

	var changed time.Time // when Proxmox first showed the new memory or disk
	sawHold := false
	deadline := time.Now().Add(5 * time.Minute)
	for {
		c = s.getContainer(t, ns, "app")
		if conditions.IsReady(c) && c.Status.ObservedGeneration == c.Generation {
			break
		}
		if r := conditions.Get(c, lxcv1.ReadyCondition); r != nil && strings.Contains(r.Message, "waits for script slow to end") {
			sawHold = true
		}
		if changed.IsZero() {
			cfg, err := s.px.ContainerConfig(ctx, node, vmid)
			if err != nil {
				t.Fatal(err)
			}
			if cfg.MemoryMiB == 384 || cfg.RootFS.Size == "3G" {
				changed = time.Now()
			}
		}
		if time.Now().After(deadline) {
			dumpContainer(t, s, ns, "app")
			t.Fatal("not Ready for the new generation")
		}
		time.Sleep(300 * time.Millisecond)
	}
	if !sawHold {
		t.Error("Ready never said that the changes wait for script slow")
	}
	cfg, err := s.px.ContainerConfig(ctx, node, vmid)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.MemoryMiB != 384 || cfg.RootFS.Size != "3G" || strings.Join(cfg.Nameservers, " ") != "169.254.0.53" {
		t.Errorf("when Ready: memory %d, rootfs %s, nameservers %v", cfg.MemoryMiB, cfg.RootFS.Size, cfg.Nameservers)
	}
	guest := dialContainer(t, addr, signer)
	if runs := strings.TrimSpace(run1(t, guest, "cat /root/runs")); runs != "run" {
		t.Errorf("the script ran %d times, want once:\n%s", strings.Count(runs, "run"), runs)
	}
	finished, err := strconv.ParseInt(strings.TrimSpace(run1(t, guest, "cat /root/finished")), 10, 64)
	if err != nil {
		t.Fatalf("the script did not finish: %v", err)
	}
	if changed.IsZero() || changed.Unix() < finished {
		t.Errorf("Proxmox took the changes at %s, the script finished at %s: they did not wait for it",
			changed.UTC().Format(time.TimeOnly), time.Unix(finished, 0).UTC().Format(time.TimeOnly))
	}
}
