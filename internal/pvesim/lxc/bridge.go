package lxc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"os/exec"
	"regexp"
	"strings"
)

var linkLocal = netip.MustParsePrefix("169.254.0.0/16")

var bridgeName = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_.-]{0,14}$`)

// checkNetwork accepts only a link-local IPv4 subnet small enough to leave the host its own
// address, and a valid interface name.
func checkNetwork(bridge string, subnet netip.Prefix) error {
	if !bridgeName.MatchString(bridge) {
		return fmt.Errorf("bridge name %q is not a valid interface name of at most 15 characters", bridge)
	}
	if !subnet.IsValid() || !subnet.Addr().Is4() || subnet.Bits() < linkLocal.Bits() || subnet.Bits() > 30 ||
		!linkLocal.Contains(subnet.Addr()) {
		return fmt.Errorf("subnet %s is not a link-local IPv4 subnet (169.254.0.0/16, /16 to /30)", subnet)
	}
	return nil
}

// hostAddress is the bridge's own address: the first address of the subnet.
func hostAddress(subnet netip.Prefix) netip.Prefix {
	return netip.PrefixFrom(subnet.Masked().Addr().Next(), subnet.Bits())
}

type ipLink struct {
	IfName   string `json:"ifname"`
	Master   string `json:"master"`
	AddrInfo []struct {
		Family    string `json:"family"`
		Local     string `json:"local"`
		PrefixLen int    `json:"prefixlen"`
	} `json:"addr_info"`
}

func hostLinks(ctx context.Context) ([]ipLink, error) {
	out, err := run(ctx, nil, "ip", "-json", "addr", "show")
	if err != nil {
		return nil, err
	}
	var links []ipLink
	if err := json.Unmarshal(out, &links); err != nil {
		return nil, fmt.Errorf("parse ip addr: %w", err)
	}
	return links, nil
}

func linkExists(name string) bool {
	_, err := os.Stat("/sys/class/net/" + name)
	return err == nil
}

// setupBridge creates the simulator's bridge (or adopts the one a previous run left), gives
// the host its address and fences it off from every other network.
func (b *Backend) setupBridge(ctx context.Context) error {
	links, err := hostLinks(ctx)
	if err != nil {
		return err
	}
	for _, l := range links {
		if l.IfName == b.bridge {
			continue
		}
		for _, a := range l.AddrInfo {
			addr, err := netip.ParseAddr(a.Local)
			if err == nil && a.Family == "inet" &&
				netip.PrefixFrom(addr, a.PrefixLen).Masked().Overlaps(b.subnet) {
				return fmt.Errorf("subnet %s overlaps %s/%d on %s", b.subnet, addr, a.PrefixLen, l.IfName)
			}
		}
	}
	if !linkExists(b.bridge) {
		if _, err := run(ctx, nil, "ip", "link", "add", "name", b.bridge, "type", "bridge"); err != nil {
			return fmt.Errorf("create bridge: %w", err)
		}
	}
	if _, err := run(ctx, nil, "ip", "addr", "replace", hostAddress(b.subnet).String(), "dev", b.bridge); err != nil {
		return fmt.Errorf("address bridge: %w", err)
	}
	b.isolateBridge(ctx)
	if _, err := run(ctx, nil, "ip", "link", "set", b.bridge, "up"); err != nil {
		return fmt.Errorf("bring bridge up: %w", err)
	}
	return nil
}

// isolateBridge makes sure packets from containers never leave the bridge for another network,
// even on a host that forwards between its interfaces: forwarding is off on the bridge, and
// an nftables table drops anything routed into or out of it. There is no NAT.
func (b *Backend) isolateBridge(ctx context.Context) {
	for _, p := range []string{
		"/proc/sys/net/ipv4/conf/" + b.bridge + "/forwarding",
		"/proc/sys/net/ipv6/conf/" + b.bridge + "/forwarding",
	} {
		if err := os.WriteFile(p, []byte("0\n"), 0o644); err != nil && !errors.Is(err, fs.ErrNotExist) {
			b.log.Warn("Cannot turn off forwarding on the bridge", "file", p, "error", err)
		}
	}
	if _, err := exec.LookPath("nft"); err != nil {
		b.log.Warn("nft is missing; the bridge relies on forwarding being off", "bridge", b.bridge)
		return
	}
	t := b.nftTable()
	rules := fmt.Sprintf(`table inet %[1]s
delete table inet %[1]s
table inet %[1]s {
	chain forward {
		type filter hook forward priority -10; policy accept;
		iifname "%[2]s" oifname != "%[2]s" drop
		oifname "%[2]s" iifname != "%[2]s" drop
	}
}
`, t, b.bridge)
	if _, err := run(ctx, strings.NewReader(rules), "nft", "-f", "-"); err != nil {
		b.log.Warn("Cannot install the bridge's forwarding fence", "bridge", b.bridge, "error", err)
	}
}

func (b *Backend) nftTable() string {
	return "pvesim_" + strings.NewReplacer("-", "_", ".", "_").Replace(b.bridge)
}

func (b *Backend) hasFence(ctx context.Context) bool {
	_, err := run(ctx, nil, "nft", "list", "table", "inet", b.nftTable())
	return err == nil
}

// teardownBridge removes the bridge and its fence.
func (b *Backend) teardownBridge(ctx context.Context) error {
	var errs []error
	if _, err := exec.LookPath("nft"); err == nil && b.hasFence(ctx) {
		if _, err := run(ctx, nil, "nft", "delete", "table", "inet", b.nftTable()); err != nil {
			b.log.Warn("Cannot remove the bridge's forwarding fence", "error", err)
		}
	}
	if linkExists(b.bridge) {
		if _, err := run(ctx, nil, "ip", "link", "del", b.bridge); err != nil {
			errs = append(errs, fmt.Errorf("delete bridge: %w", err))
		}
	}
	return errors.Join(errs...)
}

// attachVeth puts a running container's host interface back into the bridge, for containers
// that kept running while no simulator owned the bridge.
func (b *Backend) attachVeth(ctx context.Context, veth string) error {
	if !linkExists(veth) {
		return nil
	}
	_, err := run(ctx, nil, "ip", "link", "set", veth, "master", b.bridge)
	return err
}
