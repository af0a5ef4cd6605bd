package pvesim

import (
	"context"
	"crypto/rand"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"templatemanager.dev/lxc-template-manager/internal/pvesim/schema"
)

var (
	createSchema   = schema.Lookup("POST", "/nodes/{node}/lxc")
	netFormat      = createSchema.Property("net0").FormatProps
	rootfsFormat   = createSchema.Property("rootfs").FormatProps
	featuresFormat = createSchema.Property("features").FormatProps
)

// bridgeName is the one bridge every simulated node has; it stands for the simulator's bridge.
const bridgeName = "vmbr0"

// randomMAC draws an address with the BC:24:11 prefix Proxmox assigns.
func randomMAC() string {
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	return fmt.Sprintf("BC:24:11:%02X:%02X:%02X", b[0], b[1], b[2])
}

// canonicalNet is parse_lxc_network + print_lxc_network: type=veth, a fresh hwaddr when none
// is given, keys ordered as PVE writes them.
func canonicalNet(value string) (string, error) {
	net, err := schema.ParsePropertyString(netFormat, value)
	if err != nil {
		return "", err
	}
	net["type"] = "veth"
	if net["hwaddr"] == "" {
		net["hwaddr"] = randomMAC()
	}
	return schema.PrintPropertyString(netFormat, net), nil
}

// netIndexes lists the n of every net[n] in a config, in order.
func netIndexes(conf map[string]string) []int {
	var idx []int
	for k := range conf {
		if n, ok := strings.CutPrefix(k, "net"); ok {
			if i, err := strconv.Atoi(n); err == nil {
				idx = append(idx, i)
			}
		}
	}
	slices.Sort(idx)
	return idx
}

// networkSpecs parses the interfaces of conf and leases an address for each DHCP one.
func (s *Server) networkSpecs(ct *container, conf map[string]string) ([]NetworkSpec, error) {
	var out []NetworkSpec
	for _, i := range netIndexes(conf) {
		net, err := schema.ParsePropertyString(netFormat, conf[fmt.Sprintf("net%d", i)])
		if err != nil {
			return nil, fmt.Errorf("net%d: %w", i, err)
		}
		ns := NetworkSpec{Index: i, Name: net["name"], Bridge: net["bridge"], HWAddr: net["hwaddr"], HostManaged: net["host-managed"] == "1"}
		switch ip := net["ip"]; ip {
		case "dhcp":
			ns.DHCP = true
			lease, err := s.lease(ct, i)
			if err != nil {
				return nil, fmt.Errorf("net%d: %w", i, err)
			}
			ns.Lease = lease
			ns.Gateway = s.gateway
		case "", "manual":
		default:
			if p, err := netip.ParsePrefix(ip); err == nil {
				ns.Address = p
			}
		}
		if gw, err := netip.ParseAddr(net["gw"]); err == nil {
			ns.Gateway = gw
		}
		out = append(out, ns)
	}
	return out, nil
}

// lease returns the container's address for interface i, drawing the lowest free one of the
// subnet (after the gateway) the first time. Leases stay with the container until it is
// destroyed, so an interface keeps its address across restarts and config changes.
func (s *Server) lease(ct *container, i int) (netip.Prefix, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := strconv.Itoa(i)
	if p, err := netip.ParsePrefix(ct.Leases[key]); err == nil {
		return p, nil
	}
	used := map[netip.Addr]bool{s.gateway: true}
	for _, c := range s.containers {
		for _, l := range c.Leases {
			if p, err := netip.ParsePrefix(l); err == nil {
				used[p.Addr()] = true
			}
		}
		for _, n := range netIndexes(c.Conf) {
			if net, err := schema.ParsePropertyString(netFormat, c.Conf[fmt.Sprintf("net%d", n)]); err == nil {
				if p, err := netip.ParsePrefix(net["ip"]); err == nil {
					used[p.Addr()] = true
				}
			}
		}
	}
	subnet := s.opts.Subnet.Masked()
	for a := subnet.Addr().Next(); subnet.Contains(a); a = a.Next() {
		if used[a] || !subnet.Contains(a.Next()) { // the last address is the broadcast
			continue
		}
		p := netip.PrefixFrom(a, subnet.Bits())
		if ct.Leases == nil {
			ct.Leases = map[string]string{}
		}
		ct.Leases[key] = p.String()
		if err := s.store.saveContainer(ct); err != nil {
			return netip.Prefix{}, err
		}
		return p, nil
	}
	return netip.Prefix{}, fmt.Errorf("no free address left in %s", subnet)
}

// checkBridges fails like a PVE start does for a bridge the node does not have.
func checkBridges(nets []NetworkSpec) error {
	for _, n := range nets {
		if n.Bridge != "" && n.Bridge != bridgeName {
			return fmt.Errorf("bridge '%s' does not exist", n.Bridge)
		}
	}
	return nil
}

// RenewLease hands DHCP interface net of container vmid another address, as a DHCP server does
// when a lease expired and its address went to someone else. The guest's DHCP client of a
// running container takes the new address at once; a stopped one at its next start.
func (s *Server) RenewLease(ctx context.Context, vmid, net int) (netip.Prefix, error) {
	s.mu.Lock()
	ct, ok := s.containers[vmid]
	s.mu.Unlock()
	if !ok {
		return netip.Prefix{}, fmt.Errorf("container %d does not exist", vmid)
	}
	if err := ct.lock(ctx, s.opts.LockTimeout); err != nil {
		return netip.Prefix{}, err
	}
	defer ct.unlock()
	key := strconv.Itoa(net)
	s.mu.Lock()
	old, leased := ct.Leases[key]
	if leased {
		// The old address stays taken while the next one is drawn, so the lease really moves.
		ct.Leases["renewing"] = old
		delete(ct.Leases, key)
	}
	s.mu.Unlock()
	if !leased {
		return netip.Prefix{}, fmt.Errorf("net%d of container %d has no DHCP lease", net, vmid)
	}
	p, err := s.lease(ct, net)
	s.mu.Lock()
	delete(ct.Leases, "renewing")
	s.mu.Unlock()
	if err != nil {
		return netip.Prefix{}, err
	}
	if err := s.store.saveContainer(ct); err != nil {
		return netip.Prefix{}, err
	}
	spec, err := s.spec(ct)
	if err != nil {
		return netip.Prefix{}, err
	}
	if err := s.backend.Reconfigure(ctx, spec); err != nil {
		return netip.Prefix{}, err
	}
	s.log.Info("DHCP lease renewed", "vmid", vmid, "net", net, "old", old, "new", p)
	return p, nil
}
