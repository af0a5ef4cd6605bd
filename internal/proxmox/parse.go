package proxmox

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// UPID identifies a Proxmox task, e.g. "UPID:pve:0001E240:0ABCDEF0:65A1B2C3:vzcreate:100:root@pam!ctl:".
type UPID string

// UPIDParts are the fields encoded in a UPID.
type UPIDParts struct {
	Node      string
	PID       uint64
	PStart    uint64
	StartTime time.Time
	Type      string
	ID        string
	User      string
}

// upidPattern is pve-common's PVE::UPID decode pattern; the trailing colon is part of it.
var upidPattern = regexp.MustCompile(`^UPID:([a-zA-Z0-9]([a-zA-Z0-9\-]*[a-zA-Z0-9])?):([0-9A-Fa-f]{8}):([0-9A-Fa-f]{8,9}):([0-9A-Fa-f]{8}):([^:\s/]+):([^:\s/]*):([^:\s/]+):$`)

// Parse decodes the UPID.
func (u UPID) Parse() (UPIDParts, error) {
	m := upidPattern.FindStringSubmatch(string(u))
	if m == nil {
		return UPIDParts{}, fmt.Errorf("malformed task id %q", string(u))
	}
	pid, _ := strconv.ParseUint(m[3], 16, 64)
	pstart, _ := strconv.ParseUint(m[4], 16, 64)
	start, _ := strconv.ParseInt(m[5], 16, 64)
	return UPIDParts{
		Node: m[1], PID: pid, PStart: pstart, StartTime: time.Unix(start, 0).UTC(),
		Type: m[6], ID: m[7], User: m[8],
	}, nil
}

// tagPattern is pve-common's pve-tag format.
var tagPattern = regexp.MustCompile(`^(?i)[a-z0-9_][a-z0-9_\-+.]*$`)

// ValidTag reports whether Proxmox accepts tag.
func ValidTag(tag string) bool { return tagPattern.MatchString(tag) }

// ParseTags splits a tag list the way Proxmox does: on ';', ',' and white space.
func ParseTags(s string) []string {
	fields := strings.FieldsFunc(s, func(r rune) bool {
		return r == ';' || r == ',' || r == ' ' || r == '\t' || r == '\n'
	})
	if len(fields) == 0 {
		return nil
	}
	return fields
}

// FormatTags joins tags with ';' after checking each one.
func FormatTags(tags []string) (string, error) {
	for _, t := range tags {
		if !ValidTag(t) {
			return "", fmt.Errorf("invalid tag %q: must match %s", t, tagPattern.String())
		}
	}
	return strings.Join(tags, ";"), nil
}

// splitProperty splits a Proxmox property string "k=v,k2=v2" into its pairs. A leading value
// without '=' is returned under defaultKey (e.g. the volume of rootfs).
func splitProperty(s, defaultKey string) (map[string]string, error) {
	out := map[string]string{}
	if strings.TrimSpace(s) == "" {
		return out, nil
	}
	for i, part := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(part, "=")
		if !ok {
			if i == 0 && defaultKey != "" {
				out[defaultKey] = part
				continue
			}
			return nil, fmt.Errorf("malformed property %q: %q has no '='", s, part)
		}
		out[strings.TrimSpace(k)] = strings.TrimSpace(v)
	}
	return out, nil
}

func parseFlag(v string) bool {
	return v == "1" || strings.EqualFold(v, "true") || v == "yes" || v == "on"
}

// ParseNetConfig parses a net[n] property such as
// "name=eth0,bridge=vmbr0,hwaddr=BC:24:11:00:00:01,ip=dhcp,type=veth".
func ParseNetConfig(s string) (NetConfig, error) {
	kv, err := splitProperty(s, "")
	if err != nil {
		return NetConfig{}, err
	}
	n := NetConfig{}
	for k, v := range kv {
		switch k {
		case "name":
			n.Name = v
		case "bridge":
			n.Bridge = v
		case "hwaddr":
			n.HWAddr = v
		case "ip":
			n.IP = v
		case "gw":
			n.Gateway = v
		case "ip6":
			n.IP6 = v
		case "gw6":
			n.Gateway6 = v
		case "firewall":
			n.Firewall = parseFlag(v)
		case "link_down":
			n.LinkDown = parseFlag(v)
		case "mtu":
			if n.MTU, err = strconv.Atoi(v); err != nil {
				return NetConfig{}, fmt.Errorf("malformed mtu in %q", s)
			}
		case "tag":
			if n.Tag, err = strconv.Atoi(v); err != nil {
				return NetConfig{}, fmt.Errorf("malformed tag in %q", s)
			}
		case "rate":
			n.Rate = v
		case "type":
			n.Type = v
		default:
			if n.Extra == nil {
				n.Extra = map[string]string{}
			}
			n.Extra[k] = v
		}
	}
	if n.Name == "" {
		return NetConfig{}, fmt.Errorf("network %q has no name", s)
	}
	return n, nil
}

// String formats the property as Proxmox stores it: name first, then the other keys in
// alphabetical order.
func (n NetConfig) String() string {
	kv := map[string]string{}
	set := func(k, v string) {
		if v != "" {
			kv[k] = v
		}
	}
	set("bridge", n.Bridge)
	set("hwaddr", n.HWAddr)
	set("ip", n.IP)
	set("gw", n.Gateway)
	set("ip6", n.IP6)
	set("gw6", n.Gateway6)
	set("rate", n.Rate)
	set("type", n.Type)
	if n.Firewall {
		kv["firewall"] = "1"
	}
	if n.LinkDown {
		kv["link_down"] = "1"
	}
	if n.MTU > 0 {
		kv["mtu"] = strconv.Itoa(n.MTU)
	}
	if n.Tag > 0 {
		kv["tag"] = strconv.Itoa(n.Tag)
	}
	for k, v := range n.Extra {
		if _, known := kv[k]; !known {
			kv[k] = v
		}
	}
	parts := []string{"name=" + n.Name}
	for _, k := range sortedKeys(kv) {
		parts = append(parts, k+"="+kv[k])
	}
	return strings.Join(parts, ",")
}

// ParseFeatures parses the features property, e.g. "fuse=1,keyctl=1,nesting=1,mount=nfs;cifs".
func ParseFeatures(s string) (Features, error) {
	kv, err := splitProperty(s, "")
	if err != nil {
		return Features{}, err
	}
	var f Features
	for k, v := range kv {
		switch k {
		case "nesting":
			f.Nesting = parseFlag(v)
		case "keyctl":
			f.Keyctl = parseFlag(v)
		case "fuse":
			f.Fuse = parseFlag(v)
		case "mknod":
			f.Mknod = parseFlag(v)
		case "force_rw_sys":
			f.ForceRWSys = parseFlag(v)
		case "mount":
			f.Mount = nil
			for _, fs := range strings.Split(v, ";") {
				if fs = strings.TrimSpace(fs); fs != "" {
					f.Mount = append(f.Mount, fs)
				}
			}
		default:
			return Features{}, fmt.Errorf("unknown feature %q in %q", k, s)
		}
	}
	return f, nil
}

// String formats the enabled features in Proxmox's key order; empty when none is set.
func (f Features) String() string {
	var parts []string
	if f.ForceRWSys {
		parts = append(parts, "force_rw_sys=1")
	}
	if f.Fuse {
		parts = append(parts, "fuse=1")
	}
	if f.Keyctl {
		parts = append(parts, "keyctl=1")
	}
	if f.Mknod {
		parts = append(parts, "mknod=1")
	}
	if len(f.Mount) > 0 {
		parts = append(parts, "mount="+strings.Join(f.Mount, ";"))
	}
	if f.Nesting {
		parts = append(parts, "nesting=1")
	}
	return strings.Join(parts, ",")
}

// ParseRootFS parses the rootfs property, e.g. "local-lvm:vm-100-disk-0,size=8G".
func ParseRootFS(s string) (RootFS, error) {
	kv, err := splitProperty(s, "volume")
	if err != nil {
		return RootFS{}, err
	}
	r := RootFS{Volume: kv["volume"], Size: kv["size"]}
	delete(kv, "volume")
	delete(kv, "size")
	if len(kv) > 0 {
		r.Options = kv
	}
	if r.Size != "" {
		if r.SizeBytes, err = ParseDiskSize(r.Size); err != nil {
			return RootFS{}, err
		}
	}
	return r, nil
}

// diskSizePattern is pve-common's parse_size: a decimal number with an optional unit.
var diskSizePattern = regexp.MustCompile(`^([0-9]+(?:\.[0-9]+)?)([KMGTkmgt]?)$`)

// ParseDiskSize parses a Proxmox disk size such as "8G", "512M" or "1.5T" (bytes when no unit).
func ParseDiskSize(s string) (uint64, error) {
	m := diskSizePattern.FindStringSubmatch(strings.TrimSpace(s))
	if m == nil {
		return 0, fmt.Errorf("malformed disk size %q", s)
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		return 0, fmt.Errorf("malformed disk size %q", s)
	}
	switch strings.ToUpper(m[2]) {
	case "K":
		v *= 1 << 10
	case "M":
		v *= 1 << 20
	case "G":
		v *= 1 << 30
	case "T":
		v *= 1 << 40
	}
	if v >= 1<<64 {
		return 0, fmt.Errorf("disk size %q is too large", s)
	}
	return uint64(v), nil
}

var (
	netKey = regexp.MustCompile(`^net(\d+)$`)
	mpKey  = regexp.MustCompile(`^mp(\d+)$`)
	devKey = regexp.MustCompile(`^dev(\d+)$`)
)

// parseContainerConfig turns the config object Proxmox returns into a ContainerConfig.
func parseContainerConfig(raw map[string]json.RawMessage) (ContainerConfig, error) {
	cfg := ContainerConfig{Raw: make(map[string]string, len(raw))}
	for k, v := range raw {
		s, ok := jsonText(v)
		if ok {
			cfg.Raw[k] = s
		}
	}
	var err error
	atoi := func(key string) int {
		s, ok := cfg.Raw[key]
		if !ok || err != nil {
			return 0
		}
		n, perr := strconv.Atoi(s)
		if perr != nil {
			err = fmt.Errorf("config %s: malformed integer %q", key, s)
		}
		return n
	}
	cfg.Hostname = cfg.Raw["hostname"]
	cfg.Description = cfg.Raw["description"]
	cfg.Tags = ParseTags(cfg.Raw["tags"])
	cfg.Cores = atoi("cores")
	cfg.MemoryMiB = atoi("memory")
	cfg.SwapMiB = atoi("swap")
	cfg.Unprivileged = parseFlag(cfg.Raw["unprivileged"])
	cfg.OnBoot = parseFlag(cfg.Raw["onboot"])
	cfg.Template = parseFlag(cfg.Raw["template"])
	cfg.Lock = cfg.Raw["lock"]
	cfg.Digest = cfg.Raw["digest"]
	cfg.OSType = cfg.Raw["ostype"]
	cfg.Arch = cfg.Raw["arch"]
	cfg.SearchDomain = cfg.Raw["searchdomain"]
	cfg.Nameservers = strings.Fields(cfg.Raw["nameserver"])
	if err != nil {
		return ContainerConfig{}, err
	}
	if s, ok := cfg.Raw["rootfs"]; ok {
		if cfg.RootFS, err = ParseRootFS(s); err != nil {
			return ContainerConfig{}, fmt.Errorf("config rootfs: %w", err)
		}
	}
	if s, ok := cfg.Raw["features"]; ok {
		if cfg.Features, err = ParseFeatures(s); err != nil {
			return ContainerConfig{}, fmt.Errorf("config features: %w", err)
		}
	}
	for k, s := range cfg.Raw {
		if m := mpKey.FindStringSubmatch(k); m != nil {
			idx, _ := strconv.Atoi(m[1])
			mp, err := ParseRootFS(s)
			if err != nil {
				return ContainerConfig{}, fmt.Errorf("config %s: %w", k, err)
			}
			if cfg.MountPoints == nil {
				cfg.MountPoints = map[int]RootFS{}
			}
			cfg.MountPoints[idx] = mp
			continue
		}
		m := netKey.FindStringSubmatch(k)
		if m == nil {
			continue
		}
		idx, _ := strconv.Atoi(m[1])
		n, err := ParseNetConfig(s)
		if err != nil {
			return ContainerConfig{}, fmt.Errorf("config %s: %w", k, err)
		}
		if cfg.Nets == nil {
			cfg.Nets = map[int]NetConfig{}
		}
		cfg.Nets[idx] = n
	}
	return cfg, nil
}

// jsonText renders a JSON scalar as Proxmox's config text: strings as is, numbers in decimal,
// booleans as 1/0. Arrays and objects (the raw "lxc" list) come back as JSON; null is absent.
func jsonText(v json.RawMessage) (string, bool) {
	v = bytes.TrimSpace(v)
	if len(v) == 0 || string(v) == "null" {
		return "", false
	}
	switch v[0] {
	case '"':
		var s string
		if json.Unmarshal(v, &s) != nil {
			return "", false
		}
		return s, true
	case 't':
		return "1", true
	case 'f':
		return "0", true
	}
	return string(v), true
}

// rawInterface is one entry of GET …/lxc/{vmid}/interfaces. Older Proxmox versions give only
// inet/inet6; newer ones add ip-addresses.
type rawInterface struct {
	Name        string `json:"name"`
	HWAddr      string `json:"hwaddr"`
	HardwareAdr string `json:"hardware-address"`
	Inet        string `json:"inet"`
	Inet6       string `json:"inet6"`
	IPAddresses []struct {
		Address string  `json:"ip-address"`
		Type    string  `json:"ip-address-type"`
		Prefix  flexNum `json:"prefix"`
	} `json:"ip-addresses"`
}

func parseInterfaces(raw []rawInterface) ([]Interface, error) {
	out := make([]Interface, 0, len(raw))
	for _, r := range raw {
		ifc := Interface{Name: r.Name, HWAddr: r.HWAddr}
		if ifc.HWAddr == "" {
			ifc.HWAddr = r.HardwareAdr
		}
		add := func(p netip.Prefix) {
			if !slices.Contains(ifc.Addresses, p) {
				ifc.Addresses = append(ifc.Addresses, p)
			}
		}
		for _, a := range r.IPAddresses {
			if a.Address == "" {
				continue
			}
			addr, err := netip.ParseAddr(a.Address)
			if err != nil {
				return nil, fmt.Errorf("interface %s: malformed address %q", r.Name, a.Address)
			}
			addr = addr.WithZone("")
			bits := int(a.Prefix)
			if bits <= 0 {
				bits = addr.BitLen()
			}
			p := netip.PrefixFrom(addr, bits)
			if !p.IsValid() {
				return nil, fmt.Errorf("interface %s: malformed prefix %v", r.Name, a.Prefix)
			}
			add(p)
		}
		for _, field := range []string{r.Inet, r.Inet6} {
			for _, s := range strings.FieldsFunc(field, func(r rune) bool { return r == ',' || r == ' ' }) {
				p, err := parseAddressWithPrefix(s)
				if err != nil {
					return nil, fmt.Errorf("interface %s: %w", r.Name, err)
				}
				add(p)
			}
		}
		out = append(out, ifc)
	}
	return out, nil
}

func parseAddressWithPrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("malformed address %q", s)
		}
		return p, nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("malformed address %q", s)
	}
	a = a.WithZone("")
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// FirstIPv4 returns the first IPv4 address of a container's interfaces other than loopback.
func FirstIPv4(ifaces []Interface) (netip.Addr, bool) {
	for _, i := range ifaces {
		if i.Name == "lo" {
			continue
		}
		for _, p := range i.IPv4() {
			if !p.Addr().IsLoopback() {
				return p.Addr(), true
			}
		}
	}
	return netip.Addr{}, false
}

// flexNum decodes a JSON number that Proxmox may also send as a string, empty or null.
type flexNum float64

func (n *flexNum) UnmarshalJSON(b []byte) error {
	s, ok := jsonText(b)
	if !ok || s == "" {
		*n = 0
		return nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return fmt.Errorf("malformed number %s", string(b))
	}
	*n = flexNum(f)
	return nil
}

// flexBool decodes a boolean sent as true/false, 1/0 or "1"/"0".
type flexBool bool

func (v *flexBool) UnmarshalJSON(b []byte) error {
	s, _ := jsonText(b)
	*v = flexBool(parseFlag(s))
	return nil
}

// flexString decodes a string that may arrive as a number.
type flexString string

func (v *flexString) UnmarshalJSON(b []byte) error {
	s, _ := jsonText(b)
	*v = flexString(s)
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
