package discovery

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// Protocol is a transport protocol as ss names it.
type Protocol string

const (
	TCP Protocol = "tcp"
	UDP Protocol = "udp"
)

// Process is one entry of a socket's users:((…)) list.
type Process struct {
	Name string
	PID  int
	FD   int
}

// Socket is one listening socket.
type Socket struct {
	Protocol Protocol
	// State is LISTEN for TCP and UNCONN for UDP.
	State string
	// Address is the local address without brackets or zone; the unspecified address for a
	// wildcard listener ("0.0.0.0", "[::]", "*").
	Address netip.Addr
	// DualStack is set for "*", an IPv6 wildcard that also accepts IPv4.
	DualStack bool
	// Interface is the device the socket is bound to ("%eth0"), or empty.
	Interface string
	Port      uint16
	// Processes is empty when ss could not name the owner (a kernel socket, or no permission).
	Processes []Process
}

// Wildcard tells whether the socket listens on every address of its family.
func (s Socket) Wildcard() bool { return s.Address.IsUnspecified() }

// Loopback tells whether the socket can only be reached from inside the container.
func (s Socket) Loopback() bool { return s.Address.Unmap().IsLoopback() || s.Interface == "lo" }

// ReachableOver tells whether a client connecting to addr (an address of the container that is
// not loopback) can reach the socket.
func (s Socket) ReachableOver(addr netip.Addr) bool {
	if s.Loopback() || !addr.IsValid() {
		return false
	}
	addr = addr.Unmap()
	if s.Wildcard() {
		if s.Address.Is4() || s.Address.Is4In6() {
			return addr.Is4()
		}
		return s.DualStack || addr.Is6()
	}
	return s.Address.Unmap() == addr
}

// ParseSockets parses the output of `ss -Htlnup` (also -Htln, -Hlnup and other selections of
// TCP and UDP sockets without headers). It returns every line it understood; a line it did not
// understand is reported in the error (one errors.Join of *LineError) and skipped.
func ParseSockets(out string) ([]Socket, error) {
	var (
		sockets []Socket
		errs    []error
	)
	for i, line := range strings.Split(out, "\n") {
		line = strings.TrimRight(line, " \t\r")
		if strings.TrimSpace(line) == "" {
			continue
		}
		s, err := parseSocketLine(line)
		if err != nil {
			errs = append(errs, &LineError{Source: "ss", Line: i + 1, Err: err})
			continue
		}
		sockets = append(sockets, s)
	}
	return sockets, errors.Join(errs...)
}

// LineError locates a problem in parsed text. It never quotes the line: for credentials files
// the line may hold a secret.
type LineError struct {
	Source string
	Line   int
	Err    error
}

func (e *LineError) Error() string { return fmt.Sprintf("%s line %d: %v", e.Source, e.Line, e.Err) }
func (e *LineError) Unwrap() error { return e.Err }

// parseSocketLine reads "netid state recv-q send-q local peer [users:((…))]". Fields are
// separated by runs of blanks; the process part is the rest of the line, since a process name
// may contain blanks.
func parseSocketLine(line string) (Socket, error) {
	var s Socket
	fields, rest := splitFields(line, 6)
	if len(fields) < 6 {
		return s, fmt.Errorf("want at least 6 fields, got %d", len(fields))
	}
	switch Protocol(fields[0]) {
	case TCP, UDP:
		s.Protocol = Protocol(fields[0])
	default:
		return s, fmt.Errorf("netid %q is not tcp or udp", truncate(fields[0]))
	}
	s.State = fields[1]
	for _, q := range fields[2:4] {
		if _, err := strconv.ParseUint(q, 10, 64); err != nil {
			return s, fmt.Errorf("queue size %q is not a number", truncate(q))
		}
	}
	if err := parseLocal(fields[4], &s); err != nil {
		return s, err
	}
	if rest != "" {
		procs, err := parseUsers(rest)
		if err != nil {
			return s, err
		}
		s.Processes = procs
	}
	return s, nil
}

// splitFields returns the first n blank-separated fields and the rest of the line after them,
// with leading blanks removed.
func splitFields(line string, n int) ([]string, string) {
	var fields []string
	rest := line
	for len(fields) < n {
		rest = strings.TrimLeft(rest, " \t")
		if rest == "" {
			break
		}
		end := strings.IndexAny(rest, " \t")
		if end < 0 {
			end = len(rest)
		}
		fields = append(fields, rest[:end])
		rest = rest[end:]
	}
	return fields, strings.TrimLeft(rest, " \t")
}

// parseLocal reads ADDR[%IFACE]:PORT where ADDR is a dotted quad, a bracketed IPv6 address,
// "*", or (older ss) a bare IPv6 address.
func parseLocal(field string, s *Socket) error {
	colon := strings.LastIndexByte(field, ':')
	if colon < 0 {
		return fmt.Errorf("local address %q has no port", truncate(field))
	}
	host, port := field[:colon], field[colon+1:]
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return fmt.Errorf("local port %q is not a port number", truncate(port))
	}
	s.Port = uint16(p)
	// The device comes after the address: "[fe80::1]%eth0", "0.0.0.0%eth0", "*%eth0".
	zoneFrom := 0
	if strings.HasPrefix(host, "[") {
		end := strings.IndexByte(host, ']')
		if end < 0 {
			return fmt.Errorf("local address %q has an unclosed bracket", truncate(field))
		}
		zoneFrom = end
	}
	if i := strings.IndexByte(host[zoneFrom:], '%'); i >= 0 {
		s.Interface = host[zoneFrom+i+1:]
		host = host[:zoneFrom+i]
		if s.Interface == "" {
			return fmt.Errorf("local address %q has an empty device", truncate(field))
		}
	}
	switch {
	case host == "*":
		s.Address = netip.IPv6Unspecified()
		s.DualStack = true
		return nil
	case strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]"):
		host = host[1 : len(host)-1]
	}
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return fmt.Errorf("local address %q is not an IP address", truncate(host))
	}
	if addr.Zone() != "" {
		if s.Interface == "" {
			s.Interface = addr.Zone()
		}
		addr = addr.WithZone("")
	}
	s.Address = addr
	return nil
}

// parseUsers reads users:(("name",pid=1,fd=3),("name",pid=2,fd=3)). A process name is the
// kernel's comm and may contain any character but NUL, quotes and parentheses included, so each
// name ends at the `",pid=` that follows it rather than at the first quote. Anything after the
// closing parenthesis (columns of newer ss versions) is ignored.
func parseUsers(text string) ([]Process, error) {
	const prefix = "users:("
	if !strings.HasPrefix(text, prefix) {
		return nil, fmt.Errorf("process column does not start with %q", prefix)
	}
	rest := text[len(prefix):]
	var procs []Process
	for {
		if strings.HasPrefix(rest, ")") {
			return procs, nil
		}
		if len(procs) > 0 {
			if !strings.HasPrefix(rest, ",") {
				return nil, errors.New("process entries are not separated by commas")
			}
			rest = rest[1:]
		}
		if !strings.HasPrefix(rest, `("`) {
			return nil, errors.New(`process entry does not start with ("`)
		}
		rest = rest[2:]
		end := strings.Index(rest, `",pid=`)
		if end < 0 {
			return nil, errors.New("process entry has no pid")
		}
		p := Process{Name: rest[:end]}
		rest = rest[end+len(`",pid=`):]
		var err error
		if p.PID, rest, err = leadingInt(rest); err != nil {
			return nil, fmt.Errorf("process pid: %w", err)
		}
		if !strings.HasPrefix(rest, ",fd=") {
			return nil, errors.New("process entry has no fd")
		}
		if p.FD, rest, err = leadingInt(rest[len(",fd="):]); err != nil {
			return nil, fmt.Errorf("process fd: %w", err)
		}
		// Tolerate further key=value pairs inside an entry.
		close := strings.IndexByte(rest, ')')
		if close < 0 {
			return nil, errors.New("process entry is not closed")
		}
		rest = rest[close+1:]
		procs = append(procs, p)
	}
}

func leadingInt(s string) (int, string, error) {
	n := 0
	for n < len(s) && s[n] >= '0' && s[n] <= '9' {
		n++
	}
	if n == 0 || n > 9 {
		return 0, s, errors.New("not a number")
	}
	v, _ := strconv.Atoi(s[:n])
	return v, s[n:], nil
}

// truncate keeps error messages short when fed garbage.
func truncate(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}
