package discovery

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"templatemanager.dev/lxc-template-manager/internal/testkit"
)

// helperEnv makes the test binary act as a small network service (see TestMain).
const helperEnv = "LXCTM_DISCOVERY_HELPER"

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) == "listen" {
		serve()
		return
	}
	os.Exit(m.Run())
}

// serve listens on a TCP port on every address and a UDP port on loopback, prints both, and
// runs until its stdin closes.
func serve() {
	tcp, err := net.Listen("tcp", ":0")
	if err != nil {
		panic(err)
	}
	udp, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	fmt.Printf("%d %d\n", tcp.Addr().(*net.TCPAddr).Port, udp.LocalAddr().(*net.UDPAddr).Port)
	_, _ = bufio.NewReader(os.Stdin).ReadString('\n')
}

// cgroupMounts finds the cgroup v2 hierarchy and cgroup v1's name=systemd hierarchy.
func cgroupMounts(t *testing.T) []string {
	t.Helper()
	info, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	var mounts []string
	for _, line := range strings.Split(string(info), "\n") {
		fields := strings.Fields(line)
		sep := -1
		for i, f := range fields {
			if f == "-" {
				sep = i
				break
			}
		}
		if sep < 0 || len(fields) < sep+4 {
			continue
		}
		fsType, opts := fields[sep+1], fields[sep+3]
		if fsType == "cgroup2" || (fsType == "cgroup" && strings.Contains(","+opts+",", ",name=systemd,")) {
			mounts = append(mounts, fields[4])
		}
	}
	return mounts
}

// TestCollectorOnThisHost runs the real collector script with bash on this machine: real ss,
// real /proc, real systemctl (which fails here, since this host's init is not systemd — the
// document must say so and still be whole). A helper process listens on two ports and is
// placed in a cgroup named like a systemd service, so the pid-to-unit mapping is exercised
// against the kernel's own /proc/<pid>/cgroup.
func TestCollectorOnThisHost(t *testing.T) {
	testkit.RequireRoot(t, "moves a process between cgroups")
	helper := exec.Command(os.Args[0])
	helper.Env = append(os.Environ(), helperEnv+"=listen")
	stdin, err := helper.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := helper.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := helper.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close()
		_ = helper.Wait()
	})
	var tcpPort, udpPort uint16
	if _, err := fmt.Fscanf(bufio.NewReader(stdout), "%d %d\n", &tcpPort, &udpPort); err != nil {
		t.Fatalf("reading the helper's ports: %v", err)
	}
	pid := helper.Process.Pid

	unit := fmt.Sprintf("lxctm-test-%d.service", pid)
	mounts := cgroupMounts(t)
	if len(mounts) == 0 {
		t.Fatal("no cgroup v2 or name=systemd hierarchy is mounted")
	}
	for _, mnt := range mounts {
		slice := filepath.Join(mnt, "lxctm-test.slice")
		dir := filepath.Join(slice, unit)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatalf("creating cgroup %s: %v", dir, err)
		}
		t.Cleanup(func() {
			// Once the helper has exited the cgroups are empty and can go.
			stdin.Close()
			_ = helper.Wait()
			_ = os.Remove(dir)
			_ = os.Remove(slice)
		})
		if err := os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte(strconv.Itoa(pid)), 0o644); err != nil {
			t.Fatalf("moving the helper into %s: %v", dir, err)
		}
	}

	root := t.TempDir()
	creds := filepath.Join(root, "etc/config-manager/credentials")
	if err := os.MkdirAll(creds, 0o700); err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		"web.env":      "ADMIN_USER=admin\nADMIN_PASSWORD='pa ss\nword'\nnot an entry\n",
		"db.env":       "DB_PASSWORD=\"d\\\"b\"\n",
		"bad name.env": "X=1\n",
		"big.env":      "BIG=" + strings.Repeat("x", MaxCredentialsFileSize) + "\n",
		"notes.txt":    "not an env file\n",
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(creds, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("/etc/passwd", filepath.Join(creds, "link.env")); err != nil {
		t.Fatal(err)
	}

	script := filepath.Join(t.TempDir(), "collect-services.sh")
	if err := os.WriteFile(script, CollectorScript(), 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("bash", script)
	cmd.Env = append(os.Environ(), "CONFIG_MANAGER_ROOT="+root)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	doc, err := cmd.Output()
	if err != nil {
		t.Fatalf("collector: %v\n%s", err, stderr.String())
	}

	snap, err := ParseSnapshot(doc)
	if err != nil {
		t.Fatalf("ParseSnapshot: %v\n%s", err, doc)
	}
	if got := snap.UnitByPID[pid]; got != unit {
		t.Errorf("unit of the helper = %q, want %q", got, unit)
	}

	addr := netip.MustParseAddr("169.254.7.9")
	services := Services(snap, addr)
	var web, udp *Service
	for i, s := range services {
		if s.PID == pid && s.Protocol == TCP && s.Port == tcpPort {
			web = &services[i]
		}
		if s.PID == pid && s.Protocol == UDP && s.Port == udpPort {
			udp = &services[i]
		}
	}
	if web == nil || udp == nil {
		t.Fatalf("the helper's services are missing from %+v", services)
	}
	wantName := strings.TrimSuffix(unit, ".service")
	if web.Name != wantName || web.Unit != unit || web.LoopbackOnly || web.URL != fmt.Sprintf("tcp://169.254.7.9:%d", tcpPort) {
		t.Errorf("tcp service: %+v", *web)
	}
	if udp.Name != wantName || !udp.LoopbackOnly || udp.URL != "" || udp.Address != "127.0.0.1" {
		t.Errorf("udp service: %+v", *udp)
	}

	shortfalls := CheckPromises(services, snap.Running, []Promise{
		{Name: "web", Port: tcpPort},
		{Name: "stats", Port: udpPort, Protocol: UDP},
	})
	if len(shortfalls) != 1 || shortfalls[0].Promise.Name != "stats" || !strings.Contains(shortfalls[0].Reason, "loopback only") {
		t.Errorf("shortfalls: %v", shortfalls)
	}

	byName := map[string]CredentialsFile{}
	for _, f := range snap.Credentials {
		byName[f.FileName] = f
	}
	if len(byName) != 2 {
		t.Errorf("credentials files %v, want web.env and db.env only", snap.Credentials)
	}
	data, err := CredentialsData(snap.Credentials)
	if err != nil {
		t.Fatal(err)
	}
	if string(data["ADMIN_PASSWORD"]) != "pa ss\nword" || string(data["ADMIN_USER"]) != "admin" || string(data["DB_PASSWORD"]) != `d"b` {
		t.Errorf("credentials data %q", data)
	}
	problems := strings.Join(snap.Problems, "\n")
	for _, want := range []string{
		"web.env line 4: not KEY=VALUE",
		`credentials file bad\ name.env has a name that is not <service>.env; skipped`,
		"credentials file big.env is larger than",
	} {
		if !strings.Contains(problems, want) {
			t.Errorf("problems lack %q:\n%s", want, problems)
		}
	}
	if len(snap.Running) == 0 && !strings.Contains(problems, "systemctl list-units exited with status") {
		t.Errorf("no running units and no systemctl problem:\n%s", problems)
	}
	if strings.Contains(problems, "pa ss") {
		t.Error("problems quote a credential")
	}
}

// TestParseSnapshotCaptured reads a document the collector printed inside a Debian 12 LXC
// container booted with systemd.
func TestParseSnapshotCaptured(t *testing.T) {
	doc, err := os.ReadFile("testdata/collector-container.txt")
	if err != nil {
		t.Fatal(err)
	}
	snap, err := ParseSnapshot(doc)
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.Sockets) != 2 || snap.UnitByPID[57] != "ssh.service" || len(snap.Running) != 3 {
		t.Errorf("snapshot: sockets %+v, units %v, running %+v", snap.Sockets, snap.UnitByPID, snap.Running)
	}
	if len(snap.Credentials) != 1 || snap.Credentials[0].Service != "postgres" {
		t.Fatalf("credentials %+v", snap.Credentials)
	}
	vars := snap.Credentials[0].Vars
	if len(vars) != 2 || vars[0] != (EnvVar{"DB_PASSWORD", `s3cr"et`}) || vars[1] != (EnvVar{"DB_USER", "app"}) {
		t.Errorf("vars %q", vars)
	}
	want := []string{
		`credentials file bad\ name.env has a name that is not <service>.env; skipped`,
		"postgres.env line 4: not KEY=VALUE",
	}
	if strings.Join(snap.Problems, "\n") != strings.Join(want, "\n") {
		t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(snap.Problems, "\n"), strings.Join(want, "\n"))
	}

	for _, addr := range []string{"169.254.3.4", "fd00::4"} {
		services := Services(snap, netip.MustParseAddr(addr))
		wantURL := "tcp://" + net.JoinHostPort(addr, "22")
		if len(services) != 1 {
			t.Fatalf("services %+v", services)
		}
		s := services[0]
		if s.Name != "ssh" || s.Unit != "ssh.service" || s.Process != "sshd" || s.PID != 57 || s.Port != 22 || s.URL != wantURL {
			t.Errorf("over %s: service %+v", addr, s)
		}
		// The address shown is the socket that serves the container address's family.
		if wantAddr := map[bool]string{true: "0.0.0.0", false: "::"}[strings.Contains(addr, ".")]; s.Address != wantAddr {
			t.Errorf("over %s: address %s, want %s", addr, s.Address, wantAddr)
		}
	}
}

func TestParseSnapshotRejectsBrokenDocuments(t *testing.T) {
	good := "lxctm-discovery 1\nsection ss 0 3\nabc\nsection units 0 0\n\nend\n"
	if _, err := ParseSnapshot([]byte(good)); err != nil {
		t.Fatalf("good document refused: %v", err)
	}
	for name, doc := range map[string]string{
		"empty":              "",
		"wrong magic":        "lxctm-discovery 2\nend\n",
		"no end":             "lxctm-discovery 1\nsection ss 0 3\nabc\n",
		"cut inside":         "lxctm-discovery 1\nsection ss 0 30\nabc\n",
		"size too small":     "lxctm-discovery 1\nsection ss 0 2\nabc\nend\n",
		"size not a number":  "lxctm-discovery 1\nsection ss 0 x\nabc\nend\n",
		"negative size":      "lxctm-discovery 1\nsection ss 0 -1\nend\n",
		"status not number":  "lxctm-discovery 1\nsection ss ok 3\nabc\nend\n",
		"malformed header":   "lxctm-discovery 1\nsectionss 0 3\nabc\nend\n",
		"huge size":          "lxctm-discovery 1\nsection ss 0 999999999999\nend\n",
		"text after the end": "lxctm-discovery 1\nsection ss 0 3\nabcend\n",
	} {
		if _, err := ParseSnapshot([]byte(doc)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	// Content that looks like framing is only content.
	fake := "A=1\nend\nsection ss 0 0\n\n"
	tricky := fmt.Sprintf("lxctm-discovery 1\nsection credentials 0 %d a.env\n%s\nsection ss 0 0\n\nsection units 0 0\n\nend\n", len(fake), fake)
	snap, err := ParseSnapshot([]byte(tricky))
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.Credentials) != 1 || len(snap.Credentials[0].Vars) != 1 || len(snap.Problems) != 2 {
		t.Errorf("tricky document: %+v", snap)
	}
}

func FuzzParseSnapshot(f *testing.F) {
	if doc, err := os.ReadFile("testdata/collector-container.txt"); err == nil {
		f.Add(doc)
	}
	f.Add([]byte("lxctm-discovery 1\nsection ss 0 3\nabc\nsection units 0 0\n\nend\n"))
	f.Add([]byte("lxctm-discovery 1\nsection cgroup 0 31 12\n0::/system.slice/nginx.service\n\nsection stderr 1 4 ss\nboom\nend\n"))
	f.Add([]byte("lxctm-discovery 1\nsection credentials 0 5 x.env\nA='1\nend\n"))
	f.Add([]byte("lxctm-discovery 1\nsection ss 0 59\ntcp LISTEN 0 1 0.0.0.0:80 0.0.0.0:* users:((\"\",pid=5,fd=1))\nend\n"))
	f.Fuzz(func(t *testing.T, doc []byte) {
		snap, err := ParseSnapshot(doc)
		if err != nil {
			return
		}
		for pid, unit := range snap.UnitByPID {
			if pid <= 0 || !isUnitName(unit) {
				t.Fatalf("pid %d unit %q", pid, unit)
			}
		}
		for _, s := range Services(snap, netip.MustParseAddr("169.254.0.9")) {
			if s.Name == "" || (s.URL != "" && s.LoopbackOnly) {
				t.Fatalf("service %+v", s)
			}
		}
		_, _ = CredentialsData(snap.Credentials)
	})
}

// TestCollectorReadsSavedCredentials: the collector reports the files of both credentials
// directories, so save_credential's reach the Secret beside config-manager's.
func TestCollectorReadsSavedCredentials(t *testing.T) {
	root := t.TempDir()
	for dir, file := range map[string]string{CredentialsDir: "db.env", SavedCredentialsDir: "code-server.env"} {
		p := filepath.Join(root, dir)
		if err := os.MkdirAll(p, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(p, file), []byte(strings.TrimSuffix(file, ".env")+"_KEY=v-"+file+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	script := filepath.Join(t.TempDir(), "collect-services.sh")
	if err := os.WriteFile(script, CollectorScript(), 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("bash", script)
	cmd.Env = append(os.Environ(), "CONFIG_MANAGER_ROOT="+root)
	doc, err := cmd.Output()
	if err != nil {
		t.Fatalf("collector: %v", err)
	}
	snap, err := ParseSnapshot(doc)
	if err != nil {
		t.Fatalf("ParseSnapshot: %v\n%s", err, doc)
	}
	data, err := CredentialsData(snap.Credentials)
	if err != nil {
		t.Fatal(err)
	}
	if string(data["db_KEY"]) != "v-db.env" || string(data["code-server_KEY"]) != "v-code-server.env" || len(data) != 2 {
		t.Errorf("credentials data %q", data)
	}
}
