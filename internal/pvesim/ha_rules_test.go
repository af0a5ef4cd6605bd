package pvesim_test

import (
	"fmt"
	"testing"
	"time"

	"templatemanager.dev/lxc-template-manager/internal/pvesim/pvesimtest"
	"templatemanager.dev/lxc-template-manager/internal/testkit"
)

// TestHARules: rules.cfg through /cluster/ha/rules as pve-ha-manager's API2/HA/Rules.pm keeps
// it: the checks of create and update, the digest, the feasibility check that a resource is in
// one node-affinity rule only, delete, and a deleted HA resource purged from its rules.
func TestHARules(t *testing.T) {
	sim := pvesimtest.Start(t, pvesimtest.WithNodes("pve1", "pve2"), pvesimtest.WithTaskDuration(10*time.Millisecond))
	createCT(t, sim, "pve1", 100, nil)
	createCT(t, sim, "pve1", 101, nil)
	for _, sid := range []string{"ct:100", "ct:101"} {
		if res := call(t, sim, "POST", "/cluster/ha/resources", map[string]any{"sid": sid, "state": "stopped"}); res.Code != 200 {
			t.Fatalf("create %s: %d %s", sid, res.Code, res.Raw)
		}
	}

	rule := func(extra map[string]any) map[string]any {
		p := map[string]any{"type": "node-affinity", "rule": "web", "resources": "ct:100", "nodes": "pve2:2,pve1"}
		for k, v := range extra {
			if v == nil {
				delete(p, k)
			} else {
				p[k] = v
			}
		}
		return p
	}
	if res := call(t, sim, "POST", "/cluster/ha/rules", rule(map[string]any{"rule": "1web"})); res.Code != 400 || res.errors(t)["rule"] != "invalid format - invalid configuration ID '1web'\n" {
		t.Fatalf("bad rule id: %d %s", res.Code, res.Raw)
	}
	if res := call(t, sim, "POST", "/cluster/ha/rules", rule(map[string]any{"nodes": "pve2:high"})); res.Code != 400 || res.errors(t)["nodes"] != "invalid format - value does not look like a valid ha node\n" {
		t.Fatalf("bad node: %d %s", res.Code, res.Raw)
	}
	expectError(t, call(t, sim, "POST", "/cluster/ha/rules", rule(map[string]any{"nodes": nil})), 500, "missing value for required option 'nodes'")
	expectError(t, call(t, sim, "POST", "/cluster/ha/rules", rule(map[string]any{"affinity": "positive"})), 500, "unexpected property 'affinity'")
	expectError(t, call(t, sim, "POST", "/cluster/ha/rules", rule(map[string]any{"resources": "ct:100,ct:102"})), 500, "cannot use unmanaged resource(s) ct:102.")
	expectError(t, call(t, sim, "POST", "/cluster/ha/rules", rule(map[string]any{"nodes": "pve3,pve1"})), 500, "cannot use non-existent node(s) pve3.")
	if res := call(t, sim, "POST", "/cluster/ha/rules", rule(map[string]any{"comment": "front"})); res.Code != 200 {
		t.Fatalf("create: %d %s", res.Code, res.Raw)
	}
	expectError(t, call(t, sim, "POST", "/cluster/ha/rules", rule(nil)), 500, "HA rule 'web' already defined")
	res := call(t, sim, "POST", "/cluster/ha/rules", rule(map[string]any{"rule": "other", "resources": "ct:101,ct:100"}))
	if res.Code != 400 || res.errors(t)["resources"] != "resource 'ct:100' is already used in another node affinity rule" {
		t.Fatalf("second rule for ct:100: %d %s", res.Code, res.Raw)
	}

	var got map[string]any
	call(t, sim, "GET", "/cluster/ha/rules/web", nil).data(t, &got)
	if got["rule"] != "web" || got["type"] != "node-affinity" || got["resources"] != "ct:100" || got["nodes"] != "pve1,pve2:2" ||
		got["comment"] != "front" || got["order"] != float64(1) || got["digest"] == "" || got["strict"] != nil {
		t.Fatalf("read: %v", got)
	}
	expectError(t, call(t, sim, "GET", "/cluster/ha/rules/nope", nil), 500, "no such ha rule 'nope'")

	// Update with the digest; a stale digest is refused; a required option cannot go.
	digest := got["digest"].(string)
	if res := call(t, sim, "PUT", "/cluster/ha/rules/web", map[string]any{"type": "node-affinity", "nodes": "pve2", "strict": 1, "delete": "comment", "digest": digest}); res.Code != 200 {
		t.Fatalf("update: %d %s", res.Code, res.Raw)
	}
	expectError(t, call(t, sim, "PUT", "/cluster/ha/rules/web", map[string]any{"type": "node-affinity", "comment": "x", "digest": digest}), 500,
		"detected modified configuration - file changed by other user? Try again.")
	expectError(t, call(t, sim, "PUT", "/cluster/ha/rules/web", map[string]any{"type": "node-affinity", "delete": "nodes"}), 500, "cannot delete required option 'nodes'")
	expectError(t, call(t, sim, "PUT", "/cluster/ha/rules/nope", map[string]any{"type": "node-affinity", "comment": "x"}), 500, "HA rule 'nope' does not exist")
	var list []map[string]any
	call(t, sim, "GET", "/cluster/ha/rules?resource=ct:100", nil).data(t, &list)
	if len(list) != 1 || list[0]["nodes"] != "pve2" || list[0]["strict"] != float64(1) || list[0]["comment"] != nil {
		t.Fatalf("list after update: %v", list)
	}
	call(t, sim, "GET", "/cluster/ha/rules?type=resource-affinity", nil).data(t, &list)
	if len(list) != 0 {
		t.Fatalf("resource-affinity list: %v", list)
	}

	// A resource-affinity rule of one resource is ineffective.
	res = call(t, sim, "POST", "/cluster/ha/rules", map[string]any{"type": "resource-affinity", "rule": "pair", "resources": "ct:101", "affinity": "negative"})
	if res.Code != 400 || res.errors(t)["resources"] != "rule is ineffective as there are less than two resources" {
		t.Fatalf("one-resource affinity: %d %s", res.Code, res.Raw)
	}

	// Deleting the HA resource (purge defaults to 1) drops it from the rule, and the rule
	// left without resources goes too; deleting a rule that is gone is no error.
	if res := call(t, sim, "DELETE", "/cluster/ha/resources/ct:100", nil); res.Code != 200 {
		t.Fatalf("delete resource: %d %s", res.Code, res.Raw)
	}
	call(t, sim, "GET", "/cluster/ha/rules", nil).data(t, &list)
	if len(list) != 0 {
		t.Fatalf("rules after the resource was deleted: %v", list)
	}
	if res := call(t, sim, "DELETE", "/cluster/ha/rules/web", nil); res.Code != 200 {
		t.Fatalf("delete missing rule: %d %s", res.Code, res.Raw)
	}
}

// TestHANodeAffinity: the CRM runs a started resource on the highest-priority online node of
// its node-affinity rule, relocates it there when the rule changes, and keeps it where it is
// when it already runs on a preferred node. A strict rule keeps it off other nodes.
func TestHANodeAffinity(t *testing.T) {
	sim := pvesimtest.Start(t, pvesimtest.WithNodes("pve1", "pve2", "pve3"), pvesimtest.WithTaskDuration(10*time.Millisecond))
	createCT(t, sim, "pve1", 100, nil)
	where := func(want string) {
		t.Helper()
		testkit.Eventually(t, 30*time.Second, func() error {
			var res []map[string]any
			call(t, sim, "GET", "/cluster/resources?type=vm", nil).data(t, &res)
			if len(res) != 1 {
				return fmt.Errorf("resources: %v", res)
			}
			if res[0]["node"] != want || res[0]["status"] != "running" || res[0]["hastate"] != "started" {
				return fmt.Errorf("node %v, status %v, hastate %v; want running and started on %s", res[0]["node"], res[0]["status"], res[0]["hastate"], want)
			}
			return nil
		})
	}
	if res := call(t, sim, "POST", "/cluster/ha/resources", map[string]any{"sid": "ct:100"}); res.Code != 200 {
		t.Fatalf("create resource: %d %s", res.Code, res.Raw)
	}
	where("pve1")

	// The rule prefers pve2: the running CT is relocated there.
	if res := call(t, sim, "POST", "/cluster/ha/rules", map[string]any{"type": "node-affinity", "rule": "web", "resources": "ct:100", "nodes": "pve2:2,pve3:1"}); res.Code != 200 {
		t.Fatalf("create rule: %d %s", res.Code, res.Raw)
	}
	where("pve2")

	// Both nodes equally preferred: it stays where it runs.
	if res := call(t, sim, "PUT", "/cluster/ha/rules/web", map[string]any{"type": "node-affinity", "nodes": "pve2,pve3"}); res.Code != 200 {
		t.Fatalf("update rule: %d %s", res.Code, res.Raw)
	}
	where("pve2")
	time.Sleep(200 * time.Millisecond)
	where("pve2")

	// pve3 preferred and strict.
	if res := call(t, sim, "PUT", "/cluster/ha/rules/web", map[string]any{"type": "node-affinity", "nodes": "pve3:5,pve1", "strict": 1}); res.Code != 200 {
		t.Fatalf("update rule: %d %s", res.Code, res.Raw)
	}
	where("pve3")

	// Stopped and started again through HA, it comes up on the preferred node only.
	for _, state := range []string{"stopped", "started"} {
		if res := call(t, sim, "PUT", "/cluster/ha/resources/ct:100", map[string]any{"state": state}); res.Code != 200 {
			t.Fatalf("set %s: %d %s", state, res.Code, res.Raw)
		}
		if state == "stopped" {
			testkit.Eventually(t, 30*time.Second, func() error {
				var res []map[string]any
				call(t, sim, "GET", "/cluster/resources?type=vm", nil).data(t, &res)
				if res[0]["status"] != "stopped" {
					return fmt.Errorf("status %v", res[0]["status"])
				}
				return nil
			})
		}
	}
	where("pve3")

	// Without the rule the CT stays where it is.
	if res := call(t, sim, "DELETE", "/cluster/ha/rules/web", nil); res.Code != 200 {
		t.Fatalf("delete rule: %d %s", res.Code, res.Raw)
	}
	time.Sleep(200 * time.Millisecond)
	where("pve3")
}
