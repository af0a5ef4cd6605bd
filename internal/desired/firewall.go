package desired

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"strings"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
	"templatemanager.dev/lxc-template-manager/internal/proxmox"
)

// mergeFirewall is the firewall the spec asks for: the container's own, else the template's,
// whole; nil when neither sets one (the container's firewall is then left as it is).
func mergeFirewall(t, c *lxcv1.Firewall) *lxcv1.Firewall {
	if c != nil {
		return c
	}
	return t
}

// FirewallOn says the spec switches the container's firewall on.
func (d *Container) FirewallOn() bool {
	return d.Firewall != nil && (d.Firewall.Enabled == nil || *d.Firewall.Enabled)
}

// Net0 is net0 as the spec makes it: its network, with firewall=1 while the firewall is on.
func (d *Container) Net0() proxmox.NetConfig {
	n := NetConfig(d.Network)
	n.Firewall = d.FirewallOn()
	return n
}

// FirewallHash identifies the firewall the spec asks for; empty when it asks for none.
func (d *Container) FirewallHash() string {
	if d.Firewall == nil {
		return ""
	}
	h := sha256.New()
	o := d.firewallOptions()
	for _, k := range slices.Sorted(maps.Keys(o)) {
		fmt.Fprintf(h, "%s=%s\x00", k, o[k])
	}
	for _, r := range d.FirewallRules() {
		fmt.Fprintf(h, "%+v\x00", r)
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// firewallOptions are the options the spec decides, as Proxmox's text; an empty value is
// Proxmox's default, written as a deletion.
func (d *Container) firewallOptions() map[string]string {
	f := d.Firewall
	enable := "0"
	if d.FirewallOn() {
		enable = "1"
	}
	return map[string]string{
		"enable":        enable,
		"policy_in":     firstNonEmpty(string(f.PolicyIn), string(lxcv1.FirewallDrop)),
		"policy_out":    firstNonEmpty(string(f.PolicyOut), string(lxcv1.FirewallAccept)),
		"log_level_in":  string(f.LogLevelIn),
		"log_level_out": string(f.LogLevelOut),
	}
}

// firewallOptionFields names the spec's field of each option, for Events.
var firewallOptionFields = map[string]string{
	"enable": "firewall.enabled", "policy_in": "firewall.policyIn", "policy_out": "firewall.policyOut",
	"log_level_in": "firewall.logLevelIn", "log_level_out": "firewall.logLevelOut",
}

// firewallDefaults are what Proxmox applies for an option it does not list
// (pve-firewall's vm_option_properties and its rule set).
var firewallDefaults = map[string]string{"enable": "0", "policy_in": "DROP", "policy_out": "ACCEPT", "log_level_in": "nolog", "log_level_out": "nolog"}

// FirewallOptionChanges is the update that makes the container's firewall options what the
// spec says (options it does not decide stay as they are), and the spec fields it changes.
func FirewallOptionChanges(d *Container, have proxmox.FirewallOptions) (proxmox.FirewallOptionsUpdate, []string) {
	u := proxmox.FirewallOptionsUpdate{Set: map[string]string{}, Digest: have.Digest}
	var fields []string
	want := d.firewallOptions()
	for _, k := range slices.Sorted(maps.Keys(want)) {
		cur := have.Raw[k]
		if k == "enable" {
			cur = map[bool]string{true: "1", false: "0"}[have.Enable]
		}
		if firstNonEmpty(cur, firewallDefaults[k]) == firstNonEmpty(want[k], firewallDefaults[k]) {
			continue
		}
		if want[k] == "" {
			u.Delete = append(u.Delete, k)
		} else {
			u.Set[k] = want[k]
		}
		fields = append(fields, firewallOptionFields[k])
	}
	return u, fields
}

// FirewallRules are the spec's rules as Proxmox rules, each at its position.
func (d *Container) FirewallRules() []proxmox.FirewallRule {
	if d.Firewall == nil {
		return nil
	}
	out := make([]proxmox.FirewallRule, 0, len(d.Firewall.Rules))
	for i, r := range d.Firewall.Rules {
		out = append(out, proxmox.FirewallRule{
			Pos: i, Type: string(r.Type), Action: string(r.Action), Macro: string(r.Macro), Proto: r.Proto,
			DPort: string(r.DPort), SPort: string(r.SPort), Source: string(r.Source), Dest: string(r.Dest),
			Comment: r.Comment, Log: string(r.Log), Enable: r.Enable == nil || *r.Enable,
		})
	}
	return out
}

// SameRule says whether a rule Proxmox has is the rule the spec asks for, wherever either
// stands: Proxmox stores the type in lower case and a macro by its own spelling, and an
// unset log level is nolog.
func SameRule(have, want proxmox.FirewallRule) bool {
	logLevel := func(l string) string { return firstNonEmpty(l, "nolog") }
	return strings.EqualFold(have.Type, want.Type) && have.Action == want.Action &&
		strings.EqualFold(have.Macro, want.Macro) && have.Proto == want.Proto &&
		have.DPort == want.DPort && have.SPort == want.SPort && have.Source == want.Source &&
		have.Dest == want.Dest && have.Iface == want.Iface && have.ICMPType == want.ICMPType &&
		have.Comment == want.Comment && logLevel(have.Log) == logLevel(want.Log) && have.Enable == want.Enable
}
