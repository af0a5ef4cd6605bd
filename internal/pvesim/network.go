package pvesim

import (
	"slices"
	"strconv"
)

// bridgeEntry is vmbr0 as a node's network configuration shows it: a bridge without ports
// whose address is the container network's gateway.
func (s *Server) bridgeEntry() map[string]any {
	bits := s.opts.Subnet.Bits()
	return map[string]any{
		"iface": bridgeName, "type": "bridge", "method": "static", "method6": "manual",
		"address": s.gateway.String(), "netmask": strconv.Itoa(bits), "cidr": s.gateway.String() + "/" + strconv.Itoa(bits),
		"bridge_ports": "", "bridge_stp": "off", "bridge_fd": "0",
		"autostart": 1, "active": 1, "priority": 10, "families": []string{"inet"},
	}
}

func (s *Server) listNetworks(r *request) (any, error) {
	if !s.hasNode(r.params["node"]) {
		return nil, errNoNode(r.params["node"])
	}
	out := []map[string]any{}
	if typ := r.params["type"]; typ == "" || slices.Contains([]string{"bridge", "any_bridge", "any_local_bridge"}, typ) {
		out = append(out, s.bridgeEntry())
	}
	return out, nil
}

func (s *Server) network(r *request) (any, error) {
	if !s.hasNode(r.params["node"]) {
		return nil, errNoNode(r.params["node"])
	}
	if r.params["iface"] != bridgeName {
		return nil, paramErrorf("iface", "interface does not exist")
	}
	return s.bridgeEntry(), nil
}
