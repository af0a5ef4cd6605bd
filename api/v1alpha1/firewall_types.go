package v1alpha1

// Firewall is the container's own Proxmox firewall (…/lxc/{vmid}/firewall): its switch, its
// default policies and its rules. Rules take effect only while the cluster's firewall is on
// too (/cluster/firewall/options), which is the cluster administrator's to decide.
type Firewall struct {
	// enabled switches the container's firewall on (its option enable=1 and firewall=1 on
	// net0) or off. Rules and policies are kept as the spec says either way. Default true.
	// +optional
	// +kubebuilder:default=true
	Enabled *bool `json:"enabled,omitempty"`

	// policyIn is what happens to incoming traffic no rule decides. Default DROP, as in Proxmox.
	// +optional
	// +kubebuilder:default=DROP
	PolicyIn FirewallAction `json:"policyIn,omitempty"`

	// policyOut is what happens to outgoing traffic no rule decides. Default ACCEPT, as in Proxmox.
	// +optional
	// +kubebuilder:default=ACCEPT
	PolicyOut FirewallAction `json:"policyOut,omitempty"`

	// logLevelIn logs incoming traffic the policy decides at this syslog level. Default nolog.
	// +optional
	LogLevelIn FirewallLogLevel `json:"logLevelIn,omitempty"`

	// logLevelOut logs outgoing traffic the policy decides at this syslog level. Default nolog.
	// +optional
	LogLevelOut FirewallLogLevel `json:"logLevelOut,omitempty"`

	// rules are the container's firewall rules, first match wins. Proxmox keeps them in this
	// order; a rule changed or removed in Proxmox is put back.
	// +optional
	// +kubebuilder:validation:MaxItems=64
	// +listType=atomic
	Rules []FirewallRule `json:"rules,omitempty"`
}

// FirewallAction is what a rule or a policy does with a packet.
// +kubebuilder:validation:Enum=ACCEPT;DROP;REJECT
type FirewallAction string

const (
	FirewallAccept FirewallAction = "ACCEPT"
	FirewallDrop   FirewallAction = "DROP"
	FirewallReject FirewallAction = "REJECT"
)

// FirewallDirection is the traffic a rule applies to: in (to the container) or out (from it).
// +kubebuilder:validation:Enum=in;out
type FirewallDirection string

const (
	FirewallIn  FirewallDirection = "in"
	FirewallOut FirewallDirection = "out"
)

// FirewallLogLevel is a syslog level, or nolog.
// +kubebuilder:validation:Enum=emerg;alert;crit;err;warning;notice;info;debug;nolog
type FirewallLogLevel string

// FirewallMacro is one of Proxmox's predefined rule macros (pve-firewall's Firewall.pm), by
// the name Proxmox stores.
// +kubebuilder:validation:Enum=Amanda;Auth;BGP;BitTorrent;BitTorrent32;Ceph;CVS;Citrix;DAAP;DCC;DHCPfwd;DHCPv6;DNS;Distcc;FTP;Finger;GNUnet;GRE;Git;HKP;HTTP;HTTPS;ICPV2;ICQ;IMAP;IMAPS;IPIP;IPsec;IPsecah;IPsecnat;IRC;Jetdirect;L2TP;LDAP;LDAPS;MDNS;MSNP;MSSQL;Mail;Munin;MySQL;NNTP;NNTPS;NTP;NeighborDiscovery;OSPF;OpenVPN;PCA;PMG;POP3;POP3S;PPtP;Ping;PostgreSQL;Printer;RDP;RIP;RNDC;Razor;Rdate;Rsync;SANE;SMB;SMBswat;SMTP;SMTPS;SNMP;SPAMD;SPICEproxy;SSH;SVN;SixXS;Squid;Submission;Syslog;TFTP;Telnet;Telnets;Time;Trcrt;VNC;VNCL;Web;Webcache;Webmin;Whois
type FirewallMacro string

// FirewallPorts are ports and port ranges, comma-separated, such as 22, 80,443 or 8000:8100:
// at most 15 ports, a range counting as two, as Proxmox allows. Service names are not taken:
// they depend on the node's /etc/services.
// +kubebuilder:validation:MinLength=1
// +kubebuilder:validation:MaxLength=96
// +kubebuilder:validation:XValidation:rule="self.matches('^(6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[0-9]{1,4})(:(6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[0-9]{1,4}))?(,(6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[0-9]{1,4})(:(6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[0-9]{1,4}))?){0,14}$')",message="must be ports from 0 to 65535 or ranges of them such as 8000:8100, comma-separated, at most 15"
// +kubebuilder:validation:XValidation:rule="!self.matches('^[0-9:,]+$') || self.split(',').all(p, !p.contains(':') || int(p.substring(0, p.indexOf(':'))) <= int(p.substring(p.indexOf(':') + 1)))",message="a port range runs from the lower port to the higher, as in 8000:8100"
// +kubebuilder:validation:XValidation:rule="self.split(',').size() + self.split(',').filter(p, p.contains(':')).size() <= 15",message="at most 15 ports, a range counting as two"
type FirewallPorts string

// FirewallAddress is an IP address, a network in CIDR notation by its network address, a
// range such as 10.0.0.10-10.0.0.20, or a comma-separated list of addresses and networks of
// one IP family; or the name of a Proxmox alias (optionally dc/ or guest/) or +ipset. Longer
// lists belong in a Proxmox ipset.
// +kubebuilder:validation:MinLength=1
// +kubebuilder:validation:MaxLength=192
// +kubebuilder:validation:XValidation:rule="self.matches('^([+](guest/|dc/|sdn/)?|dc/|guest/)?[A-Za-z][A-Za-z0-9_-]+$') || (self.matches('^[0-9A-Fa-f.:]+-[0-9A-Fa-f.:]+$') && isIP(self.substring(0, self.indexOf('-'))) && isIP(self.substring(self.indexOf('-') + 1))) || (!self.contains('-') && self.split(',').all(e, isIP(e) || isCIDR(e)))",message="must be an IP address, a network in CIDR notation, a range a-b, a comma-separated list of addresses and networks, an alias name or +ipset"
// +kubebuilder:validation:XValidation:rule="!isCIDR(self) || cidr(self) == cidr(self).masked()",message="a network is named by its network address, as in 10.0.0.0/24, not 10.0.0.5/24"
// +kubebuilder:validation:XValidation:rule="!(self.contains(',') && self.contains('-'))",message="a range cannot be part of a list"
// +kubebuilder:validation:XValidation:rule="!(self.contains(',') && self.contains(':') && self.matches('(^|,)[0-9]{1,3}[.]'))",message="a list must not mix IPv4 and IPv6 addresses"
type FirewallAddress string

// FirewallRule is one rule of a container's firewall.
// +kubebuilder:validation:XValidation:rule="!has(self.macro) || !(has(self.proto) || has(self.dport) || has(self.sport))",message="a macro brings its own protocol and ports: proto, dport and sport must not be set with it",fieldPath=".macro"
// +kubebuilder:validation:XValidation:rule="!has(self.dport) || (has(self.proto) && self.proto in ['tcp', 'udp', 'udplite', 'dccp', 'sctp', '6', '17', '136', '33', '132'])",message="dport needs proto tcp, udp, udplite, dccp or sctp",fieldPath=".dport"
// +kubebuilder:validation:XValidation:rule="!has(self.sport) || (has(self.proto) && self.proto in ['tcp', 'udp', 'udplite', 'dccp', 'sctp', '6', '17', '136', '33', '132'])",message="sport needs proto tcp, udp, udplite, dccp or sctp",fieldPath=".sport"
type FirewallRule struct {
	// type is in (traffic to the container) or out (traffic from it).
	// +required
	Type FirewallDirection `json:"type"`

	// action is ACCEPT, DROP or REJECT.
	// +required
	Action FirewallAction `json:"action"`

	// macro is one of Proxmox's predefined rules, such as SSH, HTTP or DNS, which sets the
	// protocol and ports.
	// +optional
	Macro FirewallMacro `json:"macro,omitempty"`

	// proto is the IP protocol: a name from /etc/protocols (tcp, udp, icmp, …) or its number.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:Pattern=`^([a-z][a-z0-9._+-]*|[0-9]{1,3})$`
	// +kubebuilder:validation:XValidation:rule="!self.matches('^[0-9]+$') || int(self) <= 255",message="a protocol number is at most 255"
	Proto string `json:"proto,omitempty"`

	// dport restricts the destination port: ports and ranges such as 22, 80,443 or 8000:8100.
	// +optional
	DPort FirewallPorts `json:"dport,omitempty"`

	// sport restricts the source port, as dport does.
	// +optional
	SPort FirewallPorts `json:"sport,omitempty"`

	// source restricts the packet's source address.
	// +optional
	Source FirewallAddress `json:"source,omitempty"`

	// dest restricts the packet's destination address.
	// +optional
	Dest FirewallAddress `json:"dest,omitempty"`

	// comment describes the rule in Proxmox: one line, without leading or trailing blanks.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=256
	// +kubebuilder:validation:Pattern=`^[^\s]([^\r\n]*[^\s])?$`
	Comment string `json:"comment,omitempty"`

	// enable switches the rule on; a disabled rule is kept in Proxmox but matches nothing.
	// Default true.
	// +optional
	// +kubebuilder:default=true
	Enable *bool `json:"enable,omitempty"`

	// log logs the packets the rule matches at this syslog level. Default nolog.
	// +optional
	Log FirewallLogLevel `json:"log,omitempty"`
}
