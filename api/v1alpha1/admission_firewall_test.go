package v1alpha1_test

import (
	"fmt"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// firewallRules is a template fragment whose firewall holds the given rules.
func firewallRules(rules ...string) string {
	return "  firewall:\n    rules:\n" + "    - " + strings.Join(rules, "\n    - ") + "\n"
}

// TestFirewallAdmission: what the API server refuses of a firewall, each naming the field.
func TestFirewallAdmission(t *testing.T) {
	ctx := controlPlane(t)
	var many []string
	for i := range 65 {
		many = append(many, fmt.Sprintf("{type: in, action: ACCEPT, proto: tcp, dport: '%d'}", 1000+i))
	}
	refused := []refusal{
		{"policyIn", spec(templateHead, goodTemplate, "  firewall: {policyIn: ALLOW}\n"),
			[]string{"spec.firewall.policyIn", "Unsupported value"}},
		{"policyOut", spec(containerHead, goodRefs, "  firewall: {policyOut: drop}\n"),
			[]string{"spec.firewall.policyOut", "Unsupported value"}},
		{"log level", spec(templateHead, goodTemplate, "  firewall: {logLevelIn: verbose}\n"),
			[]string{"spec.firewall.logLevelIn", "Unsupported value"}},
		{"action", spec(templateHead, goodTemplate, firewallRules("{type: in, action: ALLOW}")),
			[]string{"spec.firewall.rules[0].action", "Unsupported value"}},
		{"missing action", spec(templateHead, goodTemplate, firewallRules("{type: in}")),
			[]string{"spec.firewall.rules[0].action", "Required value"}},
		{"type forward", spec(templateHead, goodTemplate, firewallRules("{type: forward, action: ACCEPT}")),
			[]string{"spec.firewall.rules[0].type", "Unsupported value"}},
		{"unknown macro", spec(templateHead, goodTemplate, firewallRules("{type: in, action: ACCEPT, macro: Minecraft}")),
			[]string{"spec.firewall.rules[0].macro", "Unsupported value"}},
		{"macro with a port", spec(templateHead, goodTemplate, firewallRules("{type: in, action: ACCEPT, macro: SSH, proto: tcp, dport: '2222'}")),
			[]string{"spec.firewall.rules[0].macro", "a macro brings its own protocol and ports"}},
		{"proto with shell", spec(templateHead, goodTemplate, firewallRules("{type: in, action: ACCEPT, proto: 'tcp;id'}")),
			[]string{"spec.firewall.rules[0].proto", "should match"}},
		{"proto number", spec(templateHead, goodTemplate, firewallRules("{type: in, action: ACCEPT, proto: '300'}")),
			[]string{"spec.firewall.rules[0].proto", "at most 255"}},
		{"dport without proto", spec(templateHead, goodTemplate, firewallRules("{type: in, action: ACCEPT, dport: '22'}")),
			[]string{"spec.firewall.rules[0].dport", "dport needs proto"}},
		{"dport with icmp", spec(templateHead, goodTemplate, firewallRules("{type: in, action: ACCEPT, proto: icmp, dport: '22'}")),
			[]string{"spec.firewall.rules[0].dport", "dport needs proto"}},
		{"sport without proto", spec(containerHead, goodRefs, firewallRules("{type: out, action: ACCEPT, sport: '53'}")),
			[]string{"spec.firewall.rules[0].sport", "sport needs proto"}},
		{"dport with a dash range", spec(templateHead, goodTemplate, firewallRules("{type: in, action: ACCEPT, proto: tcp, dport: '80-90'}")),
			[]string{"spec.firewall.rules[0].dport", "must be ports from 0 to 65535"}},
		{"dport service name", spec(templateHead, goodTemplate, firewallRules("{type: in, action: ACCEPT, proto: tcp, dport: ssh}")),
			[]string{"spec.firewall.rules[0].dport", "must be ports from 0 to 65535"}},
		{"dport above 65535", spec(templateHead, goodTemplate, firewallRules("{type: in, action: ACCEPT, proto: tcp, dport: '70000'}")),
			[]string{"spec.firewall.rules[0].dport", "must be ports from 0 to 65535"}},
		{"dport range backwards", spec(templateHead, goodTemplate, firewallRules("{type: in, action: ACCEPT, proto: udp, dport: '100:80'}")),
			[]string{"spec.firewall.rules[0].dport", "from the lower port to the higher"}},
		{"too many ports", spec(templateHead, goodTemplate, firewallRules("{type: in, action: ACCEPT, proto: tcp, dport: '1,2,3,4,5,6,7,8,9,10,11,12,13,14,15:20'}")),
			[]string{"spec.firewall.rules[0].dport", "at most 15 ports"}},
		{"source host address with a prefix", spec(templateHead, goodTemplate, firewallRules("{type: in, action: ACCEPT, source: 10.0.0.5/24}")),
			[]string{"spec.firewall.rules[0].source", "network address"}},
		{"source not an address", spec(templateHead, goodTemplate, firewallRules("{type: in, action: ACCEPT, source: 'my office'}")),
			[]string{"spec.firewall.rules[0].source", "must be an IP address"}},
		{"source mixing families", spec(templateHead, goodTemplate, firewallRules("{type: in, action: ACCEPT, source: '10.0.0.1,fd00::1'}")),
			[]string{"spec.firewall.rules[0].source", "must not mix IPv4 and IPv6"}},
		{"source range in a list", spec(templateHead, goodTemplate, firewallRules("{type: in, action: ACCEPT, source: '10.0.0.1-10.0.0.9,10.0.1.1'}")),
			[]string{"spec.firewall.rules[0].source", "range cannot be part of a list"}},
		{"dest invalid", spec(containerHead, goodRefs, firewallRules("{type: out, action: DROP, dest: 10.0.0.256}")),
			[]string{"spec.firewall.rules[0].dest", "must be an IP address"}},
		{"comment on two lines", spec(templateHead, goodTemplate, firewallRules("{type: in, action: ACCEPT, comment: \"web\\nrm -rf /\"}")),
			[]string{"spec.firewall.rules[0].comment", "should match"}},
		{"comment with a trailing blank", spec(templateHead, goodTemplate, firewallRules("{type: in, action: ACCEPT, comment: 'web '}")),
			[]string{"spec.firewall.rules[0].comment", "should match"}},
		{"rule log level", spec(templateHead, goodTemplate, firewallRules("{type: in, action: ACCEPT, log: loud}")),
			[]string{"spec.firewall.rules[0].log", "Unsupported value"}},
		{"too many rules", spec(templateHead, goodTemplate, firewallRules(many...)),
			[]string{"spec.firewall.rules", "must have at most 64 items"}},
	}
	expectAllRefused(t, ctx, refused)
}

// TestFirewallAcceptedAndDefaulted: the forms Proxmox takes are admitted, and an unset switch
// and policies default to on and Proxmox's own policies.
func TestFirewallAcceptedAndDefaulted(t *testing.T) {
	ctx := controlPlane(t)
	obj := decode(t, spec(templateHead, goodTemplate, firewallRules(
		"{type: in, action: ACCEPT, macro: SSH, source: 10.0.0.0/8, comment: admins only, log: info}",
		"{type: in, action: ACCEPT, proto: tcp, dport: '80,443,8000:8100'}",
		"{type: in, action: REJECT, proto: '17', sport: '53', source: '192.168.1.10-192.168.1.20'}",
		"{type: in, action: ACCEPT, source: '10.0.0.1,10.0.0.2,10.1.0.0/16'}",
		"{type: in, action: ACCEPT, proto: icmp, source: 'fd00::/64,fd01::1'}",
		"{type: out, action: DROP, dest: dc/office, enable: false}",
		"{type: out, action: ACCEPT, dest: +trusted}",
	)))
	if err := env.Client.Create(ctx, obj, client.DryRunAll); err != nil {
		t.Fatalf("rejected: %v", err)
	}
	for field, want := range map[string]any{"enabled": true, "policyIn": "DROP", "policyOut": "ACCEPT"} {
		got, _, _ := unstructured.NestedFieldNoCopy(obj.Object, "spec", "firewall", field)
		if got != want {
			t.Errorf("spec.firewall.%s defaulted to %v, want %v", field, got, want)
		}
	}
	rules, _, _ := unstructured.NestedSlice(obj.Object, "spec", "firewall", "rules")
	if len(rules) != 7 || rules[0].(map[string]any)["enable"] != true || rules[5].(map[string]any)["enable"] != false {
		t.Errorf("rules as stored: %v", rules)
	}
}
