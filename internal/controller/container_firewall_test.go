package controller

import (
	"cmp"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
	"templatemanager.dev/lxc-template-manager/internal/proxmox"
)

// webFirewall is a template's firewall: SSH from the admins' network, the web ports, and a
// disabled rule kept for later.
func webFirewall() *lxcv1.Firewall {
	off := false
	return &lxcv1.Firewall{
		PolicyIn: lxcv1.FirewallDrop,
		Rules: []lxcv1.FirewallRule{
			{Type: lxcv1.FirewallIn, Action: lxcv1.FirewallAccept, Macro: "SSH", Source: "169.254.0.0/16", Comment: "controller and admins"},
			{Type: lxcv1.FirewallIn, Action: lxcv1.FirewallAccept, Proto: "tcp", DPort: "80,443", Log: "info"},
			{Type: lxcv1.FirewallOut, Action: lxcv1.FirewallDrop, Proto: "udp", DPort: "53", Enable: &off},
		},
	}
}

// firewallIs checks that CT vmid's firewall is on with policyIn and exactly the given rules
// in order (their positions aside), and that net0 carries firewall=1.
func (f *pipelineFixture) firewallIs(node string, vmid int, policyIn string, rules ...lxcv1.FirewallRule) func() error {
	return func() error {
		opts, err := f.px.FirewallOptions(testCtx, node, vmid)
		if err != nil {
			return err
		}
		// Proxmox lists a policy only when it is not its default (DROP in, ACCEPT out).
		if !opts.Enable || cmp.Or(opts.PolicyIn, "DROP") != policyIn || cmp.Or(opts.PolicyOut, "ACCEPT") != "ACCEPT" {
			return fmt.Errorf("options %+v, want enabled with policy_in %s, policy_out ACCEPT", opts.Raw, policyIn)
		}
		have, err := f.px.FirewallRules(testCtx, node, vmid)
		if err != nil {
			return err
		}
		want := (&lxcv1.Firewall{Rules: rules}).Rules
		if len(have.Rules) != len(want) {
			return fmt.Errorf("%d rules, want %d: %+v", len(have.Rules), len(want), have.Rules)
		}
		for i, r := range want {
			h := have.Rules[i]
			enable := r.Enable == nil || *r.Enable
			if h.Type != string(r.Type) || h.Action != string(r.Action) || h.Macro != string(r.Macro) || h.Proto != r.Proto ||
				h.DPort != string(r.DPort) || h.Source != string(r.Source) || h.Comment != r.Comment || h.Log != string(r.Log) || h.Enable != enable {
				return fmt.Errorf("rule %d is %+v, want %+v", i, h, r)
			}
		}
		cfg, err := f.px.ContainerConfig(testCtx, node, vmid)
		if err != nil {
			return err
		}
		if !cfg.Nets[0].Firewall {
			return fmt.Errorf("net0 %q lacks firewall=1", cfg.Raw["net0"])
		}
		return nil
	}
}

// TestFirewallFollowsTheSpec: the template's firewall reaches Proxmox — rules in order, the
// switch and policies, firewall=1 on net0; a rule deleted and one changed in Proxmox are put
// back at the next look with a DriftCorrected Event; the container's own firewall replaces
// the template's, and its removed rule and changed policy reach Proxmox.
func TestFirewallFollowsTheSpec(t *testing.T) {
	f := newGuestFixture(t, "fw-spec")
	tmpl := f.templateWith(t, "fw-web", func(s *lxcv1.LXCTemplateSpec) { s.Firewall = webFirewall() })
	c := f.containerOf("fw-web-1", tmpl)
	create(t, c)
	readyWithin(t, c, 60*time.Second)
	vmid, node := int(c.Status.VMID), c.Status.Node
	rules := webFirewall().Rules
	eventually(t, 10*time.Second, f.firewallIs(node, vmid, "DROP", rules...))
	eventually(t, 10*time.Second, eventFor(c, lxcv1.ConfigChangedReason))
	if err := eventFor(c, lxcv1.DriftCorrectedReason)(); err == nil {
		t.Fatal("a DriftCorrected Event before anything was changed outside the controller")
	}

	// Behind the controller's back: the SSH rule deleted, the web rule's ports changed.
	have, err := f.px.FirewallRules(testCtx, node, vmid)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.px.DeleteFirewallRule(testCtx, node, vmid, 0, have.Digest); err != nil {
		t.Fatal(err)
	}
	changed := proxmox.FirewallRule{Type: "in", Action: "ACCEPT", Proto: "tcp", DPort: "8080", Enable: true}
	if err := f.px.UpdateFirewallRule(testCtx, node, vmid, 0, changed, ""); err != nil {
		t.Fatal(err)
	}
	reconcileAgain(t, c, "fw-drift")
	eventually(t, 10*time.Second, f.firewallIs(node, vmid, "DROP", rules...))
	eventually(t, 10*time.Second, func() error { return eventNamed(c, lxcv1.DriftCorrectedReason, "firewall.rules[0") })

	// The container's own firewall: no web rule, everything in accepted.
	update(t, c, func(c *lxcv1.LXCContainer) {
		c.Spec.Firewall = webFirewall()
		c.Spec.Firewall.PolicyIn = lxcv1.FirewallAccept
		c.Spec.Firewall.Rules = append(c.Spec.Firewall.Rules[:1], c.Spec.Firewall.Rules[2])
	})
	eventually(t, 20*time.Second, f.firewallIs(node, vmid, "ACCEPT", rules[0], rules[2]))
	readyWithin(t, c, 20*time.Second)
}

// TestFirewallUnsetIsLeftAlone: a container whose spec sets no firewall keeps the rules and
// options someone made in Proxmox, and net0's firewall flag.
func TestFirewallUnsetIsLeftAlone(t *testing.T) {
	f := newGuestFixture(t, "fw-unset")
	f.createTemplate(t)
	c := f.container("fw-free")
	create(t, c)
	readyWithin(t, c, 60*time.Second)
	vmid, node := int(c.Status.VMID), c.Status.Node
	theirs := proxmox.FirewallRule{Type: "in", Action: "ACCEPT", Proto: "tcp", DPort: "22", Comment: "the admins' own", Enable: true}
	if err := f.px.CreateFirewallRule(testCtx, node, vmid, theirs); err != nil {
		t.Fatal(err)
	}
	opts, err := f.px.FirewallOptions(testCtx, node, vmid)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.px.UpdateFirewallOptions(testCtx, node, vmid, proxmox.FirewallOptionsUpdate{Set: map[string]string{"enable": "1"}, Digest: opts.Digest}); err != nil {
		t.Fatal(err)
	}
	reconcileAgain(t, c, "fw-unset")
	readyWithin(t, c, 20*time.Second)
	have, err := f.px.FirewallRules(testCtx, node, vmid)
	if err != nil || len(have.Rules) != 1 || have.Rules[0].Comment != theirs.Comment {
		t.Fatalf("rules after a reconcile: %+v, %v", have.Rules, err)
	}
	if opts, err := f.px.FirewallOptions(testCtx, node, vmid); err != nil || !opts.Enable {
		t.Fatalf("options after a reconcile: %+v, %v", opts, err)
	}
}

// eventNamed checks that an Event of reason regarding obj mentions text.
func eventNamed(obj *lxcv1.LXCContainer, reason, text string) error {
	list := &corev1.EventList{}
	if err := k8s.List(testCtx, list, client.InNamespace(obj.Namespace)); err != nil {
		return err
	}
	var notes []string
	for _, e := range list.Items {
		if e.InvolvedObject.Name == obj.Name && e.Reason == reason {
			if strings.Contains(e.Message, text) {
				return nil
			}
			notes = append(notes, e.Message)
		}
	}
	return fmt.Errorf("no %s Event names %s: %q", reason, text, notes)
}

// TestFirewallRuleProxmoxRefusesStalls: a rule naming an alias the cluster does not define
// passes admission, and Proxmox refuses it: the container stalls, naming the rule and why.
func TestFirewallRuleProxmoxRefusesStalls(t *testing.T) {
	f := newPipelineFixture(t, "fw-refused")
	f.createTemplate(t)
	c := f.container("fw-alias", func(c *lxcv1.LXCContainer) {
		c.Spec.Firewall = &lxcv1.Firewall{Rules: []lxcv1.FirewallRule{{Type: lxcv1.FirewallOut, Action: lxcv1.FirewallAccept, Dest: "dc/office"}}}
	})
	create(t, c)
	eventually(t, 30*time.Second, conditionIs(c, lxcv1.StalledCondition, metav1.ConditionTrue, lxcv1.InvalidSpecReason,
		"Proxmox refuses firewall.rules[0]", "no such alias 'dc/office'"))
}
