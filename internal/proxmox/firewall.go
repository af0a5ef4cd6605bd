package proxmox

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
)

// FirewallOptions are a container's firewall options (GET …/firewall/options). An option
// Proxmox does not list is at its default: the firewall off, policy_in DROP, policy_out
// ACCEPT, no logging.
type FirewallOptions struct {
	Enable      bool
	PolicyIn    string
	PolicyOut   string
	LogLevelIn  string
	LogLevelOut string
	// Raw holds every option Proxmox lists as text (flags as 0 or 1).
	Raw map[string]string
	// Digest of the options, for a write that must not overwrite a concurrent edit.
	Digest string
}

// FirewallOptionsUpdate changes a container's firewall options.
type FirewallOptionsUpdate struct {
	// Set writes options as Proxmox's text, e.g. "enable": "1", "policy_in": "DROP".
	Set map[string]string
	// Delete puts options back to their defaults.
	Delete []string
	// Digest, when set, makes Proxmox refuse the change if the options changed since they
	// were read (ErrConflict).
	Digest string
}

// FirewallRule is one rule of a container's firewall. Empty fields are unset.
type FirewallRule struct {
	// Pos is the rule's position, 0 first; Proxmox evaluates the rules in this order.
	Pos      int
	Type     string // in, out or group
	Action   string // ACCEPT, DROP, REJECT, or a security group for type group
	Macro    string
	Proto    string
	DPort    string
	SPort    string
	Source   string
	Dest     string
	Iface    string
	ICMPType string
	Log      string
	Comment  string
	Enable   bool
}

// FirewallRules is a container's rule list in order.
type FirewallRules struct {
	Rules []FirewallRule
	// Digest of the whole list, for a change that must not overwrite a concurrent edit.
	Digest string
}

// optional are the optional properties of a rule, by Proxmox's names.
func (r FirewallRule) optional() map[string]string {
	return map[string]string{
		"macro": r.Macro, "proto": r.Proto, "dport": r.DPort, "sport": r.SPort, "source": r.Source,
		"dest": r.Dest, "iface": r.Iface, "icmp-type": r.ICMPType, "log": r.Log, "comment": r.Comment,
	}
}

func firewallPath(node string, vmid int) string { return containerPath(node, vmid) + "/firewall" }

// FirewallOptions implements Client.
func (c *APIClient) FirewallOptions(ctx context.Context, node string, vmid int) (FirewallOptions, error) {
	target := containerTarget(node, vmid)
	raw, err := get[map[string]json.RawMessage](ctx, c, "get firewall options", target, firewallPath(node, vmid)+"/options")
	if err != nil {
		return FirewallOptions{}, err
	}
	o := FirewallOptions{Raw: map[string]string{}}
	for k, v := range raw {
		if s, ok := jsonText(v); ok {
			o.Raw[k] = s
		}
	}
	o.Digest = o.Raw["digest"]
	delete(o.Raw, "digest")
	o.Enable = parseFlag(o.Raw["enable"])
	o.PolicyIn, o.PolicyOut = o.Raw["policy_in"], o.Raw["policy_out"]
	o.LogLevelIn, o.LogLevelOut = o.Raw["log_level_in"], o.Raw["log_level_out"]
	return o, nil
}

// UpdateFirewallOptions implements Client. An update that changes nothing sends no request.
func (c *APIClient) UpdateFirewallOptions(ctx context.Context, node string, vmid int, u FirewallOptionsUpdate) error {
	if len(u.Set) == 0 && len(u.Delete) == 0 {
		return nil
	}
	p := map[string]any{}
	for k, v := range u.Set {
		p[k] = v
	}
	if len(u.Delete) > 0 {
		p["delete"] = strings.Join(u.Delete, ",")
	}
	if u.Digest != "" {
		p["digest"] = u.Digest
	}
	return c.call(ctx, "update firewall options", containerTarget(node, vmid), repeatable, func(ctx context.Context) error {
		return c.api.Put(ctx, firewallPath(node, vmid)+"/options", p, nil)
	})
}

// rawRule is one entry of GET …/firewall/rules.
type rawRule struct {
	Pos      flexNum    `json:"pos"`
	Type     flexString `json:"type"`
	Action   flexString `json:"action"`
	Macro    flexString `json:"macro"`
	Proto    flexString `json:"proto"`
	DPort    flexString `json:"dport"`
	SPort    flexString `json:"sport"`
	Source   flexString `json:"source"`
	Dest     flexString `json:"dest"`
	Iface    flexString `json:"iface"`
	ICMPType flexString `json:"icmp-type"`
	Log      flexString `json:"log"`
	Comment  flexString `json:"comment"`
	Enable   flexBool   `json:"enable"`
	Digest   flexString `json:"digest"`
}

// FirewallRules implements Client.
func (c *APIClient) FirewallRules(ctx context.Context, node string, vmid int) (FirewallRules, error) {
	target := containerTarget(node, vmid)
	raw, err := get[[]rawRule](ctx, c, "get firewall rules", target, firewallPath(node, vmid)+"/rules")
	if err != nil {
		return FirewallRules{}, err
	}
	out := FirewallRules{Rules: make([]FirewallRule, 0, len(raw))}
	for i, r := range raw {
		if int(r.Pos) != i {
			return FirewallRules{}, invalid("get firewall rules "+target, fmt.Errorf("rule %d reports position %v", i, r.Pos))
		}
		out.Digest = string(r.Digest)
		out.Rules = append(out.Rules, FirewallRule{
			Pos: i, Type: string(r.Type), Action: string(r.Action), Macro: string(r.Macro), Proto: string(r.Proto),
			DPort: string(r.DPort), SPort: string(r.SPort), Source: string(r.Source), Dest: string(r.Dest),
			Iface: string(r.Iface), ICMPType: string(r.ICMPType), Log: string(r.Log), Comment: string(r.Comment),
			Enable: bool(r.Enable),
		})
	}
	return out, nil
}

// CreateFirewallRule implements Client. It is not retried once the request may have reached
// Proxmox: a repeat would add the rule twice.
func (c *APIClient) CreateFirewallRule(ctx context.Context, node string, vmid int, rule FirewallRule) error {
	p := map[string]any{"type": rule.Type, "action": rule.Action, "enable": 0}
	if rule.Enable {
		p["enable"] = 1
	}
	for k, v := range rule.optional() {
		if v != "" {
			p[k] = v
		}
	}
	return c.call(ctx, "create firewall rule", containerTarget(node, vmid), createOnce, func(ctx context.Context) error {
		return c.api.Post(ctx, firewallPath(node, vmid)+"/rules", p, nil)
	})
}

func rulePath(node string, vmid, pos int) string {
	return fmt.Sprintf("%s/rules/%d", firewallPath(node, vmid), pos)
}

// UpdateFirewallRule implements Client.
func (c *APIClient) UpdateFirewallRule(ctx context.Context, node string, vmid, pos int, rule FirewallRule, digest string) error {
	p := map[string]any{"type": rule.Type, "action": rule.Action, "enable": 0}
	if rule.Enable {
		p["enable"] = 1
	}
	var del []string
	for _, k := range sortedKeys(rule.optional()) {
		if v := rule.optional()[k]; v != "" {
			p[k] = v
		} else {
			del = append(del, k)
		}
	}
	if len(del) > 0 {
		p["delete"] = strings.Join(del, ",")
	}
	if digest != "" {
		p["digest"] = digest
	}
	return c.call(ctx, "update firewall rule", fmt.Sprintf("%s/%d", containerTarget(node, vmid), pos), repeatable, func(ctx context.Context) error {
		return c.api.Put(ctx, rulePath(node, vmid, pos), p, nil)
	})
}

// MoveFirewallRule implements Client.
func (c *APIClient) MoveFirewallRule(ctx context.Context, node string, vmid, pos, to int, digest string) error {
	p := map[string]any{"moveto": to}
	if digest != "" {
		p["digest"] = digest
	}
	return c.call(ctx, "move firewall rule", fmt.Sprintf("%s/%d", containerTarget(node, vmid), pos), repeatable, func(ctx context.Context) error {
		return c.api.Put(ctx, rulePath(node, vmid, pos), p, nil)
	})
}

// DeleteFirewallRule implements Client.
func (c *APIClient) DeleteFirewallRule(ctx context.Context, node string, vmid, pos int, digest string) error {
	path := rulePath(node, vmid, pos)
	if digest != "" {
		path += "?digest=" + url.QueryEscape(digest)
	}
	return c.call(ctx, "delete firewall rule", fmt.Sprintf("%s/%d", containerTarget(node, vmid), pos), repeatable, func(ctx context.Context) error {
		return c.api.Delete(ctx, path, nil)
	})
}
