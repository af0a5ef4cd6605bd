package e2e

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fluxcd/pkg/runtime/conditions"
	gossh "golang.org/x/crypto/ssh"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
	"templatemanager.dev/lxc-template-manager/internal/proxmox"
	"templatemanager.dev/lxc-template-manager/internal/pvesim/lxc/lxctest"
	"templatemanager.dev/lxc-template-manager/internal/testenv"
	"templatemanager.dev/lxc-template-manager/internal/testkit"
)

// TestTenancy: what a namespace editor cannot reach, on the real stack with the shipped admission
// policy. One stack, in steps: a Proxmox container made by hand is not theirs to adopt, at
// admission or, with the admission policy removed, at reconcile; and a static address that
// another container holds is never theirs, however often the two race for it.
func TestTenancy(t *testing.T) {
	t.Parallel()
	s := startStack(t)
	s.cp.Kubectl(t, "apply", "--server-side",
		"-f", filepath.Join(RepoRoot, "config", "admission", "policy.yaml"),
		"-f", filepath.Join(RepoRoot, "config", "admission", "binding.yaml"))
	s.startManager(t)
	ctx := context.Background()
	ns := "tenant"
	s.create(t, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, s.lightTemplate(ns, "light"))
	cfg, err := clientcmd.BuildConfigFromFlags("", s.cp.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	editor := testenv.NamespaceEditor(t, s.k8s, cfg, ns)

	// A container made directly through the Proxmox API: no marker, not ours.
	const victim = 300
	upid, err := s.px.CreateContainer(ctx, "pve1", proxmox.CreateSpec{
		VMID: victim, OSTemplate: debianTemplate, Hostname: "handmade", Storage: "local-lvm", RootFSGiB: 2,
		Description: "made by hand",
		Nets:        []proxmox.NetConfig{{Name: "eth0", Bridge: "vmbr0", IP: "dhcp"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if ts := testkit.WaitTask(t, ctx, s.px, upid); ts.Err() != nil {
		t.Fatalf("creating CT %d by hand: %+v", victim, ts)
	}
	before, err := s.px.ContainerConfig(ctx, "pve1", victim)
	if err != nil {
		t.Fatal(err)
	}
	adopter := s.container(ns, "adopter", "light")
	adopter.Spec.Network = nil
	adopter.Spec.VMID = ptr(int32(victim))
	adopter.Annotations = map[string]string{lxcv1.AdoptAnnotation: "true"}

	// The admission policy takes effect once the API server has loaded it.
	testkit.Eventually(t, time.Minute, func() error {
		err := editor.Create(ctx, adopter.DeepCopy(), client.DryRunAll)
		if err == nil {
			return fmt.Errorf("adopting a container without a marker is admitted")
		}
		for _, part := range []string{"metadata.annotations[lxc.templatemanager.dev/adopt]", "spec.policy.adoptionNamespaces"} {
			if !strings.Contains(err.Error(), part) {
				t.Fatalf("the refusal does not name %s: %v", part, err)
			}
		}
		return nil
	})

	rootRequired(t, s, editor, ns)

	// Without the admission policy the object is admitted, and the controller refuses it.
	s.cp.Kubectl(t, "delete", "validatingadmissionpolicybinding", "cluster-policy")
	testkit.Eventually(t, time.Minute, func() error { return editor.Create(ctx, adopter.DeepCopy(), client.DryRunAll) })
	if err := editor.Create(ctx, adopter); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 2*time.Minute, func() error {
		c := s.getContainer(t, ns, "adopter")
		if cond := conditions.Get(c, lxcv1.StalledCondition); cond == nil || cond.Reason != lxcv1.PolicyViolationReason {
			return fmt.Errorf("adopter is not Stalled with PolicyViolation: %+v", c.Status.Conditions)
		}
		if msg := conditions.GetMessage(c, lxcv1.StalledCondition); !strings.Contains(msg, "spec.policy.adoptionNamespaces") {
			t.Errorf("the stall does not name the rule: %q", msg)
		}
		return nil
	})
	stalledAt := time.Now()

	t.Run("a static address another container holds", func(t *testing.T) { addressRace(t, s, ns) })

	// At least two minutes after the refusal, the victim is as it was made.
	if wait := 2*time.Minute - time.Since(stalledAt); wait > 0 {
		time.Sleep(wait)
	}
	after, err := s.px.ContainerConfig(ctx, "pve1", victim)
	if err != nil {
		t.Fatal(err)
	}
	if after.Digest != before.Digest || after.Description != "made by hand" {
		t.Errorf("CT %d changed under a refused adoption: digest %s → %s, description %q", victim, before.Digest, after.Digest, after.Description)
	}
}

// rootRequired: a template asking for keyctl, which the policy allows, on a cluster that signs
// in with an API token: the template says RootRequired before any container meets it, the
// container stalls with RootRequired naming features.keyctl, and the ProxmoxCluster stays Ready.
func rootRequired(t testing.TB, s *stack, editor client.Client, ns string) {
	ctx := context.Background()
	cluster := &lxcv1.ProxmoxCluster{}
	if err := s.k8s.Get(ctx, client.ObjectKey{Name: "pve"}, cluster); err != nil {
		t.Fatal(err)
	}
	cluster.Spec.Policy.Features = []lxcv1.FeatureName{lxcv1.FeatureNesting, lxcv1.FeatureKeyctl}
	if err := s.k8s.Update(ctx, cluster); err != nil {
		t.Fatal(err)
	}
	keys := s.lightTemplate(ns, "keys")
	keys.Spec.Features.Keyctl = true
	// The admission policy sees the changed cluster once the API server's informer has it.
	testkit.Eventually(t, time.Minute, func() error { return editor.Create(ctx, keys.DeepCopy(), client.DryRunAll) })
	if err := editor.Create(ctx, keys); err != nil {
		t.Fatal(err)
	}
	c := s.container(ns, "keys", "keys")
	c.Spec.Network = nil
	if err := editor.Create(ctx, c); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 2*time.Minute, func() error {
		c = s.getContainer(t, ns, "keys")
		if cond := conditions.Get(c, lxcv1.StalledCondition); cond == nil || cond.Reason != lxcv1.RootRequiredReason {
			return fmt.Errorf("keys is not Stalled with RootRequired: %+v", c.Status.Conditions)
		}
		return nil
	})
	if msg := conditions.GetMessage(c, lxcv1.ReadyCondition); !strings.Contains(msg, "features.keyctl") || !strings.Contains(msg, "root@pam") {
		t.Errorf("the container's Ready says %q, want features.keyctl and root@pam named", msg)
	}
	if err := s.k8s.Get(ctx, client.ObjectKey{Name: "pve"}, cluster); err != nil {
		t.Fatal(err)
	}
	if !conditions.IsReady(cluster) || cluster.Status.RootLogin {
		t.Errorf("the cluster: Ready %v, rootLogin %v; want Ready, signing in with a token", conditions.IsReady(cluster), cluster.Status.RootLogin)
	}
	testkit.Eventually(t, time.Minute, func() error {
		tpl := &lxcv1.LXCTemplate{}
		if err := s.k8s.Get(ctx, client.ObjectKeyFromObject(keys), tpl); err != nil {
			return err
		}
		if cond := conditions.Get(tpl, lxcv1.StalledCondition); cond == nil || cond.Reason != lxcv1.RootRequiredReason || !strings.Contains(cond.Message, "features.keyctl") {
			return fmt.Errorf("the template does not say RootRequired naming features.keyctl: %+v", tpl.Status.Conditions)
		}
		return nil
	})
	if err := s.k8s.Delete(ctx, c); err != nil {
		t.Fatal(err)
	}
}

// addressRace: a second container with the static address of a first, Ready one. The second is
// started behind the controller's back twenty times, so both answer at the address and the
// host's neighbour entry for it is cleared each time: whichever answers, nothing of the second's
// runs in the first, nothing of the first's is copied to the second, the second says
// AddressConflict, and the first stays Ready at its address.
func addressRace(t testing.TB, s *stack, ns string) {
	ctx := context.Background()
	signer := lxctest.NewSigner(t)
	userKey := lxcv1.SSHPublicKey(strings.TrimSpace(string(gossh.MarshalAuthorizedKey(signer.PublicKey()))) + " e2e@test")
	withScript := func(name, script string) *lxcv1.LXCTemplate {
		tpl := s.lightTemplate(ns, name)
		tpl.Spec.Scripts = []lxcv1.Script{{Name: "mark", Content: str("#!/bin/sh\nset -eu\n" + script)}}
		return tpl
	}
	s.create(t,
		withScript("holder", "printf 'FIRST_TOKEN=%s\\n' first-token > /etc/config-manager/credentials/first.env\n"),
		withScript("intruder", "touch /root/ran-by-second\nprintf 'SECOND_TOKEN=%s\\n' second-token > /etc/config-manager/credentials/second.env\n"))
	first := s.container(ns, "first", "holder")
	first.Spec.SSHPublicKeys = []lxcv1.SSHPublicKey{userKey}
	s.create(t, first)
	s.waitReady(t, ns, "first")
	first = s.getContainer(t, ns, "first")
	addr := first.Status.IPAddress

	s.create(t, s.container(ns, "second", "intruder"))
	var second *lxcv1.LXCContainer
	conflict := func() error {
		second = s.getContainer(t, ns, "second")
		if cond := conditions.Get(second, lxcv1.StalledCondition); cond == nil || cond.Reason != lxcv1.AddressConflictReason {
			return fmt.Errorf("second is not Stalled with AddressConflict: %+v", second.Status.Conditions)
		}
		return nil
	}
	testkit.Eventually(t, 3*time.Minute, conflict)
	if msg := conditions.GetMessage(second, lxcv1.ReadyCondition); !strings.Contains(msg, addr) || !strings.Contains(msg, ns+"/first") {
		t.Errorf("the refusal does not name the address and its holder: %q", msg)
	}
	vmid := int(second.Status.VMID)
	node := second.Status.Node
	for round := range 20 {
		upid, err := s.px.StartContainer(ctx, node, vmid)
		if err != nil {
			t.Fatal(err)
		}
		if ts := testkit.WaitTask(t, ctx, s.px, upid); ts.Err() != nil {
			t.Fatalf("round %d: starting the second: %+v", round, ts)
		}
		// Both answer at the address now; the next connection goes to whichever answers first.
		_ = exec.Command("ip", "neigh", "flush", "to", addr, "dev", s.bridge).Run()
		requested := strconv.Itoa(round)
		update(t, s, second, func(c *lxcv1.LXCContainer) {
			c.Annotations = map[string]string{lxcv1.ReconcileRequestAnnotation: requested}
		})
		testkit.Eventually(t, time.Minute, func() error {
			if err := conflict(); err != nil {
				return err
			}
			if second.Status.LastHandledReconcileAt != requested {
				return fmt.Errorf("round %d is not handled yet", round)
			}
			return nil
		})
		upid, err = s.px.StopContainer(ctx, node, vmid)
		if err != nil {
			t.Fatal(err)
		}
		if ts := testkit.WaitTask(t, ctx, s.px, upid); ts.Err() != nil {
			t.Fatalf("round %d: stopping the second: %+v", round, ts)
		}
	}
	_ = exec.Command("ip", "neigh", "flush", "to", addr, "dev", s.bridge).Run()

	s.waitReady(t, ns, "first")
	if got := s.getContainer(t, ns, "first").Status.IPAddress; got != addr {
		t.Errorf("first is at %q, want %s", got, addr)
	}
	c := dialContainer(t, addr, signer)
	defer c.Close()
	if out := run1(t, c, "test -e /root/ran-by-second && echo ran || echo clean"); strings.TrimSpace(out) != "clean" {
		t.Error("the second container's script ran in the first")
	}
	secret := &corev1.Secret{}
	if err := s.k8s.Get(ctx, client2Key(ns, "second-credentials"), secret); !apierrors.IsNotFound(err) {
		t.Errorf("second has a credentials Secret (%v) with keys %v", err, keysOf(secret.Data))
	}
	if err := s.k8s.Get(ctx, client2Key(ns, "first-credentials"), secret); err != nil || string(secret.Data["FIRST_TOKEN"]) != "first-token" {
		t.Errorf("first's credentials Secret: %v, keys %v", err, keysOf(secret.Data))
	}
}

func keysOf(m map[string][]byte) []string {
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	return keys
}
