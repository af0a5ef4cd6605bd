package discovery

import (
	"fmt"
	"net"
	"net/netip"
	"sort"
	"strconv"
	"strings"
)

// Service is a listening port of the container with the unit behind it.
type Service struct {
	// Name is the unit without ".service"; for a process outside a service, the process name;
	// for a socket without a process, "<protocol>-<port>".
	Name     string
	Port     uint16
	Protocol Protocol
	// Address is the address the service is bound to: "0.0.0.0" or "::" for every address.
	Address string
	Process string
	PID     int
	// Unit is the systemd unit, e.g. "nginx.service", or empty when none was found.
	Unit string
	// URL reaches the service from outside: empty when it is bound to loopback only or to an
	// address family the container address does not have.
	URL string
	// LoopbackOnly is set when every socket of the service is bound to loopback: running, but
	// not reachable from outside the container.
	LoopbackOnly bool
}

// dhcpClientPorts are UDP ports that clients, not services, bind.
var dhcpClientPorts = map[uint16]bool{68: true, 546: true}

// Services builds the container's services from a snapshot: one per unit, port and protocol,
// whatever the number of sockets (IPv4 and IPv6, pre-forked workers). addr is the container's
// address, used for URLs; it may be invalid when unknown, leaving URLs empty.
func Services(snap *Snapshot, addr netip.Addr) []Service {
	type key struct {
		name  string
		port  uint16
		proto Protocol
	}
	groups := map[key][]Socket{}
	var order []key
	for _, s := range snap.Sockets {
		if s.Protocol == UDP && dhcpClientPorts[s.Port] {
			continue
		}
		k := key{port: s.Port, proto: s.Protocol}
		k.name, _, _ = identify(s, snap.UnitByPID)
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], s)
	}
	addr = addr.Unmap()
	var out []Service
	for _, k := range order {
		socks := groups[k]
		best := socks[0]
		for _, s := range socks[1:] {
			if rank(s, addr) > rank(best, addr) {
				best = s
			}
		}
		name, unit, proc := identify(best, snap.UnitByPID)
		svc := Service{
			Name: name, Port: k.port, Protocol: k.proto, Unit: unit,
			Process: proc.Name, PID: proc.PID,
			Address:      best.Address.String(),
			LoopbackOnly: best.Loopback(),
		}
		switch {
		case best.Loopback():
		case best.ReachableOver(addr):
			svc.URL = ServiceURL(addr, k.port, k.proto)
		case !best.Wildcard():
			svc.URL = ServiceURL(best.Address.Unmap(), k.port, k.proto)
		}
		out = append(out, svc)
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Port != b.Port {
			return a.Port < b.Port
		}
		if a.Protocol != b.Protocol {
			return a.Protocol < b.Protocol
		}
		return a.Name < b.Name
	})
	return out
}

// identify names the owner of a socket: the lowest pid that belongs to a service (the parent of
// pre-forked workers), else the lowest pid other than systemd's, which also holds the sockets of
// socket-activated services, else whatever process there is.
func identify(s Socket, unitByPID map[int]string) (name, unit string, proc Process) {
	best, found, bestScore := Process{}, false, -1
	for _, p := range s.Processes {
		score := 0
		switch {
		case strings.HasSuffix(unitByPID[p.PID], ".service"):
			score = 2
		case p.PID != 1:
			score = 1
		}
		if !found || score > bestScore || (score == bestScore && p.PID < best.PID) {
			best, found, bestScore = p, true, score
		}
	}
	if !found {
		return fmt.Sprintf("%s-%d", s.Protocol, s.Port), "", best
	}
	unit = unitByPID[best.PID]
	if svc, isService := strings.CutSuffix(unit, ".service"); isService && svc != "" {
		return svc, unit, best
	}
	if best.Name == "" {
		return fmt.Sprintf("%s-%d", s.Protocol, s.Port), unit, best
	}
	return best.Name, unit, best
}

// rank orders the sockets of one service by how well they represent it: reachable over the
// container address first, then any non-loopback, then loopback.
func rank(s Socket, addr netip.Addr) int {
	switch {
	case s.ReachableOver(addr):
		return 3
	case !s.Loopback() && !s.Wildcard():
		return 2
	case !s.Loopback():
		return 1
	}
	return 0
}

var (
	httpPorts  = map[uint16]bool{80: true, 3000: true, 5000: true, 8000: true, 8008: true, 8080: true, 8081: true, 8888: true}
	httpsPorts = map[uint16]bool{443: true, 8443: true, 9443: true}
)

// ServiceURL is how a client reaches a port at addr: http:// for the common web ports,
// https:// for 443, 8443 and 9443, otherwise tcp:// or udp://. IPv6 addresses are bracketed.
func ServiceURL(addr netip.Addr, port uint16, proto Protocol) string {
	if !addr.IsValid() {
		return ""
	}
	scheme := string(proto)
	if proto == TCP {
		switch {
		case httpPorts[port]:
			scheme = "http"
		case httpsPorts[port]:
			scheme = "https"
		}
	}
	return scheme + "://" + net.JoinHostPort(addr.Unmap().WithZone("").String(), strconv.Itoa(int(port)))
}

// Promise is a service a template promises.
type Promise struct {
	Name string
	// Port is the port it listens on; zero promises only a running unit of that name.
	Port uint16
	// Protocol is empty for TCP.
	Protocol Protocol
}

// Shortfall is a promise the container does not keep, and why.
type Shortfall struct {
	Promise Promise
	Reason  string
}

func (s Shortfall) String() string { return s.Promise.Name + ": " + s.Reason }

// CheckPromises returns the promises that the discovered services and running units do not
// keep. A port promise is kept by a service listening on that port and protocol reachable from
// outside (its name is a label); a port-less promise by a running unit of that name.
func CheckPromises(services []Service, running []Unit, promised []Promise) []Shortfall {
	var missing []Shortfall
	for _, p := range promised {
		proto := p.Protocol
		if proto == "" {
			proto = TCP
		}
		if p.Port == 0 {
			if !unitRunning(running, p.Name) {
				missing = append(missing, Shortfall{Promise: p, Reason: fmt.Sprintf("no running unit %s", unitName(p.Name))})
			}
			continue
		}
		kept, loopback := false, false
		for _, s := range services {
			if s.Port != p.Port || s.Protocol != proto {
				continue
			}
			if s.LoopbackOnly {
				loopback = true
				continue
			}
			kept = true
		}
		switch {
		case kept:
		case loopback:
			missing = append(missing, Shortfall{Promise: p, Reason: fmt.Sprintf("%s port %d listens on loopback only, unreachable from outside", proto, p.Port)})
		default:
			missing = append(missing, Shortfall{Promise: p, Reason: fmt.Sprintf("nothing listens on %s port %d", proto, p.Port)})
		}
	}
	return missing
}

func unitName(name string) string {
	if strings.Contains(name, ".") {
		return name
	}
	return name + ".service"
}

func unitRunning(running []Unit, name string) bool {
	want := unitName(name)
	for _, u := range running {
		if u.Name == want {
			return true
		}
	}
	return false
}
