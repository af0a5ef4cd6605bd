package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
	"templatemanager.dev/lxc-template-manager/internal/testkit"
)

// TestFirewall: bin/manager makes a template's firewall the container's on the lxc backend —
// rules in order, the switch on, firewall=1 on net0 — and the container, net0 flag and all,
// boots and is Ready; a rule deleted through the Proxmox API comes back at the next look, with a
// DriftCorrected Event. pvesim keeps the firewall as Proxmox does but filters no traffic: this
// shows what reaches Proxmox, not packets dropped.
func TestFirewall(t *testing.T) {
	t.Parallel()
	s := startStack(t)
	s.startManager(t)
	ctx := context.Background()
	ns := "firewall"
	tmpl := s.lightTemplate(ns, "guarded")
	tmpl.Spec.Firewall = &lxcv1.Firewall{Rules: []lxcv1.FirewallRule{
		{Type: lxcv1.FirewallIn, Action: lxcv1.FirewallAccept, Macro: "SSH", Source: "169.254.0.0/16", Comment: "the controller"},
		{Type: lxcv1.FirewallIn, Action: lxcv1.FirewallAccept, Proto: "tcp", DPort: "80,443"},
	}}
	s.create(t, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, tmpl)
	s.create(t, s.container(ns, "guarded", "guarded"))
	s.waitReady(t, ns, "guarded")
	c := s.getContainer(t, ns, "guarded")
	node, vmid := c.Status.Node, int(c.Status.VMID)

	rulesAre := func() error {
		list, err := s.px.FirewallRules(ctx, node, vmid)
		if err != nil {
			return err
		}
		if len(list.Rules) != 2 || list.Rules[0].Macro != "SSH" || list.Rules[0].Source != "169.254.0.0/16" ||
			list.Rules[1].DPort != "80,443" || !list.Rules[0].Enable || !list.Rules[1].Enable {
			return fmt.Errorf("rules %+v", list.Rules)
		}
		return nil
	}
	testkit.Eventually(t, time.Minute, rulesAre)
	opts, err := s.px.FirewallOptions(ctx, node, vmid)
	if err != nil || !opts.Enable {
		t.Fatalf("firewall options %+v, %v: want it on", opts, err)
	}
	cfg, err := s.px.ContainerConfig(ctx, node, vmid)
	if err != nil || !cfg.Nets[0].Firewall {
		t.Fatalf("net0 %q, %v: want firewall=1", cfg.Raw["net0"], err)
	}

	list, err := s.px.FirewallRules(ctx, node, vmid)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.px.DeleteFirewallRule(ctx, node, vmid, 0, list.Digest); err != nil {
		t.Fatal(err)
	}
	expectDriftCorrected(t, s, c, "firewall.rules[0]", rulesAre)
}
