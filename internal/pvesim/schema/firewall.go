package schema

import (
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"sync"
)

// The firewall formats of pve-firewall's Firewall.pm: pve-fw-addr-spec, pve-fw-dport-spec,
// pve-fw-sport-spec and pve-fw-protocol-spec. icmp-type names are not modelled (their format
// is accepted rather than guessed), nor are ICMP type names in a dport.
func init() {
	formats["pve-fw-addr-spec"] = func(s string) string { return errText(ParseAddressList(s)) }
	formats["pve-fw-dport-spec"] = func(s string) string { return errText(ParsePorts(s)) }
	formats["pve-fw-sport-spec"] = func(s string) string { return errText(ParsePorts(s)) }
	formats["pve-fw-protocol-spec"] = func(s string) string {
		if s != "" && !KnownProtocol(s) {
			return fmt.Sprintf("unknown protocol '%s'\n", s)
		}
		return ""
	}
}

func errText[T any](_ T, err error) string {
	if err != nil {
		return err.Error() + "\n"
	}
	return ""
}

// nodeProtocols stands for a node's /etc/protocols (Debian's netbase): the names and numbers
// pve-firewall's parse_protocol_file reads, the first name of each line only.
const nodeProtocols = `
ip 0
icmp 1
igmp 2
ggp 3
ipencap 4
st 5
tcp 6
egp 8
igp 9
pup 12
udp 17
hmp 20
xns-idp 22
rdp 27
iso-tp4 29
dccp 33
xtp 36
ddp 37
idpr-cmtp 38
ipv6 41
ipv6-route 43
ipv6-frag 44
idrp 45
rsvp 46
gre 47
esp 50
ah 51
skip 57
ipv6-icmp 58
ipv6-nonxt 59
ipv6-opts 60
rspf 73
vmtp 81
eigrp 88
ospf 89
ax.25 93
ipip 94
etherip 97
encap 98
pim 103
ipcomp 108
vrrp 112
l2tp 115
isis 124
sctp 132
fc 133
mobility-header 135
udplite 136
mpls-in-ip 137
manet 138
hip 139
shim6 140
wesp 141
rohc 142
ethernet 143
`

// nodeServices stands for the well-known names of a node's /etc/services that a port may be
// given by.
const nodeServices = `
ftp-data 20
ftp 21
ssh 22
telnet 23
smtp 25
domain 53
bootps 67
bootpc 68
tftp 69
http 80
kerberos 88
pop3 110
sunrpc 111
ntp 123
imap2 143
snmp 161
ldap 389
https 443
submissions 465
syslog 514
submission 587
ldaps 636
rsync 873
imaps 993
pop3s 995
openvpn 1194
mysql 3306
postgresql 5432
`

var (
	tablesOnce           sync.Once
	protoByName, protoID map[string]bool
	services             map[string]bool
)

func loadTables() {
	protoByName, protoID, services = map[string]bool{}, map[string]bool{}, map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(nodeProtocols), "\n") {
		name, id, _ := strings.Cut(line, " ")
		protoByName[name], protoID[id] = true, true
	}
	// get_etc_protocols adds icmpv6 beside ipv6-icmp.
	protoByName["icmpv6"] = true
	for _, line := range strings.Split(strings.TrimSpace(nodeServices), "\n") {
		name, _, _ := strings.Cut(line, " ")
		services[name] = true
	}
}

// KnownProtocol reports whether proto is a protocol name or number of /etc/protocols.
func KnownProtocol(proto string) bool {
	tablesOnce.Do(loadTables)
	return protoByName[proto] || protoID[proto]
}

// ProtocolHasPorts reports whether a rule of proto may name ports (PROTOCOLS_WITH_PORTS).
func ProtocolHasPorts(proto string) bool {
	switch proto {
	case "tcp", "6", "udp", "17", "udplite", "136", "dccp", "33", "sctp", "132":
		return true
	}
	return false
}

var (
	portRangeRE = regexp.MustCompile(`^([0-9]+):([0-9]+)$`)
	portRE      = regexp.MustCompile(`^[0-9]+$`)
)

// ParsePorts checks a port list as parse_port_name_number_or_range does and reports whether
// it is a list (more than one entry).
func ParsePorts(s string) (list bool, err error) {
	tablesOnce.Do(loadTables)
	items := strings.Split(s, ",")
	if strings.Join(items, ",") != s || hasEmpty(items) {
		return false, fmt.Errorf("extraneous commas in list")
	}
	count := 0
	for _, item := range items {
		if m := portRangeRE.FindStringSubmatch(item); m != nil {
			count += 2
			lo, _ := strconv.Atoi(m[1])
			hi, _ := strconv.Atoi(m[2])
			for _, p := range []string{m[1], m[2]} {
				if n, _ := strconv.Atoi(p); n > 65535 {
					return false, fmt.Errorf("invalid port '%s'", p)
				}
			}
			if lo > hi {
				return false, fmt.Errorf("backwards range '%d:%d' not allowed, did you mean '%d:%d'?", lo, hi, hi, lo)
			}
			continue
		}
		if portRE.MatchString(item) {
			count++
			if n, _ := strconv.Atoi(item); n > 65535 {
				return false, fmt.Errorf("invalid port '%s'", item)
			}
			continue
		}
		if !services[item] {
			return false, fmt.Errorf("invalid port '%s'", item)
		}
	}
	if count > 15 {
		return false, fmt.Errorf("too many entries in port list (> 15 numbers)")
	}
	return len(items) > 1, nil
}

// hasEmpty reports an empty entry (a list such as "22,,80" or "22,"), which pve-firewall
// refuses as extraneous commas.
func hasEmpty(items []string) bool {
	for _, it := range items {
		if it == "" {
			return true
		}
	}
	return false
}

var (
	ipsetRefRE = regexp.MustCompile(`^\+(\S+)$`)
	aliasRefRE = regexp.MustCompile(`^(dc/|guest/)?[A-Za-z][A-Za-z0-9\-_]+$`)
)

// ParseAddressList checks a source or dest value as parse_address_list does and returns its IP
// version, 0 for an ipset or alias reference. Each entry stands for what Net::IP accepts: an
// address, a network by its network address, or a range; Net::IP's own error texts are
// approximated.
func ParseAddressList(s string) (version int, err error) {
	if m := ipsetRefRE.FindStringSubmatch(s); m != nil {
		if len(s) > 65 {
			return 0, fmt.Errorf("ipset name too long")
		}
		return 0, nil
	}
	if aliasRefRE.MatchString(s) {
		if len(s) > 64 {
			return 0, fmt.Errorf("alias name too long")
		}
		return 0, nil
	}
	items := strings.Split(s, ",")
	if strings.Join(items, ",") != s || hasEmpty(items) {
		return 0, fmt.Errorf("extraneous commas in list")
	}
	ranges := 0
	for _, item := range items {
		v, isRange, err := ipVersion(item)
		if err != nil {
			return 0, fmt.Errorf("invalid IP address: %v", err)
		}
		if isRange {
			ranges++
		}
		if version != 0 && v != version {
			return 0, fmt.Errorf("detected mixed ipv4/ipv6 addresses in address list '%s'", s)
		}
		version = v
	}
	if ranges > 0 && len(items) > 1 {
		return 0, fmt.Errorf("you can't use a range in a list")
	}
	return version, nil
}

// ipVersion parses one entry of an address list.
func ipVersion(item string) (version int, isRange bool, err error) {
	family := func(a netip.Addr) int {
		if a.Is4() {
			return 4
		}
		return 6
	}
	if lo, hi, ok := strings.Cut(item, "-"); ok {
		a, err1 := netip.ParseAddr(strings.TrimSpace(lo))
		b, err2 := netip.ParseAddr(strings.TrimSpace(hi))
		if err1 != nil || err2 != nil || a.Zone() != "" || b.Zone() != "" || a.Is4() != b.Is4() || b.Less(a) {
			return 0, true, fmt.Errorf("Invalid IP range %s", item)
		}
		return family(a), true, nil
	}
	if strings.Contains(item, "/") {
		p, err := netip.ParsePrefix(item)
		if err != nil {
			return 0, false, fmt.Errorf("Invalid IP %s", item)
		}
		if p.Masked() != p {
			return 0, false, fmt.Errorf("Invalid prefix %s/%d", bits(p.Addr()), p.Bits())
		}
		return family(p.Addr()), false, nil
	}
	a, err := netip.ParseAddr(item)
	if err != nil || a.Zone() != "" {
		return 0, false, fmt.Errorf("Invalid IP %s", item)
	}
	return family(a), false, nil
}

// bits writes an address as Net::IP's binary string.
func bits(a netip.Addr) string {
	var b strings.Builder
	for _, by := range a.AsSlice() {
		fmt.Fprintf(&b, "%08b", by)
	}
	return b.String()
}
