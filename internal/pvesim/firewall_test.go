package pvesim_test

import (
	"net/http"
	"strings"
	"testing"

	"templatemanager.dev/lxc-template-manager/internal/pvesim/pvesimtest"
)

const fwPath = "/nodes/pve1/lxc/100/firewall"

// fwRules reads a container's rule list.
func fwRules(t *testing.T, sim *pvesimtest.Simulator) []map[string]any {
	t.Helper()
	var rules []map[string]any
	res := call(t, sim, "GET", fwPath+"/rules", nil)
	if res.Code != http.StatusOK {
		t.Fatalf("rules: %d %s", res.Code, res.Status)
	}
	res.data(t, &rules)
	return rules
}

// ruleDigest is the digest every rule of the list carries.
func ruleDigest(t *testing.T, sim *pvesimtest.Simulator) string {
	t.Helper()
	rules := fwRules(t, sim)
	if len(rules) == 0 {
		t.Fatal("no rules")
	}
	return rules[0]["digest"].(string)
}

// comments lists the rules' comments in order.
func comments(rules []map[string]any) string {
	var out []string
	for _, r := range rules {
		out = append(out, r["comment"].(string))
	}
	return strings.Join(out, ",")
}

func ok(t *testing.T, res rawResponse) {
	t.Helper()
	if res.Code != http.StatusOK {
		t.Fatalf("%d %s %s", res.Code, res.Status, res.Raw)
	}
}

// expectParamError expects PVE's 400 naming param with a message containing msg.
func expectParamError(t *testing.T, res rawResponse, param, msg string) {
	t.Helper()
	if res.Code != http.StatusBadRequest {
		t.Fatalf("got %d %s %s, want 400 naming %s", res.Code, res.Status, res.Raw, param)
	}
	if got := res.errors(t)[param]; !strings.Contains(got, msg) {
		t.Fatalf("errors %v, want %s: %q", res.errors(t), param, msg)
	}
}

// TestFirewallOptions mirrors pve-firewall's get_options/set_options: an empty file has only
// its digest, booleans come back as numbers, a stale digest is refused, delete falls back to
// the default and knows only the options.
func TestFirewallOptions(t *testing.T) {
	sim := pvesimtest.Start(t)
	createCT(t, sim, "pve1", 100, nil)
	var opts map[string]any
	call(t, sim, "GET", fwPath+"/options", nil).data(t, &opts)
	if len(opts) != 1 || opts["digest"] == "" {
		t.Fatalf("options of a new container: %v", opts)
	}
	stale := opts["digest"].(string)
	ok(t, call(t, sim, "PUT", fwPath+"/options", map[string]any{"enable": true, "policy_in": "ACCEPT", "log_level_in": "info", "digest": stale}))
	call(t, sim, "GET", fwPath+"/options", nil).data(t, &opts)
	if opts["enable"] != float64(1) || opts["policy_in"] != "ACCEPT" || opts["log_level_in"] != "info" || opts["digest"] == stale {
		t.Fatalf("options after the change: %v", opts)
	}
	expectError(t, call(t, sim, "PUT", fwPath+"/options", map[string]any{"enable": 0, "digest": stale}), 500,
		"detected modified configuration - file changed by other user? Try again.")
	expectParamError(t, call(t, sim, "PUT", fwPath+"/options", map[string]any{"delete": "policy_in,bogus"}), "delete", "no such option 'bogus'")
	ok(t, call(t, sim, "PUT", fwPath+"/options", map[string]any{"delete": "policy_in", "policy_out": "REJECT"}))
	opts = nil
	call(t, sim, "GET", fwPath+"/options", nil).data(t, &opts)
	if _, ok := opts["policy_in"]; ok || opts["policy_out"] != "REJECT" {
		t.Fatalf("options after deleting policy_in: %v", opts)
	}
	expectParamError(t, call(t, sim, "PUT", fwPath+"/options", map[string]any{"policy_in": "ALLOW"}), "policy_in", "value 'ALLOW' does not have a value in the enumeration")
	expectError(t, call(t, sim, "GET", "/nodes/pve1/lxc/101/firewall/options", nil), 500,
		"Configuration file 'nodes/pve1/lxc/101.conf' does not exist")
}

// TestFirewallRuleList mirrors pve-firewall's RulesBase: a new rule goes first and is disabled
// unless enable is given, every entry carries its position and the list's digest, moveto
// moves a rule before another, a deletion renumbers the rules after it, and a stale digest is
// refused by update and delete (create checks none).
func TestFirewallRuleList(t *testing.T) {
	sim := pvesimtest.Start(t)
	createCT(t, sim, "pve1", 100, nil)
	for _, c := range []string{"c", "b", "a"} {
		ok(t, call(t, sim, "POST", fwPath+"/rules", map[string]any{"type": "in", "action": "ACCEPT", "proto": "tcp", "dport": "22", "comment": c, "enable": 1}))
	}
	ok(t, call(t, sim, "POST", fwPath+"/rules", map[string]any{"type": "out", "action": "DROP", "comment": "  d  ", "digest": "stale"}))
	rules := fwRules(t, sim)
	if comments(rules) != "d,a,b,c" {
		t.Fatalf("order %s, want d,a,b,c", comments(rules))
	}
	d := rules[0]
	if d["pos"] != float64(0) || d["enable"] != float64(0) || d["comment"] != "d" || rules[3]["pos"] != float64(3) || rules[1]["enable"] != float64(1) {
		t.Fatalf("rules: %v", rules)
	}
	for _, r := range rules {
		if r["digest"] != d["digest"] {
			t.Fatalf("digests differ within one list: %v", rules)
		}
	}
	var one map[string]any
	call(t, sim, "GET", fwPath+"/rules/2", nil).data(t, &one)
	if one["comment"] != "b" || one["pos"] != float64(2) {
		t.Fatalf("rule 2: %v", one)
	}
	expectError(t, call(t, sim, "GET", fwPath+"/rules/4", nil), 500, "no rule at position 4")

	digest := ruleDigest(t, sim)
	ok(t, call(t, sim, "PUT", fwPath+"/rules/0", map[string]any{"moveto": 3, "digest": digest}))
	if got := comments(fwRules(t, sim)); got != "a,b,d,c" {
		t.Fatalf("after moving d before the rule at 3: %s, want a,b,d,c", got)
	}
	ok(t, call(t, sim, "PUT", fwPath+"/rules/0", map[string]any{"moveto": 10}))
	if got := comments(fwRules(t, sim)); got != "b,d,c,a" {
		t.Fatalf("after moving a past the end: %s, want b,d,c,a", got)
	}
	expectError(t, call(t, sim, "DELETE", fwPath+"/rules/0?digest="+digest, nil), 500,
		"detected modified configuration - file changed by other user? Try again.")
	expectError(t, call(t, sim, "PUT", fwPath+"/rules/0", map[string]any{"comment": "x", "digest": digest}), 500,
		"detected modified configuration - file changed by other user? Try again.")
	ok(t, call(t, sim, "DELETE", fwPath+"/rules/1?digest="+ruleDigest(t, sim), nil))
	rules = fwRules(t, sim)
	if comments(rules) != "b,c,a" || rules[2]["pos"] != float64(2) {
		t.Fatalf("after deleting d: %v", rules)
	}
	expectError(t, call(t, sim, "DELETE", fwPath+"/rules/3", nil), 500, "no rule at position 3")
}

// TestFirewallRuleUpdate: update sets what it is given, deletes what delete names (never type
// or action), and verifies the result; the stored rule carries the IP version its addresses
// imply and the macro by PVE's spelling.
func TestFirewallRuleUpdate(t *testing.T) {
	sim := pvesimtest.Start(t)
	createCT(t, sim, "pve1", 100, nil)
	ok(t, call(t, sim, "POST", fwPath+"/rules", map[string]any{"type": "in", "action": "ACCEPT", "proto": "tcp", "dport": "22", "source": "10.0.0.0/8", "enable": 1}))
	var rule map[string]any
	call(t, sim, "GET", fwPath+"/rules/0", nil).data(t, &rule)
	if rule["ipversion"] != float64(4) || rule["source"] != "10.0.0.0/8" {
		t.Fatalf("rule: %v", rule)
	}
	ok(t, call(t, sim, "PUT", fwPath+"/rules/0", map[string]any{"macro": "ssh", "delete": "proto,dport,source", "log": "info", "enable": 0}))
	rule = nil
	call(t, sim, "GET", fwPath+"/rules/0", nil).data(t, &rule)
	want := map[string]any{"type": "in", "action": "ACCEPT", "macro": "SSH", "log": "info", "enable": float64(0), "pos": float64(0)}
	for k, v := range want {
		if rule[k] != v {
			t.Errorf("%s = %v, want %v (rule %v)", k, rule[k], v, rule)
		}
	}
	for _, k := range []string{"proto", "dport", "source", "ipversion"} {
		if _, ok := rule[k]; ok {
			t.Errorf("%s still set: %v", k, rule)
		}
	}
	expectParamError(t, call(t, sim, "PUT", fwPath+"/rules/0", map[string]any{"delete": "action"}), "delete", "unable to delete required property 'action'")
	expectParamError(t, call(t, sim, "PUT", fwPath+"/rules/0", map[string]any{"delete": "bogus"}), "delete", "no such property ('bogus')")
	expectParamError(t, call(t, sim, "PUT", fwPath+"/rules/0", map[string]any{"dport": "80"}), "proto", "missing property - 'dport' requires this property")
}

// TestFirewallRuleVerification: what verify_rule and the pve-fw formats refuse, each as PVE's
// 400 naming the parameter.
func TestFirewallRuleVerification(t *testing.T) {
	sim := pvesimtest.Start(t)
	createCT(t, sim, "pve1", 100, nil)
	rule := func(extra map[string]any) map[string]any {
		r := map[string]any{"type": "in", "action": "ACCEPT"}
		for k, v := range extra {
			r[k] = v
		}
		return r
	}
	cases := []struct {
		body       map[string]any
		param, msg string
	}{
		{rule(map[string]any{"type": "forward"}), "type", "invalid rule type 'forward' for rule_env 'ct'"},
		{rule(map[string]any{"action": "ALLOW"}), "action", "unknown action 'ALLOW'"},
		{rule(map[string]any{"macro": "Minecraft"}), "macro", "unknown macro 'Minecraft'"},
		{rule(map[string]any{"proto": "tcpx"}), "proto", "unknown protocol 'tcpx'"},
		{rule(map[string]any{"dport": "22"}), "proto", "missing property - 'dport' requires this property"},
		{rule(map[string]any{"proto": "gre", "dport": "22"}), "dport", "protocol 'gre' does not support ports"},
		{rule(map[string]any{"proto": "tcp", "dport": "70000"}), "dport", "invalid port '70000'"},
		{rule(map[string]any{"proto": "tcp", "dport": "90:80"}), "dport", "backwards range '90:80' not allowed"},
		{rule(map[string]any{"proto": "tcp", "dport": "1,2,3,4,5,6,7,8,9,10,11,12,13,14,15:16"}), "dport", "too many entries in port list"},
		{rule(map[string]any{"proto": "udp", "sport": "53,"}), "sport", "extraneous commas in list"},
		{rule(map[string]any{"source": "10.0.0.5/24"}), "source", "invalid IP address: Invalid prefix"},
		{rule(map[string]any{"source": "10.0.0.1,fd00::1"}), "source", "detected mixed ipv4/ipv6 addresses in address list"},
		{rule(map[string]any{"source": "10.0.0.1-10.0.0.5,10.0.1.1"}), "source", "you can't use a range in a list"},
		{rule(map[string]any{"source": "10.0.0.1", "dest": "fd00::1"}), "dest", "detected mixed ipv4/ipv6 addresses in rule"},
		{rule(map[string]any{"proto": "icmpv6", "source": "10.0.0.1"}), "source", "detected mixed ipv4/ipv6 addresses in rule"},
		{rule(map[string]any{"dest": "dc/office"}), "dest", "no such alias 'dc/office'"},
		{rule(map[string]any{"source": "+trusted"}), "source", "no such ipset 'trusted'"},
		{rule(map[string]any{"iface": "eth0"}), "iface", `value does not match the regex pattern 'net\d+'`},
	}
	for _, c := range cases {
		expectParamError(t, call(t, sim, "POST", fwPath+"/rules", c.body), c.param, c.msg)
	}
	if rules := fwRules(t, sim); len(rules) != 0 {
		t.Fatalf("refused rules were stored: %v", rules)
	}
}

// TestFirewallGoesWithTheContainer: the firewall file is copied by a clone and removed with
// its container (pve-container's destroy calls remove_vmfw_conf), so a new container of the
// same VMID starts without rules; net0 keeps firewall=1.
func TestFirewallGoesWithTheContainer(t *testing.T) {
	sim := pvesimtest.Start(t)
	createCT(t, sim, "pve1", 100, map[string]any{"net0": "name=eth0,bridge=vmbr0,ip=dhcp,firewall=1"})
	if net0, _ := configOf(t, sim, "pve1", 100)["net0"].(string); !strings.Contains(net0, "firewall=1") {
		t.Fatalf("net0 = %q, want firewall=1 kept", net0)
	}
	ok(t, call(t, sim, "POST", fwPath+"/rules", map[string]any{"type": "in", "action": "DROP", "comment": "kept"}))
	ok(t, call(t, sim, "PUT", fwPath+"/options", map[string]any{"enable": 1}))
	waitTask(t, sim, "pve1", call(t, sim, "POST", "/nodes/pve1/lxc/100/clone", map[string]any{"newid": 101, "full": 1}), "OK")
	var rules []map[string]any
	call(t, sim, "GET", "/nodes/pve1/lxc/101/firewall/rules", nil).data(t, &rules)
	if len(rules) != 1 || rules[0]["comment"] != "kept" {
		t.Fatalf("clone's rules: %v", rules)
	}
	waitTask(t, sim, "pve1", call(t, sim, "DELETE", "/nodes/pve1/lxc/100", nil), "OK")
	expectError(t, call(t, sim, "GET", fwPath+"/rules", nil), 500, "Configuration file 'nodes/pve1/lxc/100.conf' does not exist")
	createCT(t, sim, "pve1", 100, nil)
	if rules := fwRules(t, sim); len(rules) != 0 {
		t.Fatalf("a new CT 100 has the old one's rules: %v", rules)
	}
	var opts map[string]any
	call(t, sim, "GET", fwPath+"/options", nil).data(t, &opts)
	if len(opts) != 1 {
		t.Fatalf("a new CT 100 has the old one's options: %v", opts)
	}
}
