package controller

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
	"templatemanager.dev/lxc-template-manager/internal/desired"
	"templatemanager.dev/lxc-template-manager/internal/outcome"
	"templatemanager.dev/lxc-template-manager/internal/proxmox"
)

// applyFirewall keeps the container's firewall — its rules in the spec's order, then its
// switch, policies and log levels — as the spec says; firewall=1 on net0 is part of the
// network applyConfig writes. The firewall is read once per resync (and at every change of
// the spec or requested reconcile), since the cluster-wide list shows nothing of it; what was
// changed or deleted in Proxmox is set back and announced as drift. A spec without a firewall
// leaves the container's as it is, rules the controller never made included.
func (r *LXCContainerReconciler) applyFirewall(ctx context.Context, s *containerScope) error {
	st := &s.obj.Status
	want := s.desired.FirewallHash()
	if want == "" {
		st.AppliedFirewallHash = ""
		return nil
	}
	if st.AppliedFirewallHash == want && !s.requested && r.lastFirewallCheck.fresh(s.obj.UID, want, r.resync()/2) {
		return nil
	}
	fields, err := r.convergeFirewallRules(ctx, s)
	if err == nil {
		var more []string
		more, err = r.convergeFirewallOptions(ctx, s)
		fields = append(fields, more...)
	}
	if len(fields) > 0 {
		if st.AppliedFirewallHash == want {
			// The spec did not change: someone changed the firewall outside the controller.
			r.Metrics.observeDrift(driftLabels(fields)...)
			r.announce(s.obj, changedOutside, st.VMID, fieldsNote(fields))
		} else {
			r.announce(s.obj, configUpdated, fieldsNote(fields), st.VMID)
		}
	}
	if err != nil {
		return firewallError(err, st.VMID)
	}
	r.lastFirewallCheck.mark(s.obj.UID, want)
	st.AppliedFirewallHash = want
	return nil
}

// convergeFirewallRules makes the container's rule list the spec's, one change at a time,
// each against the list just read and with its digest. It returns the spec fields changed.
func (r *LXCContainerReconciler) convergeFirewallRules(ctx context.Context, s *containerScope) ([]string, error) {
	st := &s.obj.Status
	node, vmid := st.Node, int(st.VMID)
	want := s.desired.FirewallRules()
	var fields []string
	for n := 0; ; n++ {
		have, err := s.px.FirewallRules(ctx, node, vmid)
		if err != nil {
			return fields, err
		}
		change, ok := desired.NextRuleChange(have.Rules, want)
		if !ok {
			return fields, nil
		}
		if n > 4*len(want)+len(have.Rules)+8 {
			// More changes than any list needs: someone else keeps changing it.
			return fields, proxmox.ErrConflict
		}
		if err := r.makeRuleChange(ctx, s, have, change); err != nil {
			return fields, firewallRefused(err, change.Field)
		}
		if !slices.Contains(fields, change.Field) {
			fields = append(fields, change.Field)
		}
	}
}

// makeRuleChange carries out one change of the rule list. Proxmox puts a new rule first, so an
// inserted rule is read back at the top and moved, with the list's new digest.
func (r *LXCContainerReconciler) makeRuleChange(ctx context.Context, s *containerScope, have proxmox.FirewallRules, c desired.RuleChange) error {
	node, vmid := s.obj.Status.Node, int(s.obj.Status.VMID)
	switch c.Kind {
	case desired.RuleCreate:
		return s.px.CreateFirewallRule(ctx, node, vmid, c.Rule)
	case desired.RuleUpdate:
		return s.px.UpdateFirewallRule(ctx, node, vmid, c.Pos, c.Rule, have.Digest)
	case desired.RuleMove:
		return s.px.MoveFirewallRule(ctx, node, vmid, c.Pos, c.To, have.Digest)
	case desired.RuleDelete:
		return s.px.DeleteFirewallRule(ctx, node, vmid, c.Pos, have.Digest)
	}
	if err := s.px.CreateFirewallRule(ctx, node, vmid, c.Rule); err != nil {
		return err
	}
	now, err := s.px.FirewallRules(ctx, node, vmid)
	if err != nil {
		return err
	}
	if len(now.Rules) == 0 || !desired.SameRule(now.Rules[0], c.Rule) {
		return proxmox.ErrConflict
	}
	// Proxmox's moveto puts the rule before the one now at moveto: the rule that is to
	// follow it stands one further down while the new rule is still first.
	return s.px.MoveFirewallRule(ctx, node, vmid, 0, c.To+1, now.Digest)
}

// convergeFirewallOptions writes the switch, policies and log levels that differ from the
// spec, with the options' digest. It returns the spec fields changed.
func (r *LXCContainerReconciler) convergeFirewallOptions(ctx context.Context, s *containerScope) ([]string, error) {
	st := &s.obj.Status
	have, err := s.px.FirewallOptions(ctx, st.Node, int(st.VMID))
	if err != nil {
		return nil, err
	}
	update, fields := desired.FirewallOptionChanges(s.desired, have)
	if len(fields) == 0 {
		return nil, nil
	}
	if err := s.px.UpdateFirewallOptions(ctx, st.Node, int(st.VMID), update); err != nil {
		return nil, firewallRefused(err, strings.Join(fields, ", "))
	}
	return fields, nil
}

// firewallRefused stalls on what Proxmox refuses outright (400: an alias or ipset the cluster
// does not define, a protocol the node does not know): trying again changes nothing until
// the spec or the cluster does.
func firewallRefused(err error, field string) error {
	var pe *proxmox.Error
	if errors.As(err, &pe) && pe.StatusCode == http.StatusBadRequest {
		return outcome.Stall(lxcv1.InvalidSpecReason, "Proxmox refuses %s: %v", field, err)
	}
	return err
}

// firewallError makes a concurrent change a short wait: the firewall is read again and the
// remaining changes made against what it is now.
func firewallError(err error, vmid int32) error {
	if errors.Is(err, proxmox.ErrConflict) {
		return outcome.Wait(time.Second, lxcv1.ConfigConflictReason,
			"the firewall of CT %d changed while it was being set; reading it again", vmid)
	}
	return err
}

// driftLabels are the metric labels of the fields: the rules count as one, whatever their
// positions.
func driftLabels(fields []string) []string {
	var out []string
	for _, f := range fields {
		if strings.HasPrefix(f, "firewall.rules") {
			f = "firewall.rules"
		}
		if !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	return out
}

// fieldsNote names changed fields for an Event, the rules by their positions in one entry and
// by their number when there are many, so that the note stays short.
func fieldsNote(fields []string) string {
	var out, rules []string
	for _, f := range fields {
		if i, ok := strings.CutPrefix(f, "firewall.rules["); ok {
			rules = append(rules, strings.TrimSuffix(i, "]"))
			continue
		}
		out = append(out, f)
	}
	switch {
	case len(rules) > 8:
		out = append([]string{fmt.Sprintf("firewall.rules (%d of them)", len(rules))}, out...)
	case len(rules) > 0:
		slices.SortFunc(rules, func(a, b string) int { x, _ := strconv.Atoi(a); y, _ := strconv.Atoi(b); return x - y })
		out = append([]string{"firewall.rules[" + strings.Join(rules, ", ") + "]"}, out...)
	}
	return strings.Join(out, ", ")
}
