package lxc

import (
	"fmt"
	"net"
	"regexp"

	"templatemanager.dev/lxc-template-manager/internal/pvesim"
)

var (
	// A DNS name as Proxmox accepts it for a container's hostname.
	dnsName = regexp.MustCompile(`^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?\.)*[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?$`)
	ifName  = regexp.MustCompile(`^[a-zA-Z0-9_.-]{1,15}$`)
	// A path written into an lxc.mount.entry line: absolute, without blanks or . and .. segments.
	entryPath = regexp.MustCompile(`^(/[^/\s\x00-\x1f]+)+$`)
	dotPath   = regexp.MustCompile(`/\.\.?(/|$)`)
)

// validateSpec rejects values that would not survive being written into the LXC
// configuration and the container's files verbatim. The API layer validates against the
// Proxmox schema already; this keeps the backend safe on its own.
func validateSpec(spec pvesim.ContainerSpec) error {
	if spec.VMID <= 0 {
		return fmt.Errorf("invalid vmid %d", spec.VMID)
	}
	if len(spec.Hostname) > 255 || !dnsName.MatchString(spec.Hostname) {
		return fmt.Errorf("invalid hostname %q", spec.Hostname)
	}
	seen := map[string]bool{}
	for _, n := range spec.Networks {
		if !ifName.MatchString(n.Name) || n.Name == "lo" || seen[n.Name] {
			return fmt.Errorf("net%d: invalid interface name %q", n.Index, n.Name)
		}
		seen[n.Name] = true
		if n.HWAddr != "" {
			if hw, err := net.ParseMAC(n.HWAddr); err != nil || len(hw) != 6 {
				return fmt.Errorf("net%d: invalid MAC address %q", n.Index, n.HWAddr)
			}
		}
		if n.Address.IsValid() && !n.Address.Addr().Is4() {
			return fmt.Errorf("net%d: only IPv4 addresses are supported, not %s", n.Index, n.Address)
		}
		if n.Gateway.IsValid() && !n.Gateway.Is4() {
			return fmt.Errorf("net%d: only IPv4 gateways are supported, not %s", n.Index, n.Gateway)
		}
	}
	for _, m := range spec.Mounts {
		if !entryPath.MatchString(m.Path) || dotPath.MatchString(m.Path) || (m.Bind && (!entryPath.MatchString(m.Volume) || dotPath.MatchString(m.Volume))) {
			return fmt.Errorf("%s: a path LXC cannot mount (%q at %q)", m.Key, m.Volume, m.Path)
		}
	}
	for _, d := range spec.Devices {
		if !entryPath.MatchString(d.Path) || dotPath.MatchString(d.Path) {
			return fmt.Errorf("%s: invalid device path %q", d.Key, d.Path)
		}
	}
	return nil
}
