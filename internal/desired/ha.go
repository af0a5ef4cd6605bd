package desired

import (
	"maps"
	"slices"
	"strconv"
	"strings"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
	"templatemanager.dev/lxc-template-manager/internal/proxmox"
)

// mergeHA is the HA resource the spec asks for: the container's own, else the template's; nil
// when neither sets one. A template's started or stopped follows the container's powerState,
// so that HA never fights it (the container's own setting is held to agree at admission).
func mergeHA(t, c *lxcv1.HA, power lxcv1.PowerState) *lxcv1.HA {
	if c != nil {
		return c
	}
	if t == nil {
		return nil
	}
	h := t.DeepCopy()
	if h.State == "" {
		h.State = lxcv1.HAStarted
	}
	if h.State != lxcv1.HAIgnored {
		h.State = lxcv1.HAStarted
		if power == lxcv1.PowerStateStopped {
			h.State = lxcv1.HAStopped
		}
	}
	return h
}

// mergePool is the pool the spec asks for: the container's own, else the template's.
func mergePool(t, c lxcv1.PoolID) string {
	if c != "" {
		return string(c)
	}
	return string(t)
}

// HAResource is the container's HA resource as the spec asks for it; ok is false when the spec
// asks for none.
func (d *Container) HAResource() (h proxmox.HAResource, ok bool) {
	if d.HA == nil {
		return h, false
	}
	h.State = string(d.HA.State)
	if h.State == "" {
		h.State = string(lxcv1.HAStarted)
	}
	if d.HA.State == lxcv1.HAIgnored {
		return h, true
	}
	if d.HA.MaxRestart != nil {
		n := int(*d.HA.MaxRestart)
		h.MaxRestart = &n
	}
	if d.HA.MaxRelocate != nil {
		n := int(*d.HA.MaxRelocate)
		h.MaxRelocate = &n
	}
	return h, true
}

// HARuleID is the id of the node-affinity rule the controller keeps for the container.
func HARuleID(vmid int) string { return "lxctm-" + strconv.Itoa(vmid) }

// HARule is the node-affinity rule the spec asks for (spec.ha.nodes and strict); ok is false
// when it asks for none: no HA, no nodes, or an ignored resource.
func (d *Container) HARule(vmid int) (r proxmox.HARule, ok bool) {
	if d.HA == nil || len(d.HA.Nodes) == 0 || d.HA.State == lxcv1.HAIgnored {
		return r, false
	}
	r = proxmox.HARule{ID: HARuleID(vmid), Resources: []string{"ct:" + strconv.Itoa(vmid)},
		Nodes: map[string]int{}, Strict: d.HA.Strict != nil && *d.HA.Strict,
		Comment: "node affinity of spec.ha.nodes (lxc-template-manager)"}
	for _, n := range d.HA.Nodes {
		pri := 0
		if n.Priority != nil {
			pri = int(*n.Priority)
		}
		r.Nodes[n.Name] = pri
	}
	return r, true
}

// HAPlacesNode says whether the HA stack, not spec.node, decides where the container runs:
// it is HA managed with node affinity.
func (d *Container) HAPlacesNode() bool {
	_, ok := d.HARule(0)
	return ok
}

// PreferredHANodes are the nodes of the highest priority in spec.ha.nodes, where the HA
// stack wants the container to run; nil without node affinity.
func (d *Container) PreferredHANodes() []string {
	r, ok := d.HARule(0)
	if !ok {
		return nil
	}
	best := -1
	var out []string
	for _, n := range slices.Sorted(maps.Keys(r.Nodes)) {
		switch p := r.Nodes[n]; {
		case p > best:
			best, out = p, []string{n}
		case p == best:
			out = append(out, n)
		}
	}
	return out
}

// HAStateText identifies the HA resource and rule the spec asks for, for status.appliedHA;
// empty when it asks for none.
func (d *Container) HAStateText() string {
	h, ok := d.HAResource()
	if !ok {
		return ""
	}
	text := h.State + limitText("restart", h.MaxRestart) + limitText("relocate", h.MaxRelocate)
	if r, ok := d.HARule(0); ok {
		text += ",nodes=" + proxmoxNodes(r.Nodes)
		if r.Strict {
			text += ",strict"
		}
	}
	return text
}

// HATextHasRule says whether an appliedHA text records a node-affinity rule.
func HATextHasRule(text string) bool { return strings.Contains(text, ",nodes=") }

func proxmoxNodes(nodes map[string]int) string {
	var out []string
	for _, n := range slices.Sorted(maps.Keys(nodes)) {
		out = append(out, n+":"+strconv.Itoa(nodes[n]))
	}
	return strings.Join(out, ";")
}

func limitText(name string, n *int) string {
	if n == nil {
		return ""
	}
	return "," + name + "=" + strconv.Itoa(*n)
}
