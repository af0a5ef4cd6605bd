package pvesim

import (
	"maps"
	"slices"
	"strconv"
	"strings"

	"templatemanager.dev/lxc-template-manager/internal/pvesim/schema"
)

// ruleKeys are the rule properties a rule keeps (pve-firewall's rule_properties without pos
// and digest, which copy_rule_data copies but the file never holds).
var ruleKeys = []string{"type", "action", "macro", "iface", "source", "dest", "proto", "dport", "sport", "icmp-type", "log", "comment", "enable"}

// fwMacros are pve-firewall's macro names as it stores them; a rule may name one in any case.
var fwMacros = strings.Fields(`Amanda Auth BGP BitTorrent BitTorrent32 Ceph CVS Citrix DAAP DCC DHCPfwd DHCPv6 DNS Distcc FTP
	Finger GNUnet GRE Git HKP HTTP HTTPS ICPV2 ICQ IMAP IMAPS IPIP IPsec IPsecah IPsecnat IRC Jetdirect L2TP LDAP LDAPS
	MDNS MSNP MSSQL Mail Munin MySQL NNTP NNTPS NTP NeighborDiscovery OSPF OpenVPN PCA PMG POP3 POP3S PPtP Ping PostgreSQL
	Printer RDP RIP RNDC Razor Rdate Rsync SANE SMB SMBswat SMTP SMTPS SNMP SPAMD SPICEproxy SSH SVN SixXS Squid
	Submission Syslog TFTP Telnet Telnets Time Trcrt VNC VNCL Web Webcache Webmin Whois`)

func posParam(r *request) int {
	n, _ := strconv.Atoi(r.params["pos"])
	return n
}

// rulesJSON is get_rules' answer: each rule with its position and the list's digest.
func rulesJSON(rules []map[string]string) []map[string]any {
	digest := sha1Lines(rules...)
	out := make([]map[string]any, 0, len(rules))
	for i, rule := range rules {
		e := map[string]any{"pos": i, "digest": digest}
		for k, v := range rule {
			e[k] = fwJSON(k, v)
		}
		out = append(out, e)
	}
	return out
}

func (s *Server) firewallRules(r *request) (any, error) {
	ct, err := s.target(r)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return rulesJSON(firewallOf(ct).Rules), nil
}

func (s *Server) firewallRule(r *request) (any, error) {
	ct, err := s.target(r)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	list := rulesJSON(firewallOf(ct).Rules)
	pos := posParam(r)
	if pos >= len(list) {
		return nil, pveError("no rule at position %d", pos)
	}
	return list[pos], nil
}

// createFirewallRule is create_rule: the new rule goes first (unshift), disabled unless
// enable is given; PVE checks no digest here, whatever the request says.
func (s *Server) createFirewallRule(r *request) (any, error) {
	ct, err := s.target(r)
	if err != nil {
		return nil, err
	}
	rule := copyRuleData(map[string]string{}, r.params)
	if _, ok := rule["enable"]; !ok {
		rule["enable"] = "0"
	}
	if err := verifyRule(rule); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	fw := firewallOf(ct)
	fw.Rules = append([]map[string]string{rule}, fw.Rules...)
	s.log.Info("Container firewall rule created", "vmid", ct.VMID, "user", r.user)
	return nil, s.store.saveContainer(ct)
}

// updateFirewallRule is update_rule: with moveto it only moves the rule (before the rule now
// at moveto, or last); otherwise it sets the given properties, deletes those named in
// delete, and verifies the result.
func (s *Server) updateFirewallRule(r *request) (any, error) {
	ct, err := s.target(r)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	fw := firewallOf(ct)
	if err := checkDigest(sha1Lines(fw.Rules...), r.params["digest"]); err != nil {
		return nil, err
	}
	pos := posParam(r)
	if pos >= len(fw.Rules) {
		return nil, pveError("no rule at position %d", pos)
	}
	rules := slices.Clone(fw.Rules)
	if to, err := strconv.Atoi(r.params["moveto"]); err == nil && to != pos {
		rules = moveRule(rules, pos, to)
	} else {
		rule := copyRuleData(maps.Clone(rules[pos]), r.params)
		for _, k := range schema.SplitList(r.params["delete"]) {
			switch {
			case k == "type" || k == "action":
				return nil, paramErrorf("delete", "unable to delete required property '%s'", k)
			case k != "pos" && k != "digest" && !slices.Contains(ruleKeys, k):
				return nil, paramErrorf("delete", "no such property ('%s')", k)
			}
			delete(rule, k)
		}
		if err := verifyRule(rule); err != nil {
			return nil, err
		}
		rules[pos] = rule
	}
	fw.Rules = rules
	s.log.Info("Container firewall rule updated", "vmid", ct.VMID, "pos", pos, "user", r.user)
	return nil, s.store.saveContainer(ct)
}

// moveRule takes the rule at pos out and puts it before the rule at to, or last.
func moveRule(rules []map[string]string, pos, to int) []map[string]string {
	rule := rules[pos]
	var out []map[string]string
	for i, r := range rules {
		if i == pos {
			continue
		}
		if i == to {
			out = append(out, rule)
		}
		out = append(out, r)
	}
	if to >= len(rules) {
		out = append(out, rule)
	}
	return out
}

// deleteFirewallRule is delete_rule: the rules after pos move up one.
func (s *Server) deleteFirewallRule(r *request) (any, error) {
	ct, err := s.target(r)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	fw := firewallOf(ct)
	if err := checkDigest(sha1Lines(fw.Rules...), r.params["digest"]); err != nil {
		return nil, err
	}
	pos := posParam(r)
	if pos >= len(fw.Rules) {
		return nil, pveError("no rule at position %d", pos)
	}
	fw.Rules = slices.Delete(slices.Clone(fw.Rules), pos, pos+1)
	s.log.Info("Container firewall rule deleted", "vmid", ct.VMID, "pos", pos, "user", r.user)
	return nil, s.store.saveContainer(ct)
}

// copyRuleData is copy_rule_data: a given property is set, or removed when given as "" or
// "-". The stored rule is what a reload of the file gives: type in lower case, enable as 0 or
// 1, the comment without surrounding blanks.
func copyRuleData(rule, params map[string]string) map[string]string {
	for _, k := range ruleKeys {
		v, ok := params[k]
		if !ok {
			continue
		}
		if k == "comment" {
			v = strings.TrimSpace(v)
		}
		if v == "" || v == "-" {
			delete(rule, k)
			continue
		}
		rule[k] = v
	}
	if e, ok := rule["enable"]; ok {
		if n, _ := strconv.Atoi(e); n > 0 {
			rule["enable"] = "1"
		} else {
			rule["enable"] = "0"
		}
	}
	return rule
}
