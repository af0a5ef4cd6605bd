package lxc

import (
	"io"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"templatemanager.dev/lxc-template-manager/internal/pvesim"
	"templatemanager.dev/lxc-template-manager/internal/testkit"
)

func TestRenderInterfaces(t *testing.T) {
	got := renderInterfaces([]pvesim.NetworkSpec{
		{Index: 0, Name: "eth0", Address: netip.MustParsePrefix("169.254.5.10/24"), Gateway: netip.MustParseAddr("169.254.5.1")},
		{Index: 1, Name: "eth1", DHCP: true},
		{Index: 2, Name: "eth2"},
	})
	want := `auto lo
iface lo inet loopback

auto eth0
iface eth0 inet static
	address 169.254.5.10/24
	gateway 169.254.5.1

auto eth1
iface eth1 inet dhcp

auto eth2
iface eth2 inet manual
`
	if got != want {
		t.Errorf("interfaces:\n%s\nwant:\n%s", got, want)
	}
}

func TestRenderHosts(t *testing.T) {
	template := "127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost ip6-loopback\n"
	first := renderHosts(template, "web.example.test")
	want := template + "# --- BEGIN PVE ---\n127.0.1.1 web.example.test web\n# --- END PVE ---\n"
	if first != want {
		t.Fatalf("hosts:\n%s\nwant:\n%s", first, want)
	}
	// Renaming replaces the section instead of adding another.
	second := renderHosts(first, "db")
	if strings.Count(second, "BEGIN PVE") != 1 || !strings.Contains(second, "127.0.1.1 db\n") || strings.Contains(second, "web") {
		t.Errorf("hosts after rename:\n%s", second)
	}
	if renderHostname("web.example.test") != "web\n" {
		t.Errorf("hostname file = %q", renderHostname("web.example.test"))
	}
}

func TestCPUSet(t *testing.T) {
	for _, tc := range []struct {
		vmid, cores, ncpu int
		want              string
	}{
		{100, 1, 4, "0"},
		{101, 1, 4, "1"},
		{103, 2, 4, "0,3"},
		{100, 4, 4, ""},
		{100, 0, 4, ""},
		{100, 8, 2, ""},
	} {
		if got := cpuSet(tc.vmid, tc.cores, tc.ncpu); got != tc.want {
			t.Errorf("cpuSet(%d, %d, %d) = %q, want %q", tc.vmid, tc.cores, tc.ncpu, got, tc.want)
		}
	}
}

func TestLimitsOrder(t *testing.T) {
	l := cgroupLayout{memoryV1: true, memswV1: true, cpusetV1: true}
	got := l.limits(pvesim.ContainerSpec{VMID: 100, MemoryMiB: 512, SwapMiB: 256})
	if len(got) < 2 || got[0].key != "memory.limit_in_bytes" || got[0].value != "536870912" ||
		got[1].key != "memory.memsw.limit_in_bytes" || got[1].value != "805306368" {
		t.Errorf("v1 limits = %+v; want memory before memory+swap", got)
	}
	v2 := cgroupLayout{memoryV2: true, swapV2: true}
	got = v2.limits(pvesim.ContainerSpec{VMID: 100, MemoryMiB: 512, SwapMiB: 256})
	if len(got) != 2 || got[0].configKey() != "lxc.cgroup2.memory.max" || got[1].value != "268435456" {
		t.Errorf("v2 limits = %+v", got)
	}
}

func TestHostVeth(t *testing.T) {
	a := hostVeth("vmbr-a", 100, 0)
	if len(a) > 15 || !strings.HasPrefix(a, "veth") {
		t.Errorf("veth name %q is not a valid interface name", a)
	}
	if a != hostVeth("vmbr-a", 100, 0) {
		t.Error("veth name is not stable")
	}
	if a == hostVeth("vmbr-b", 100, 0) || a == hostVeth("vmbr-a", 100, 1) || a == hostVeth("vmbr-a", 101, 0) {
		t.Error("veth names collide")
	}
}

func TestCheckNetwork(t *testing.T) {
	for _, tc := range []struct {
		bridge, subnet string
		ok             bool
	}{
		{"pvesim0", "169.254.10.0/24", true},
		{"pvesim0", "169.254.0.0/16", true},
		{"pvesim0", "10.0.0.0/24", false},
		{"pvesim0", "192.168.1.0/24", false},
		{"pvesim0", "169.254.10.0/31", false},
		{"pvesim0", "fe80::/64", false},
		{"a-bridge-name-too-long", "169.254.10.0/24", false},
		{"bad name", "169.254.10.0/24", false},
	} {
		p, _ := netip.ParsePrefix(tc.subnet)
		if err := checkNetwork(tc.bridge, p); (err == nil) != tc.ok {
			t.Errorf("checkNetwork(%q, %s) = %v, want ok=%v", tc.bridge, tc.subnet, err, tc.ok)
		}
	}
	if got := hostAddress(netip.MustParsePrefix("169.254.7.0/24")); got.String() != "169.254.7.1/24" {
		t.Errorf("host address = %s", got)
	}
}

func TestParseInterfaces(t *testing.T) {
	out := `[{"ifindex":1,"ifname":"lo","address":"00:00:00:00:00:00","addr_info":[{"family":"inet","local":"127.0.0.1","prefixlen":8},{"family":"inet6","local":"::1","prefixlen":128}]},
{"ifindex":2,"ifname":"eth0","address":"bc:24:11:00:00:03","addr_info":[{"family":"inet","local":"169.254.77.50","prefixlen":24,"dynamic":true},{"family":"inet6","local":"fe80::be24:11ff:fe00:3","prefixlen":64}]}]`
	got, err := parseInterfaces([]byte(out))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[1].Name != "eth0" || got[1].HWAddr != "bc:24:11:00:00:03" ||
		len(got[1].Addresses) != 2 || got[1].Addresses[0] != netip.MustParsePrefix("169.254.77.50/24") {
		t.Errorf("interfaces = %+v", got)
	}
}

func TestHasRange(t *testing.T) {
	f := filepath.Join(t.TempDir(), "subuid")
	if err := os.WriteFile(f, []byte("alice:165536:65536\nroot:100000:65536\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if ok, err := hasRange(f, "root", 100000, 65536); err != nil || !ok {
		t.Errorf("root range not found: %v %v", ok, err)
	}
	if ok, _ := hasRange(f, "root", 100000, 65537); ok {
		t.Error("a range larger than granted was accepted")
	}
	if ok, _ := hasRange(f, "alice", 100000, 65536); ok {
		t.Error("another user's range was accepted")
	}
}

func TestPruneLeases(t *testing.T) {
	d := newDHCPServer(t.TempDir(), "br", netip.MustParsePrefix("169.254.9.0/24"), slog.New(slog.NewTextHandler(io.Discard, nil)))
	d.hosts = map[string]netip.Addr{"bc:24:11:00:00:01": netip.MustParseAddr("169.254.9.10")}
	leases := "1 bc:24:11:00:00:01 169.254.9.10 ct1 *\n1 bc:24:11:00:00:02 169.254.9.10 old *\n1 bc:24:11:00:00:01 169.254.9.11 ct1 *\n"
	if err := os.WriteFile(d.path("leases"), []byte(leases), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := d.pruneLeases(); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(d.path("leases"))
	if string(got) != "1 bc:24:11:00:00:01 169.254.9.10 ct1 *\n" {
		t.Errorf("leases after prune:\n%s", got)
	}
	if !strings.Contains(d.config(), "dhcp-range=169.254.9.0,static,255.255.255.0") || !strings.Contains(d.config(), "port=0") {
		t.Errorf("dnsmasq config:\n%s", d.config())
	}
}

// TestGrantSearch lets one uid through a private directory and nobody else.
func TestGrantSearch(t *testing.T) {
	testkit.RequireRoot(t, "acts as another uid")
	private := filepath.Join(t.TempDir(), "private")
	if err := os.MkdirAll(filepath.Join(private, "inner"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Dir(private), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(private, "inner", "file"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	canRead := func(uid uint32) bool {
		cmd := exec.Command("/bin/cat", filepath.Join(private, "inner", "file"))
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: uid}}
		return cmd.Run() == nil
	}
	if canRead(idShift) {
		t.Fatal("uid 100000 reads through a private directory before the grant")
	}
	if err := grantSearch(filepath.Join(private, "inner"), idShift); err != nil {
		t.Fatal(err)
	}
	if !canRead(idShift) {
		t.Error("uid 100000 cannot read through the granted directories")
	}
	if canRead(idShift + 1) {
		t.Error("another uid reads through the granted directories")
	}
	st, err := os.Stat(private)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm()&0o007 != 0 {
		t.Errorf("private directory opened to others: %v", st.Mode())
	}
}

func TestValidateSpec(t *testing.T) {
	good := pvesim.ContainerSpec{VMID: 100, Hostname: "web-1.example.test", Networks: []pvesim.NetworkSpec{
		{Index: 0, Name: "eth0", HWAddr: "BC:24:11:00:00:01", Address: netip.MustParsePrefix("169.254.1.2/24")},
	}}
	if err := validateSpec(good); err != nil {
		t.Fatalf("valid spec rejected: %v", err)
	}
	for name, mutate := range map[string]func(*pvesim.ContainerSpec){
		"hostname with a newline": func(s *pvesim.ContainerSpec) { s.Hostname = "web\nlxc.hook.pre-start = /bin/true" },
		"hostname with a space":   func(s *pvesim.ContainerSpec) { s.Hostname = "web 1" },
		"interface name injected": func(s *pvesim.ContainerSpec) { s.Networks[0].Name = "eth0\nlxc.mount.entry = / x" },
		"interface named lo":      func(s *pvesim.ContainerSpec) { s.Networks[0].Name = "lo" },
		"bad MAC":                 func(s *pvesim.ContainerSpec) { s.Networks[0].HWAddr = "BC:24:11:00:00:01\nx" },
		"IPv6 address":            func(s *pvesim.ContainerSpec) { s.Networks[0].Address = netip.MustParsePrefix("fe80::2/64") },
		"zero vmid":               func(s *pvesim.ContainerSpec) { s.VMID = 0 },
	} {
		s := good
		s.Networks = append([]pvesim.NetworkSpec(nil), good.Networks...)
		mutate(&s)
		if err := validateSpec(s); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
