package discovery

import (
	"net/netip"
	"strings"
	"testing"
)

func TestServiceURL(t *testing.T) {
	v4 := netip.MustParseAddr("169.254.20.3")
	v6 := netip.MustParseAddr("fd00::20:3")
	for _, tc := range []struct {
		addr  netip.Addr
		port  uint16
		proto Protocol
		want  string
	}{
		{v4, 80, TCP, "http://169.254.20.3:80"},
		{v4, 8080, TCP, "http://169.254.20.3:8080"},
		{v4, 8000, TCP, "http://169.254.20.3:8000"},
		{v4, 3000, TCP, "http://169.254.20.3:3000"},
		{v4, 443, TCP, "https://169.254.20.3:443"},
		{v4, 8443, TCP, "https://169.254.20.3:8443"},
		{v4, 5432, TCP, "tcp://169.254.20.3:5432"},
		{v4, 53, UDP, "udp://169.254.20.3:53"},
		{v4, 80, UDP, "udp://169.254.20.3:80"},
		{v6, 80, TCP, "http://[fd00::20:3]:80"},
		{v6, 22, TCP, "tcp://[fd00::20:3]:22"},
		{netip.MustParseAddr("fe80::1%eth0"), 443, TCP, "https://[fe80::1]:443"},
		{netip.MustParseAddr("::ffff:169.254.20.3"), 80, TCP, "http://169.254.20.3:80"},
		{netip.Addr{}, 80, TCP, ""},
	} {
		if got := ServiceURL(tc.addr, tc.port, tc.proto); got != tc.want {
			t.Errorf("ServiceURL(%v, %d, %s) = %q, want %q", tc.addr, tc.port, tc.proto, got, tc.want)
		}
	}
}

func snapshotOf(t *testing.T, ss string, units map[int]string) *Snapshot {
	t.Helper()
	sockets, err := ParseSockets(ss)
	if err != nil {
		t.Fatal(err)
	}
	return &Snapshot{Sockets: sockets, UnitByPID: units}
}

func TestServices(t *testing.T) {
	ss := strings.Join([]string{
		`tcp LISTEN 0 511 0.0.0.0:80 0.0.0.0:* users:(("nginx",pid=201,fd=6),("nginx",pid=200,fd=6))`,
		`tcp LISTEN 0 511 [::]:80 [::]:* users:(("nginx",pid=201,fd=7),("nginx",pid=200,fd=7))`,
		`tcp LISTEN 0 128 0.0.0.0:22 0.0.0.0:* users:(("sshd",pid=57,fd=3))`,
		`tcp LISTEN 0 128 [::]:22 [::]:* users:(("sshd",pid=57,fd=4))`,
		`tcp LISTEN 0 244 127.0.0.1:5432 0.0.0.0:* users:(("postgres",pid=300,fd=5))`,
		`tcp LISTEN 0 244 [::1]:5432 [::]:* users:(("postgres",pid=300,fd=6))`,
		`tcp LISTEN 0 4096 169.254.20.3:9100 0.0.0.0:* users:(("node_exporter",pid=400,fd=3))`,
		`tcp LISTEN 0 4096 169.254.99.1:9200 0.0.0.0:* users:(("search",pid=450,fd=3))`,
		`tcp LISTEN 0 4096 *:8443 *:* users:(("caddy",pid=500,fd=9))`,
		`udp UNCONN 0 0 0.0.0.0%eth0:68 0.0.0.0:* users:(("dhclient",pid=90,fd=7))`,
		`udp UNCONN 0 0 *:5353 *:* users:(("avahi-daemon",pid=600,fd=12))`,
		`tcp LISTEN 0 128 0.0.0.0:7000 0.0.0.0:* users:(("python3",pid=700,fd=3))`,
		`tcp LISTEN 0 64 0.0.0.0:2049 0.0.0.0:*`,
		`tcp LISTEN 0 4096 0.0.0.0:111 0.0.0.0:* users:(("systemd",pid=1,fd=40))`,
		`tcp LISTEN 0 4096 0.0.0.0:6000 0.0.0.0:* users:(("systemd",pid=1,fd=41),("activated",pid=800,fd=3))`,
	}, "\n")
	snap := snapshotOf(t, ss, map[int]string{
		200: "nginx.service", 201: "nginx.service", 57: "ssh.service",
		300: "postgresql@15-main.service", 400: "prometheus-node-exporter.service",
		450: "search.service", 500: "caddy.service", 90: "networking.service", 600: "avahi-daemon.service",
		700: "session-4.scope", 1: "init.scope", 800: "activated.service",
	})
	got := Services(snap, netip.MustParseAddr("169.254.20.3"))
	want := []Service{
		{Name: "ssh", Port: 22, Protocol: TCP, Address: "0.0.0.0", Process: "sshd", PID: 57, Unit: "ssh.service", URL: "tcp://169.254.20.3:22"},
		{Name: "nginx", Port: 80, Protocol: TCP, Address: "0.0.0.0", Process: "nginx", PID: 200, Unit: "nginx.service", URL: "http://169.254.20.3:80"},
		{Name: "systemd", Port: 111, Protocol: TCP, Address: "0.0.0.0", Process: "systemd", PID: 1, Unit: "init.scope", URL: "tcp://169.254.20.3:111"},
		{Name: "tcp-2049", Port: 2049, Protocol: TCP, Address: "0.0.0.0", URL: "tcp://169.254.20.3:2049"},
		{Name: "avahi-daemon", Port: 5353, Protocol: UDP, Address: "::", Process: "avahi-daemon", PID: 600, Unit: "avahi-daemon.service", URL: "udp://169.254.20.3:5353"},
		{Name: "postgresql@15-main", Port: 5432, Protocol: TCP, Address: "127.0.0.1", Process: "postgres", PID: 300, Unit: "postgresql@15-main.service", LoopbackOnly: true},
		{Name: "activated", Port: 6000, Protocol: TCP, Address: "0.0.0.0", Process: "activated", PID: 800, Unit: "activated.service", URL: "tcp://169.254.20.3:6000"},
		{Name: "python3", Port: 7000, Protocol: TCP, Address: "0.0.0.0", Process: "python3", PID: 700, Unit: "session-4.scope", URL: "tcp://169.254.20.3:7000"},
		{Name: "caddy", Port: 8443, Protocol: TCP, Address: "::", Process: "caddy", PID: 500, Unit: "caddy.service", URL: "https://169.254.20.3:8443"},
		{Name: "prometheus-node-exporter", Port: 9100, Protocol: TCP, Address: "169.254.20.3", Process: "node_exporter", PID: 400, Unit: "prometheus-node-exporter.service", URL: "tcp://169.254.20.3:9100"},
		{Name: "search", Port: 9200, Protocol: TCP, Address: "169.254.99.1", Process: "search", PID: 450, Unit: "search.service", URL: "tcp://169.254.99.1:9200"},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d services:\n%+v", len(got), got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("service %d:\n got %+v\nwant %+v", i, got[i], want[i])
		}
	}
}

func TestServicesOverIPv6(t *testing.T) {
	ss := strings.Join([]string{
		`tcp LISTEN 0 511 0.0.0.0:80 0.0.0.0:* users:(("nginx",pid=200,fd=6))`,
		`tcp LISTEN 0 511 [::]:80 [::]:* users:(("nginx",pid=200,fd=7))`,
		`tcp LISTEN 0 511 0.0.0.0:81 0.0.0.0:* users:(("v4only",pid=300,fd=6))`,
	}, "\n")
	snap := snapshotOf(t, ss, map[int]string{200: "nginx.service", 300: "v4only.service"})
	got := Services(snap, netip.MustParseAddr("fd00::7"))
	if len(got) != 2 {
		t.Fatalf("services %+v", got)
	}
	if got[0].URL != "http://[fd00::7]:80" || got[0].Address != "::" {
		t.Errorf("nginx over IPv6: %+v", got[0])
	}
	// Listening on IPv4 only: running and not loopback, but no URL for an IPv6 container address.
	if got[1].URL != "" || got[1].LoopbackOnly {
		t.Errorf("v4-only service over IPv6: %+v", got[1])
	}
	// With no known address there are no URLs at all.
	for _, s := range Services(snap, netip.Addr{}) {
		if s.URL != "" {
			t.Errorf("URL %q without an address", s.URL)
		}
	}
}

func TestCheckPromises(t *testing.T) {
	services := []Service{
		{Name: "nginx", Port: 80, Protocol: TCP, URL: "http://x:80"},
		{Name: "postgresql", Port: 5432, Protocol: TCP, LoopbackOnly: true},
		{Name: "dns", Port: 53, Protocol: UDP, URL: "udp://x:53"},
	}
	running := []Unit{{Name: "nginx.service"}, {Name: "worker.service"}, {Name: "postgresql.service"}}
	promised := []Promise{
		{Name: "web", Port: 80},                    // kept; the name is a label
		{Name: "db", Port: 5432},                   // loopback only
		{Name: "dns", Port: 53, Protocol: UDP},     // kept
		{Name: "dns-tcp", Port: 53, Protocol: TCP}, // wrong protocol
		{Name: "api", Port: 8080},                  // nothing there
		{Name: "worker"},                           // kept by a running unit
		{Name: "cron"},                             // not running
		{Name: "postgresql.service", Port: 0},      // unit name given whole
		{Name: "ghost.service", Protocol: TCP},     // not running
	}
	got := CheckPromises(services, running, promised)
	want := []string{
		"db: tcp port 5432 listens on loopback only, unreachable from outside",
		"dns-tcp: nothing listens on tcp port 53",
		"api: nothing listens on tcp port 8080",
		"cron: no running unit cron.service",
		"ghost.service: no running unit ghost.service",
	}
	if len(got) != len(want) {
		t.Fatalf("shortfalls %v", got)
	}
	for i := range want {
		if got[i].String() != want[i] {
			t.Errorf("shortfall %d: %q, want %q", i, got[i].String(), want[i])
		}
	}
}
