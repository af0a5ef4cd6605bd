package schema

import (
	"fmt"
	"net/netip"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
)

// formats holds the named formats of pve-common (JSONSchema.pm), pve-container, pve-storage and
// pve-access-control that the served methods use. Each returns PVE's die text or "".
var formats = map[string]func(string) string{
	"pve-node":             matchOr(`^([a-zA-Z0-9]([a-zA-Z0-9\-]*[a-zA-Z0-9])?)$`, "value does not look like a valid node name"),
	"pve-vmid":             matchOr(`^[1-9][0-9]{2,8}$`, "value does not look like a valid VM ID"),
	"pve-storage-id":       func(s string) string { return verifyID(s, "storage") },
	"pve-configid":         func(s string) string { return matchOrf(configIDRE, s, "invalid configuration ID '%s'") },
	"dns-name":             matchOr(dnsNameRE, "value does not look like a valid DNS name"),
	"pve-tag":              matchOr(`(?i)^[a-z0-9_][a-z0-9_\-\+\.]*$`, "invalid characters in tag"),
	"mac-addr":             matchOr(`(?i)^[a-f0-9][02468ace](?::[a-f0-9]{2}){5}$`, "value does not look like a valid unicast MAC address"),
	"ipv4":                 ipOr(isIPv4, "value does not look like a valid IPv4 address"),
	"ipv6":                 ipOr(isIPv6, "value does not look like a valid IPv6 address"),
	"ip":                   ipOr(func(s string) bool { return isIPv4(s) || isIPv6(s) }, "value does not look like a valid IP address"),
	"pve-ipv4-config":      ipOr(func(s string) bool { return s == "dhcp" || s == "manual" || isCIDRv4(s) }, "value does not look like a valid ipv4 network configuration"),
	"pve-ipv6-config":      ipOr(func(s string) bool { return s == "auto" || s == "dhcp" || s == "manual" || isCIDRv6(s) }, "value does not look like a valid ipv6 network configuration"),
	"disk-size":            verifyDiskSize,
	"pve-lxc-mp-string":    verifyMountPointString,
	"pve-lxc-dev-string":   verifyDevString,
	"pve-volume-id":        verifyVolumeID,
	"lxc-ip-with-ll-iface": verifyIPWithLinkLocalIface,
	"pve-poolid":           verifyPoolName,
	"pve-startup-order":    verifyStartupOrder,
	"pve-ct-timezone":      verifyCTTimezone,
	"pve-storage-content":  verifyStorageContent,
	"pve-task-status-type": func(s string) string { return matchOrf(taskStatusRE, s, "invalid status '%s'") },
	"pve-realm":            func(s string) string { return matchOrf(realmRE, s, "realm '%s' contains illegal characters") },
	"pve-iface":            verifyIface,
	"storage-pair":         verifyStoragePair,
	// pve-ha-manager's pve_verify_ha_resource_or_vm_id (src/PVE/HA/Tools.pm)
	"pve-ha-resource-or-vm-id": matchOr(`^([a-z]+:\S+|\d+)$`, "value does not look like a valid ha resource id"),
	// pve_verify_ha_resource_id and pve_verify_ha_node (src/PVE/HA/Tools.pm), listed in rules
	"pve-ha-resource-id": matchOr(`^[a-z]+:\S+$`, "value does not look like a valid ha resource id"),
	"pve-ha-node":        matchOr(`^([a-zA-Z0-9]([a-zA-Z0-9\-]*[a-zA-Z0-9])?)(:\d+)?$`, "value does not look like a valid ha node"),
}

// propertyFormats are registered formats that are property strings; the schema names them
// where it inlines others.
var propertyFormats = map[string]map[string]*Property{
	"prune-backups": pruneBackupsFormat(),
}

// pruneBackupsFormat is pve-storage Plugin.pm's prune_backups_format.
func pruneBackupsFormat() map[string]*Property {
	zero := 0.0
	f := map[string]*Property{"keep-all": {Type: "boolean", Optional: true}}
	for _, k := range []string{"keep-last", "keep-hourly", "keep-daily", "keep-weekly", "keep-monthly", "keep-yearly"} {
		f[k] = &Property{Type: "integer", Optional: true, Minimum: &zero}
	}
	return f
}

var (
	taskStatusRE = regexp.MustCompile(`(?i)^(ok|error|warning|unknown)$`)
	realmRE      = regexp.MustCompile(`^[A-Za-z][A-Za-z\d\.\-_]+$`)
	idRE         = regexp.MustCompile(`(?i)^[a-z][a-z0-9\-\_\.]*[a-z0-9]$`)
	poolRE       = regexp.MustCompile(`^[A-Za-z0-9\.\-_]+(?:/[A-Za-z0-9\.\-_]+){0,2}$`)
)

// verifyStoragePair is pve-common's verify_storagepair: one entry of a storage map, either
// "source:target", a lone default "target", or "1" for the identity mapping.
func verifyStoragePair(s string) string {
	if s == "1" {
		return ""
	}
	for _, id := range strings.Split(s, ":") {
		if !configIDRE.MatchString(id) || strings.Count(s, ":") > 1 {
			return fmt.Sprintf("unable to parse storage id pair '%s'", s) + "\n"
		}
	}
	return ""
}

var ifaceRE = regexp.MustCompile(`(?i)^[a-z][a-z0-9_]{1,20}([:\.]\d+)?$`)

func verifyIface(s string) string { return matchOrf(ifaceRE, s, "invalid network interface name '%s'") }

const dnsNameRE = `^(([a-zA-Z0-9]([a-zA-Z0-9\-]*[a-zA-Z0-9])?)\.)*([a-zA-Z0-9]([a-zA-Z0-9\-]*[a-zA-Z0-9])?)$`

var configIDRE = regexp.MustCompile(`(?i)^[a-z][a-z0-9_-]+$`)

func matchOr(pattern, msg string) func(string) string {
	re := regexp.MustCompile(pattern)
	return func(s string) string {
		if re.MatchString(s) {
			return ""
		}
		return msg + "\n"
	}
}

func matchOrf(re *regexp.Regexp, s, format string) string {
	if re.MatchString(s) {
		return ""
	}
	return fmt.Sprintf(format, s) + "\n"
}

func ipOr(ok func(string) bool, msg string) func(string) string {
	return func(s string) string {
		if ok(s) {
			return ""
		}
		return msg + "\n"
	}
}

var ipv4RE = regexp.MustCompile(`^(?:(?:25[0-5]|(?:2[0-4]|1[0-9]|[1-9])?[0-9])\.){3}(?:25[0-5]|(?:2[0-4]|1[0-9]|[1-9])?[0-9])$`)

func isIPv4(s string) bool { return ipv4RE.MatchString(s) }

func isIPv6(s string) bool {
	a, err := netip.ParseAddr(s)
	return err == nil && a.Is6() && a.Zone() == "" && strings.Contains(s, ":")
}

func isCIDRv4(s string) bool {
	addr, bits, ok := strings.Cut(s, "/")
	if !ok || !isIPv4(addr) {
		return false
	}
	n, err := strconv.Atoi(bits)
	return err == nil && n > 7 && n <= 32
}

func isCIDRv6(s string) bool {
	addr, bits, ok := strings.Cut(s, "/")
	if !ok || !isIPv6(addr) {
		return false
	}
	n, err := strconv.Atoi(bits)
	return err == nil && n > 7 && n <= 128
}

func verifyID(id, kind string) string {
	if len(id) < 2 {
		return fmt.Sprintf("%s ID '%s' cannot be shorter than 2 characters\n", kind, id)
	}
	if !idRE.MatchString(id) {
		return fmt.Sprintf("%s ID '%s' contains illegal characters\n", kind, id)
	}
	return ""
}

var diskSizeRE = regexp.MustCompile(`^(\d+(\.\d+)?)([KMGT](?:iB)?)?$`)

func verifyDiskSize(s string) string {
	if diskSizeRE.MatchString(s) {
		return ""
	}
	return "value does not look like a valid disk size: " + s + "\n"
}

// ParseSize converts a disk size such as 8G or 512M into bytes (PVE::JSONSchema::parse_size).
func ParseSize(s string) (int64, bool) {
	m := diskSizeRE.FindStringSubmatch(s)
	if m == nil {
		return 0, false
	}
	f, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		return 0, false
	}
	switch strings.TrimSuffix(m[3], "iB") {
	case "K":
		f *= 1 << 10
	case "M":
		f *= 1 << 20
	case "G":
		f *= 1 << 30
	case "T":
		f *= 1 << 40
	}
	return int64(f), true
}

// FormatSize renders bytes the way PVE writes a size= option (PVE::JSONSchema::format_size).
func FormatSize(size int64) string {
	kb := size / 1024
	if kb*1024 != size {
		return strconv.FormatInt(size, 10)
	}
	mb := kb / 1024
	if mb*1024 != kb {
		return strconv.FormatInt(kb, 10) + "K"
	}
	gb := mb / 1024
	if gb*1024 != mb {
		return strconv.FormatInt(mb, 10) + "M"
	}
	tb := gb / 1024
	if tb*1024 != gb {
		return strconv.FormatInt(gb, 10) + "G"
	}
	return strconv.FormatInt(tb, 10) + "T"
}

var (
	mpIllegal1 = regexp.MustCompile(`/\.\.?/`)
	mpIllegal2 = regexp.MustCompile(`/\.\.?$`)
	devIllegal = regexp.MustCompile(`/\.\.?(?:/|$)`)
)

func verifyMountPointString(s string) string {
	if mpIllegal1.MatchString(s) || mpIllegal2.MatchString(s) || strings.HasPrefix(s, "../") {
		return s + " contains illegal character sequences\n"
	}
	return ""
}

func verifyDevString(s string) string {
	if devIllegal.MatchString(s) || !strings.HasPrefix(s, "/dev/") {
		return s + " is not a valid device path\n"
	}
	return ""
}

var volumeIDRE = regexp.MustCompile(`(?i)^([a-z][a-z0-9\-\_\.]*[a-z0-9]):(.+)$`)

func verifyVolumeID(s string) string {
	if volumeIDRE.MatchString(s) {
		return ""
	}
	return "unable to parse volume ID '" + s + "'\n"
}

// ParseVolumeID splits a volume id such as local:vztmpl/x.tar.zst into storage and volume name.
func ParseVolumeID(s string) (storage, name string, ok bool) {
	m := volumeIDRE.FindStringSubmatch(s)
	if m == nil {
		return "", "", false
	}
	return m[1], m[2], true
}

func verifyIPWithLinkLocalIface(s string) string {
	if addr, iface, ok := strings.Cut(s, "%"); ok && strings.HasPrefix(addr, "fe80:") {
		if isIPv6(addr) && verifyIface(iface) == "" {
			return ""
		}
	}
	if isIPv4(s) || isIPv6(s) {
		return ""
	}
	return "value does not look like a valid IP address\n"
}

func verifyPoolName(s string) string {
	if len(strings.Split(s, "/")) > 3 {
		return fmt.Sprintf("pool name '%s' nested too deeply (max levels = 3)\n", s)
	}
	if !poolRE.MatchString(s) {
		return fmt.Sprintf("pool name '%s' contains invalid characters\n", s)
	}
	return ""
}

var startupPartRE = regexp.MustCompile(`^(?:(order=)?\d+|up=\d+|down=\d+)$`)

func verifyStartupOrder(s string) string {
	ok := s != ""
	for _, p := range strings.Split(s, ",") {
		if strings.TrimSpace(p) == "" {
			continue
		}
		if !startupPartRE.MatchString(p) {
			ok = false
		}
	}
	if ok {
		return ""
	}
	return "unable to parse startup options\n"
}

var (
	zonesOnce sync.Once
	zones     map[string]bool
)

func verifyCTTimezone(s string) string {
	if s == "host" || s == "UTC" {
		return ""
	}
	zonesOnce.Do(func() {
		zones = map[string]bool{}
		data, err := os.ReadFile("/usr/share/zoneinfo/zone.tab")
		if err != nil {
			return
		}
		for _, line := range strings.Split(string(data), "\n") {
			if strings.HasPrefix(strings.TrimSpace(line), "#") {
				continue
			}
			if f := strings.Split(line, "\t"); len(f) > 2 {
				zones[f[2]] = true
			}
		}
	})
	if zones[s] {
		return ""
	}
	return "invalid time zone '" + s + "'\n"
}

// storageContent lists the content types a directory storage knows (pve-storage Plugin.pm).
var storageContent = map[string]bool{
	"images": true, "rootdir": true, "vztmpl": true, "iso": true, "backup": true, "snippets": true, "import": true,
}

func verifyStorageContent(s string) string {
	if storageContent[s] {
		return ""
	}
	return "invalid content type '" + s + "'\n"
}
