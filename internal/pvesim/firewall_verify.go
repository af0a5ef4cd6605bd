package pvesim

import (
	"regexp"
	"slices"
	"strconv"
	"strings"

	"templatemanager.dev/lxc-template-manager/internal/pvesim/schema"
)

var (
	ruleActionRE = regexp.MustCompile(`^(ACCEPT|DROP|REJECT)$`)
	groupNameRE  = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9\-_]+$`)
	netIfaceRE   = regexp.MustCompile(`^net(\d+)$`)
	ipsetNameRE  = regexp.MustCompile(`^\+(guest/|dc/|sdn/)?([A-Za-z][A-Za-z0-9\-_]+)$`)
	aliasNameRE  = regexp.MustCompile(`^(guest/|dc/)?([A-Za-z][A-Za-z0-9\-_]+)$`)
)

// verifyRule checks a container's rule as pve-firewall's verify_rule does for rule_env 'ct',
// failing with the first parameter error it finds, and records the IP version the rule's
// addresses or protocol imply. The simulated cluster defines no aliases or ipsets, so a rule
// naming one is refused. Macros are checked by name (and stored by PVE's spelling of it), not
// expanded: a macro's own protocol and ports are not compared with the rule's.
func verifyRule(rule map[string]string) error {
	delete(rule, "ipversion")
	if err := verifyRuleKind(rule); err != nil {
		return err
	}
	if m := rule["macro"]; m != "" {
		i := slices.IndexFunc(fwMacros, func(n string) bool { return strings.EqualFold(n, m) })
		if i < 0 {
			return paramErrorf("macro", "unknown macro '%s'", m)
		}
		rule["macro"] = fwMacros[i]
	}
	proto := rule["proto"]
	icmp := proto == "icmp" || proto == "icmpv6" || proto == "ipv6-icmp"
	version := 0
	if proto != "" {
		if !schema.KnownProtocol(proto) {
			return paramErrorf("proto", "unknown protocol '%s'", proto)
		}
		switch proto {
		case "icmp":
			version = 4
		case "icmpv6", "ipv6-icmp":
			version = 6
		}
	}
	for _, k := range []string{"dport", "icmp-type", "sport"} {
		if err := verifyRulePorts(rule, k, icmp); err != nil {
			return err
		}
	}
	for _, k := range []string{"source", "dest"} {
		v, err := verifyRuleAddress(rule[k], k, version)
		if err != nil {
			return err
		}
		version = v
	}
	if version != 0 {
		rule["ipversion"] = strconv.Itoa(version)
	}
	return nil
}

// verifyRuleKind checks type, action and iface.
func verifyRuleKind(rule map[string]string) error {
	typ, action := rule["type"], rule["action"]
	switch {
	case typ == "":
		return paramErrorf("type", "missing property")
	case action == "":
		return paramErrorf("action", "missing property")
	case typ != "in" && typ != "out" && typ != "group":
		return paramErrorf("type", "invalid rule type '%s' for rule_env 'ct'", typ)
	case typ == "group" && !groupNameRE.MatchString(action):
		return paramErrorf("action", "invalid characters in security group name")
	case typ != "group" && !ruleActionRE.MatchString(action):
		return paramErrorf("action", "unknown action '%s'", action)
	}
	if iface := rule["iface"]; iface != "" && !netIfaceRE.MatchString(iface) {
		return paramErrorf("iface", `value does not match the regex pattern 'net\d+'`)
	}
	return nil
}

// verifyRulePorts checks dport, sport or icmp-type against the rule's protocol.
func verifyRulePorts(rule map[string]string, key string, icmp bool) error {
	v, proto := rule[key], rule["proto"]
	if v == "" {
		return nil
	}
	if key == "icmp-type" {
		switch {
		case !icmp:
			return paramErrorf("proto", "missing property - 'icmp-type' requires this property")
		case rule["dport"] != "":
			return paramErrorf("icmp-type", "'icmp-type' cannot be specified together with 'dport'")
		}
		return nil
	}
	if _, err := schema.ParsePorts(v); err != nil {
		return paramErrorf(key, "%v", err)
	}
	switch {
	case proto == "":
		return paramErrorf("proto", "missing property - '%s' requires this property", key)
	case !schema.ProtocolHasPorts(proto) && !(key == "dport" && icmp):
		return paramErrorf(key, "protocol '%s' does not support ports", proto)
	}
	return nil
}

// verifyRuleAddress checks source or dest, given the IP version the rule has so far.
func verifyRuleAddress(v, key string, version int) (int, error) {
	if v == "" {
		return version, nil
	}
	got, err := schema.ParseAddressList(v)
	if err != nil {
		return 0, paramErrorf(key, "%v", err)
	}
	if got != 0 && version != 0 && got != version {
		return 0, paramErrorf(key, "detected mixed ipv4/ipv6 addresses in rule")
	}
	if got != 0 {
		version = got
	}
	switch {
	case strings.HasPrefix(v, "+"):
		if m := ipsetNameRE.FindStringSubmatch(v); m != nil {
			return 0, paramErrorf(key, "no such ipset '%s'", m[2])
		}
		return 0, paramErrorf(key, "invalid ipset name '%s'", v)
	case aliasNameRE.MatchString(v):
		return 0, paramErrorf(key, "no such alias '%s'", v)
	}
	return version, nil
}
