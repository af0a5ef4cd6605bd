package packaging

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// docRule is one row of a permissions table in docs/security.md.
type docRule struct {
	group     string
	resources []string
	verbs     []string
}

// documentedRules reads the rows of the table that follows heading in docs/security.md.
func documentedRules(t *testing.T, heading string) []docRule {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(root, "docs", "security.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(data), heading+"\n")
	if !ok {
		t.Fatalf("docs/security.md has no heading %q", heading)
	}
	cells := func(s string) []string {
		var out []string
		for _, c := range strings.Split(s, ",") {
			if c = strings.Trim(strings.TrimSpace(c), "`"); c != "" {
				out = append(out, c)
			}
		}
		return out
	}
	var rules []docRule
	inTable := false
	for _, line := range strings.Split(section, "\n") {
		if !strings.HasPrefix(line, "|") {
			if inTable {
				break
			}
			continue
		}
		inTable = true
		cols := strings.Split(strings.Trim(line, "|"), "|")
		if len(cols) < 4 || strings.Contains(cols[0], "---") || strings.TrimSpace(cols[0]) == "API group" {
			continue
		}
		group := strings.Trim(strings.TrimSpace(cols[0]), "`")
		if group == `""` {
			group = ""
		}
		rules = append(rules, docRule{group: group, resources: cells(cols[1]), verbs: cells(cols[2])})
	}
	if len(rules) == 0 {
		t.Fatalf("docs/security.md: no permissions table under %q", heading)
	}
	return rules
}

// TestSecurityDocListsEveryPermission shows that docs/security.md explains every permission of
// the generated manager role and claims none that the role does not grant.
func TestSecurityDocListsEveryPermission(t *testing.T) {
	rules := generatedManagerRules(t)
	docs := documentedRules(t, "### ClusterRole `manager-role` (`config/rbac/role.yaml`)")
	documented := func(group, resource, verb string) bool {
		for _, d := range docs {
			if d.group == group && slices.Contains(d.resources, resource) && slices.Contains(d.verbs, verb) {
				return true
			}
		}
		return false
	}
	for _, r := range rules {
		for _, g := range r.APIGroups {
			for _, res := range r.Resources {
				for _, v := range r.Verbs {
					if !documented(g, res, v) {
						t.Errorf("%s grants %s on %q/%s, which docs/security.md does not explain", managerRoleFile, v, g, res)
					}
				}
			}
		}
	}
	for _, d := range docs {
		for _, res := range d.resources {
			for _, v := range d.verbs {
				if !allows(rules, d.group, res, v) {
					t.Errorf("docs/security.md explains %s on %q/%s, which %s does not grant", v, d.group, res, managerRoleFile)
				}
			}
		}
	}
}
