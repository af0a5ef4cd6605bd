package proxmox

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// HARule is a node-affinity rule of the HA stack (GET /cluster/ha/rules/{rule}, PVE 9): the
// HA resources it places and the nodes, each with a priority, it places them on.
type HARule struct {
	ID        string
	Resources []string // sorted resource ids, such as ct:100
	// Nodes maps each node to its priority (0 when the rule gives none).
	Nodes    map[string]int
	Strict   bool
	Disabled bool
	Comment  string
	// Digest of rules.cfg, for a change that must not overwrite a concurrent edit.
	Digest string
}

func haRulePath(id string) string { return "/cluster/ha/rules/" + id }

// HARule implements Client; a rule that does not exist is ErrNotFound.
func (c *APIClient) HARule(ctx context.Context, id string) (HARule, error) {
	raw, err := get[map[string]json.RawMessage](ctx, c, "get ha rule", id, haRulePath(id))
	if err != nil {
		return HARule{}, err
	}
	text := map[string]string{}
	for k, v := range raw {
		if s, ok := jsonText(v); ok {
			text[k] = s
		}
	}
	if t := text["type"]; t != "node-affinity" {
		return HARule{}, invalid("get ha rule "+id, fmt.Errorf("type %q, not node-affinity", t))
	}
	r := HARule{ID: id, Nodes: map[string]int{}, Strict: text["strict"] == "1", Disabled: text["disable"] == "1",
		Comment: text["comment"], Digest: text["digest"]}
	for _, sid := range splitList(text["resources"]) {
		r.Resources = append(r.Resources, sid)
	}
	slices.Sort(r.Resources)
	for _, item := range splitList(text["nodes"]) {
		name, pri, found := strings.Cut(item, ":")
		n := 0
		if found {
			if n, err = strconv.Atoi(pri); err != nil {
				return HARule{}, invalid("get ha rule "+id, fmt.Errorf("nodes %q", text["nodes"]))
			}
		}
		r.Nodes[name] = n
	}
	return r, nil
}

// splitList is PVE::Tools::split_list for the lists the rules hold.
func splitList(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ';' || r == ' ' || r == '\t' || r == '\n' || r == '\x00' })
}

// haRuleNodes is the nodes option: node[:priority], sorted by name.
func haRuleNodes(nodes map[string]int) string {
	var out []string
	for _, n := range slices.Sorted(maps.Keys(nodes)) {
		if p := nodes[n]; p != 0 {
			out = append(out, n+":"+strconv.Itoa(p))
		} else {
			out = append(out, n)
		}
	}
	return strings.Join(out, ",")
}

func haRuleParams(r HARule) map[string]any {
	p := map[string]any{"type": "node-affinity", "resources": strings.Join(r.Resources, ","),
		"nodes": haRuleNodes(r.Nodes), "strict": 0}
	if r.Strict {
		p["strict"] = 1
	}
	if r.Comment != "" {
		p["comment"] = r.Comment
	}
	return p
}

// CreateHARule implements Client.
func (c *APIClient) CreateHARule(ctx context.Context, r HARule) error {
	p := haRuleParams(r)
	p["rule"] = r.ID
	return c.call(ctx, "create ha rule", r.ID, createOnce, func(ctx context.Context) error {
		return c.api.Post(ctx, "/cluster/ha/rules", p, nil)
	})
}

// UpdateHARule implements Client: resources, nodes, strict and comment are set as r has them
// and the rule is enabled.
func (c *APIClient) UpdateHARule(ctx context.Context, r HARule) error {
	p := haRuleParams(r)
	p["delete"] = "disable"
	if r.Digest != "" {
		p["digest"] = r.Digest
	}
	return c.call(ctx, "update ha rule", r.ID, repeatable, func(ctx context.Context) error {
		return c.api.Put(ctx, haRulePath(r.ID), p, nil)
	})
}

// DeleteHARule implements Client; deleting a rule that does not exist is no error (Proxmox
// does not complain).
func (c *APIClient) DeleteHARule(ctx context.Context, id string) error {
	return c.call(ctx, "delete ha rule", id, repeatable, func(ctx context.Context) error {
		return c.api.Delete(ctx, haRulePath(id), nil)
	})
}
