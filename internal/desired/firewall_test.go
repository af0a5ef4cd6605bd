package desired

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
	"templatemanager.dev/lxc-template-manager/internal/proxmox"
)

// applyRuleChange does to a rule list what Proxmox does for the change (pve-firewall's
// create_rule, update_rule with and without moveto, delete_rule).
func applyRuleChange(rules []proxmox.FirewallRule, c RuleChange) []proxmox.FirewallRule {
	moveTo := func(rules []proxmox.FirewallRule, pos, to int) []proxmox.FirewallRule {
		r := rules[pos]
		rest := slices.Delete(slices.Clone(rules), pos, pos+1)
		return slices.Insert(rest, min(to, len(rest)), r)
	}
	switch c.Kind {
	case RuleCreate:
		return slices.Insert(slices.Clone(rules), 0, c.Rule)
	case RuleInsert:
		return moveTo(slices.Insert(slices.Clone(rules), 0, c.Rule), 0, c.To)
	case RuleUpdate:
		out := slices.Clone(rules)
		out[c.Pos] = c.Rule
		return out
	case RuleMove:
		return moveTo(rules, c.Pos, c.To)
	case RuleDelete:
		return slices.Delete(slices.Clone(rules), c.Pos, c.Pos+1)
	}
	panic("unknown change")
}

func rule(port string) proxmox.FirewallRule {
	return proxmox.FirewallRule{Type: "in", Action: "ACCEPT", Proto: "tcp", DPort: port, Enable: true}
}

func rules(ports ...string) []proxmox.FirewallRule {
	var out []proxmox.FirewallRule
	for _, p := range ports {
		out = append(out, rule(p))
	}
	return out
}

// converge applies NextRuleChange until the lists agree and returns the changes made.
func converge(t *testing.T, have, want []proxmox.FirewallRule) []RuleChange {
	t.Helper()
	var made []RuleChange
	for range 4*(len(have)+len(want)) + 4 {
		c, ok := NextRuleChange(have, want)
		if !ok {
			return made
		}
		made = append(made, c)
		have = applyRuleChange(have, c)
	}
	t.Fatalf("no convergence after %d changes: have %v, want %v", len(made), have, want)
	return nil
}

// TestRuleChangesTheUsualCases: the changes a container's rule list needs for what usually
// happens — a new container, a rule added, removed or edited in the spec, a rule deleted or
// changed in Proxmox, the order changed.
func TestRuleChangesTheUsualCases(t *testing.T) {
	disabled := rule("25")
	disabled.Enable = false
	cases := []struct {
		name       string
		have, want []proxmox.FirewallRule
		kinds      []RuleChangeKind
	}{
		{"a new container: each rule created first, the last one first", nil, rules("22", "80", "443"), []RuleChangeKind{RuleCreate, RuleCreate, RuleCreate}},
		{"as the spec says", rules("22", "80"), rules("22", "80"), nil},
		{"a rule added at the end", rules("22", "80"), rules("22", "80", "443"), []RuleChangeKind{RuleInsert, RuleUpdate}},
		{"a rule added at the top", rules("22", "80"), rules("21", "22", "80"), []RuleChangeKind{RuleCreate}},
		{"a rule removed from the spec", rules("22", "80", "443"), rules("22", "443"), []RuleChangeKind{RuleDelete}},
		{"the last rule removed", rules("22", "80"), rules("22"), []RuleChangeKind{RuleDelete}},
		{"a rule deleted in Proxmox", rules("22", "443"), rules("22", "80", "443"), []RuleChangeKind{RuleInsert, RuleUpdate}},
		{"a rule changed in Proxmox", rules("22", "8080", "443"), rules("22", "80", "443"), []RuleChangeKind{RuleUpdate}},
		{"a rule disabled in Proxmox", []proxmox.FirewallRule{rule("22"), disabled}, rules("22", "25"), []RuleChangeKind{RuleUpdate}},
		{"two rules swapped", rules("80", "22"), rules("22", "80"), []RuleChangeKind{RuleMove}},
		{"a rule from another hand on top", rules("9999", "22", "80"), rules("22", "80"), []RuleChangeKind{RuleDelete}},
		{"a rule from another hand in between", rules("22", "9999", "80"), rules("22", "80"), []RuleChangeKind{RuleDelete}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var kinds []RuleChangeKind
			for _, m := range converge(t, c.have, c.want) {
				kinds = append(kinds, m.Kind)
			}
			if !slices.Equal(kinds, c.kinds) {
				t.Errorf("changes %v, want %v", kinds, c.kinds)
			}
		})
	}
}

// TestRuleChangesConverge: from any list Proxmox may hold, the changes reach the spec's list,
// and an inserted rule is enabled only once it stands where the spec puts it.
func TestRuleChangesConverge(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	pick := func(n int) []proxmox.FirewallRule {
		var out []proxmox.FirewallRule
		for range rng.IntN(n) {
			r := rule(fmt.Sprint(rng.IntN(6)))
			r.Enable = rng.IntN(4) > 0
			out = append(out, r)
		}
		return out
	}
	for range 2000 {
		have, want := pick(8), pick(8)
		for _, c := range converge(t, have, want) {
			if c.Kind == RuleInsert && c.Rule.Enable {
				t.Fatalf("an inserted rule is enabled before it is in place: %+v", c)
			}
		}
	}
}

// TestFirewallOptionChanges: only what differs from the spec is written, Proxmox's defaults
// count as set, and a log level the spec leaves unset is deleted.
func TestFirewallOptionChanges(t *testing.T) {
	d := &Container{Firewall: &lxcv1.Firewall{PolicyIn: lxcv1.FirewallDrop}}
	u, fields := FirewallOptionChanges(d, proxmox.FirewallOptions{Raw: map[string]string{}, Digest: "d1"})
	if !slices.Equal(fields, []string{"firewall.enabled"}) || u.Set["enable"] != "1" || len(u.Set) != 1 || u.Digest != "d1" {
		t.Errorf("a new container: %v %+v", fields, u)
	}
	have := proxmox.FirewallOptions{Enable: true, Raw: map[string]string{"enable": "1", "policy_in": "ACCEPT", "log_level_in": "info", "dhcp": "1"}}
	u, fields = FirewallOptionChanges(d, have)
	if !slices.Equal(fields, []string{"firewall.logLevelIn", "firewall.policyIn"}) || u.Set["policy_in"] != "DROP" ||
		!slices.Equal(u.Delete, []string{"log_level_in"}) || len(u.Set) != 1 {
		t.Errorf("changed outside: %v %+v", fields, u)
	}
	off := false
	d.Firewall.Enabled = &off
	if u, fields = FirewallOptionChanges(d, have); u.Set["enable"] != "0" || !slices.Contains(fields, "firewall.enabled") {
		t.Errorf("switched off: %v %+v", fields, u)
	}
}

// TestNet0CarriesTheFirewallFlag: net0 has firewall=1 while the spec's firewall is on, not
// when it is off, and keeps what Proxmox has when the spec sets no firewall.
func TestNet0CarriesTheFirewallFlag(t *testing.T) {
	withFlag := liveConfig()
	withFlag["net0"] = "name=eth0,bridge=vmbr0,firewall=1,hwaddr=BC:24:11:00:00:01,ip=dhcp,type=veth"
	d := liveDesired()
	if _, fields := Changes(d, parsedConfig(t, withFlag)); len(fields) != 0 {
		t.Errorf("no firewall in the spec, firewall=1 in Proxmox: changes %v", fields)
	}
	d.Firewall = &lxcv1.Firewall{}
	u, fields := Changes(d, parsedConfig(t, liveConfig()))
	if !slices.Equal(fields, []string{"network"}) || u.Set["net0"] != "name=eth0,bridge=vmbr0,firewall=1,hwaddr=BC:24:11:00:00:01,ip=dhcp,type=veth" {
		t.Errorf("firewall on: %v %v", fields, u.Set)
	}
	off := false
	d.Firewall.Enabled = &off
	if u, fields := Changes(d, parsedConfig(t, withFlag)); !slices.Equal(fields, []string{"network"}) || u.Set["net0"] == withFlag["net0"] {
		t.Errorf("firewall off: %v %v", fields, u.Set)
	}
	if a, b := (&Container{}).FirewallHash(), d.FirewallHash(); a != "" || b == "" {
		t.Errorf("hashes %q and %q", a, b)
	}
}
