package desired

import (
	"fmt"
	"slices"

	"templatemanager.dev/lxc-template-manager/internal/proxmox"
)

// RuleChange is one change that brings a container's firewall rules a step closer to the
// spec's list. Proxmox changes a rule list one rule at a time, puts a new rule first and
// renumbers the rules after a change, so the list is converged one change at a time, each
// made against the list just read.
type RuleChange struct {
	Kind RuleChangeKind
	// Pos is the position of the rule the change applies to (update, move, delete).
	Pos int
	// To is where an inserted or moved rule ends up.
	To int
	// Rule is the rule to create or to write at Pos.
	Rule proxmox.FirewallRule
	// Field names the spec's rule (firewall.rules[i]), or the removed one, for Events.
	Field string
}

// RuleChangeKind is what a RuleChange does.
type RuleChangeKind int

const (
	// RuleCreate adds Rule first, which is where it belongs (To is 0).
	RuleCreate RuleChangeKind = iota
	// RuleInsert adds Rule disabled, then moves it to To, where a later update enables it:
	// a rule never matches traffic before it stands where the spec puts it.
	RuleInsert
	// RuleUpdate makes the rule at Pos the spec's Rule.
	RuleUpdate
	// RuleMove moves the rule at Pos to To.
	RuleMove
	// RuleDelete removes the rule at Pos, which the spec does not have.
	RuleDelete
)

// NextRuleChange is the change to make to have (the rules Proxmox has, in order) so that it
// becomes want; false when they are already the same.
func NextRuleChange(have, want []proxmox.FirewallRule) (RuleChange, bool) {
	same := func(a, b []proxmox.FirewallRule) bool {
		return slices.EqualFunc(a, b, SameRule)
	}
	if same(have, want) {
		return RuleChange{}, false
	}
	// What Proxmox has is the end of the list: a new rule goes first without moving.
	if n := len(want) - len(have); n > 0 && same(have, want[n:]) {
		return RuleChange{Kind: RuleCreate, Rule: want[n-1], Field: ruleField(n - 1)}, true
	}
	i := 0
	for i < len(have) && i < len(want) && SameRule(have[i], want[i]) {
		i++
	}
	if i == len(want) {
		return RuleChange{Kind: RuleDelete, Pos: i, Field: removedField(i)}, true
	}
	if i < len(have) {
		other := have[i]
		other.Enable = want[i].Enable
		if SameRule(other, want[i]) {
			// Switched on or off in Proxmox, or inserted disabled before.
			return RuleChange{Kind: RuleUpdate, Pos: i, Rule: want[i], Field: ruleField(i)}, true
		}
	}
	unwanted := i < len(have) && !slices.ContainsFunc(want[i+1:], func(r proxmox.FirewallRule) bool { return SameRule(have[i], r) })
	if unwanted && len(have) > len(want) {
		return RuleChange{Kind: RuleDelete, Pos: i, Field: removedField(i)}, true
	}
	if j := slices.IndexFunc(have[i:], func(r proxmox.FirewallRule) bool { return SameRule(r, want[i]) }); j > 0 {
		return RuleChange{Kind: RuleMove, Pos: i + j, To: i, Field: ruleField(i)}, true
	}
	if unwanted {
		return RuleChange{Kind: RuleUpdate, Pos: i, Rule: want[i], Field: ruleField(i)}, true
	}
	if i == 0 {
		return RuleChange{Kind: RuleCreate, Rule: want[0], Field: ruleField(0)}, true
	}
	rule := want[i]
	rule.Enable = false
	return RuleChange{Kind: RuleInsert, To: i, Rule: rule, Field: ruleField(i)}, true
}

func ruleField(i int) string { return fmt.Sprintf("firewall.rules[%d]", i) }

// removedField names a removed rule for Events; its position says nothing once it is gone.
func removedField(int) string { return "firewall.rules (rules not in the spec removed)" }
