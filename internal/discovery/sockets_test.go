package discovery

import (
	"net/netip"
	"os"
	"reflect"
	"strings"
	"testing"
)

func procs(list ...Process) []Process { return list }

// TestParseSocketsCaptured parses `ss -Htlnup` as printed by iproute2 6.1 (Debian 12) on a
// host with listeners of every shape: IPv4, IPv6, dual-stack "*", v6-only "[::]", a device
// binding ("%eth0", "%lo"), a link-local address, a v4-mapped address, a socket shared by two
// processes, a socket without a process, and a process name with quotes and commas.
func TestParseSocketsCaptured(t *testing.T) {
	out, err := os.ReadFile("testdata/ss-host.txt")
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseSockets(string(out))
	if err != nil {
		t.Fatalf("ParseSockets: %v", err)
	}
	v4 := netip.MustParseAddr
	want := []Socket{
		{Protocol: UDP, State: "UNCONN", Address: v4("0.0.0.0"), Interface: "eth0", Port: 15368, Processes: procs(Process{"python3", 26783, 4}, Process{"python3", 26717, 4})},
		{Protocol: UDP, State: "UNCONN", Address: v4("0.0.0.0"), Port: 15353, Processes: procs(Process{"python3", 25791, 5})},
		{Protocol: UDP, State: "UNCONN", Address: v4("127.0.0.1"), Port: 15355, Processes: procs(Process{"python3", 25791, 7})},
		{Protocol: UDP, State: "UNCONN", Address: v4("::"), DualStack: true, Port: 15354, Processes: procs(Process{"python3", 25791, 6})},
		{Protocol: TCP, State: "LISTEN", Address: v4("0.0.0.0"), Port: 2024},
		{Protocol: TCP, State: "LISTEN", Address: v4("127.0.0.1"), Port: 25672, Processes: procs(Process{"beam.smp", 2956, 17})},
		{Protocol: TCP, State: "LISTEN", Address: v4("127.0.0.1"), Port: 6379, Processes: procs(Process{"redis-server", 2220, 6})},
		{Protocol: TCP, State: "LISTEN", Address: v4("127.0.0.1"), Interface: "lo", Port: 18082, Processes: procs(Process{"python3", 25791, 8})},
		{Protocol: TCP, State: "LISTEN", Address: v4("::1"), Port: 18083, Processes: procs(Process{"python3", 25791, 9})},
		{Protocol: TCP, State: "LISTEN", Address: v4("::"), Port: 18081, Processes: procs(Process{"python3", 25791, 4})},
		{Protocol: TCP, State: "LISTEN", Address: v4("::"), DualStack: true, Port: 18080, Processes: procs(Process{"python3", 25791, 3})},
		{Protocol: TCP, State: "LISTEN", Address: v4("::"), DualStack: true, Interface: "eth0", Port: 18092, Processes: procs(Process{"python3", 26783, 6}, Process{"python3", 26717, 6})},
		{Protocol: TCP, State: "LISTEN", Address: v4("fe80::fc:ff:fe00:1"), Interface: "eth0", Port: 18090, Processes: procs(Process{"python3", 26783, 3}, Process{"python3", 26717, 3})},
		{Protocol: TCP, State: "LISTEN", Address: v4("::ffff:127.0.0.1"), Port: 18091, Processes: procs(Process{"python3", 26783, 5}, Process{"python3", 26717, 5})},
		{Protocol: TCP, State: "LISTEN", Address: v4("127.0.0.1"), Port: 18099, Processes: procs(Process{`we"ird,pid=(x`, 19752, 3})},
	}
	if len(got) != len(want) {
		t.Fatalf("parsed %d sockets, want %d", len(got), len(want))
	}
	for i := range want {
		if !reflect.DeepEqual(got[i], want[i]) {
			t.Errorf("socket %d:\n got %+v\nwant %+v", i, got[i], want[i])
		}
	}
}

func TestParseSocketsShapes(t *testing.T) {
	for _, tc := range []struct {
		name string
		line string
		want Socket
	}{
		{
			name: "container sshd, iproute2 6.1",
			line: `tcp LISTEN 0      128    0.0.0.0:22 0.0.0.0:* users:(("sshd",pid=57,fd=3))`,
			want: Socket{Protocol: TCP, State: "LISTEN", Address: netip.MustParseAddr("0.0.0.0"), Port: 22, Processes: procs(Process{"sshd", 57, 3})},
		},
		{
			name: "process name with blanks",
			line: `tcp LISTEN 0 511 *:80 *:* users:(("nginx: master",pid=100,fd=6),("nginx: worker",pid=101,fd=6))`,
			want: Socket{Protocol: TCP, State: "LISTEN", Address: netip.IPv6Unspecified(), DualStack: true, Port: 80, Processes: procs(Process{"nginx: master", 100, 6}, Process{"nginx: worker", 101, 6})},
		},
		{
			name: "older ss without brackets",
			line: `tcp LISTEN 0 128 :::22 :::*`,
			want: Socket{Protocol: TCP, State: "LISTEN", Address: netip.IPv6Unspecified(), Port: 22},
		},
		{
			name: "extra columns after the process list",
			line: `udp UNCONN 0 0 127.0.0.53%lo:53 0.0.0.0:* users:(("systemd-resolve",pid=300,fd=13)) uid:991 ino:1234 sk:1`,
			want: Socket{Protocol: UDP, State: "UNCONN", Address: netip.MustParseAddr("127.0.0.53"), Interface: "lo", Port: 53, Processes: procs(Process{"systemd-resolve", 300, 13})},
		},
		{
			name: "tabs and trailing blanks",
			line: "tcp\tLISTEN\t0\t4096\t[::1]:5432\t[::]:*\t \r",
			want: Socket{Protocol: TCP, State: "LISTEN", Address: netip.MustParseAddr("::1"), Port: 5432},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseSockets(tc.line)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 1 || !reflect.DeepEqual(got[0], tc.want) {
				t.Errorf("got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestParseSocketsReportsBadLines(t *testing.T) {
	out := strings.Join([]string{
		`tcp LISTEN 0 128 0.0.0.0:22 0.0.0.0:* users:(("sshd",pid=57,fd=3))`,
		`raw UNCONN 0 0 0.0.0.0:1 0.0.0.0:*`,
		`tcp LISTEN 0 128 0.0.0.0 0.0.0.0:*`,
		`tcp LISTEN 0 128 0.0.0.0:99999 0.0.0.0:*`,
		`tcp LISTEN x 128 0.0.0.0:80 0.0.0.0:*`,
		`tcp LISTEN 0 128 [::1:80 [::]:*`,
		`tcp LISTEN 0 128 999.0.0.1:80 0.0.0.0:*`,
		`tcp LISTEN 0 128 0.0.0.0:80 0.0.0.0:* users:(("x",pid=,fd=3))`,
		`tcp LISTEN 0 128 0.0.0.0:80 0.0.0.0:* users:(("x",pid=1,fd=3)`,
		`tcp LISTEN 0 128 0.0.0.0:80 0.0.0.0:* something-else`,
		`tcp LISTEN 0 128`,
		``,
		`udp UNCONN 0 0 *:5353 *:* users:(("avahi-daemon",pid=9,fd=12))`,
	}, "\n")
	got, err := ParseSockets(out)
	if len(got) != 2 || got[0].Port != 22 || got[1].Port != 5353 {
		t.Errorf("kept %+v, want the two valid lines", got)
	}
	if err == nil {
		t.Fatal("no error for bad lines")
	}
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != 10 {
		t.Errorf("want one error per bad line (10), got %d:\n%v", len(lines), err)
	}
	if !strings.HasPrefix(lines[0], "ss line 2: ") {
		t.Errorf("error does not locate the line: %q", lines[0])
	}
}

func TestSocketReachability(t *testing.T) {
	addr4 := netip.MustParseAddr("169.254.10.5")
	addr6 := netip.MustParseAddr("fd00::5")
	parse := func(line string) Socket {
		t.Helper()
		s, err := ParseSockets(line)
		if err != nil || len(s) != 1 {
			t.Fatalf("%q: %v", line, err)
		}
		return s[0]
	}
	for _, tc := range []struct {
		local            string
		loopback, v4, v6 bool
	}{
		{"0.0.0.0:80", false, true, false},
		{"*:80", false, true, true},
		{"[::]:80", false, false, true},
		{"127.0.0.1:80", true, false, false},
		{"127.0.0.53%lo:53", true, false, false},
		{"[::1]:80", true, false, false},
		{"[::ffff:127.0.0.1]:80", true, false, false},
		{"169.254.10.5:80", false, true, false},
		{"[::ffff:169.254.10.5]:80", false, true, false},
		{"169.254.10.6:80", false, false, false},
		{"[fd00::5]:80", false, false, true},
	} {
		s := parse("tcp LISTEN 0 1 " + tc.local + " 0.0.0.0:*")
		if s.Loopback() != tc.loopback || s.ReachableOver(addr4) != tc.v4 || s.ReachableOver(addr6) != tc.v6 {
			t.Errorf("%s: loopback %v, over v4 %v, over v6 %v; want %v %v %v", tc.local,
				s.Loopback(), s.ReachableOver(addr4), s.ReachableOver(addr6), tc.loopback, tc.v4, tc.v6)
		}
	}
}

func FuzzParseSockets(f *testing.F) {
	if out, err := os.ReadFile("testdata/ss-host.txt"); err == nil {
		for _, line := range strings.Split(string(out), "\n") {
			f.Add(line)
		}
	}
	f.Add(`tcp LISTEN 0 511 *:80 *:* users:(("nginx: master",pid=100,fd=6),("nginx",pid=101,fd=6))`)
	f.Add(`tcp LISTEN 0 128 [fe80::1%eth0]:22 [::]:*`)
	f.Add(`udp UNCONN 0 0 0.0.0.0%:1 0.0.0.0:*`)
	f.Add(`tcp LISTEN 0 128 [::1]%:80 [::]:* users:(("",pid=0,fd=0),`)
	f.Fuzz(func(t *testing.T, out string) {
		sockets, _ := ParseSockets(out)
		for _, s := range sockets {
			if s.Protocol != TCP && s.Protocol != UDP {
				t.Fatalf("protocol %q", s.Protocol)
			}
			if !s.Address.IsValid() || s.Address.Zone() != "" {
				t.Fatalf("address %v", s.Address)
			}
			// Parsing the same line again gives the same socket.
			for _, p := range s.Processes {
				if p.PID < 0 || p.FD < 0 {
					t.Fatalf("process %+v", p)
				}
			}
			_ = s.ReachableOver(netip.MustParseAddr("169.254.1.1"))
		}
		if n := strings.Count(out, "\n") + 1; len(sockets) > n {
			t.Fatalf("%d sockets from %d lines", len(sockets), n)
		}
	})
}
