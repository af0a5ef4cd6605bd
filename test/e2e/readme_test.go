package e2e

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"templatemanager.dev/lxc-template-manager/internal/proxmox"
	"templatemanager.dev/lxc-template-manager/internal/pvesim"
	"templatemanager.dev/lxc-template-manager/internal/pvesim/lxc/lxctest"
	"templatemanager.dev/lxc-template-manager/internal/testkit"
)

// readmeCommand returns the README's shell command that starts with prefix, continuation
// lines joined.
func readmeCommand(t testing.TB, prefix string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(RepoRoot, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	var cmd []string
	for _, line := range strings.Split(string(data), "\n") {
		if len(cmd) == 0 && !strings.HasPrefix(line, prefix) {
			continue
		}
		cmd = append(cmd, strings.TrimSuffix(line, "\\"))
		if !strings.HasSuffix(line, "\\") {
			break
		}
	}
	if len(cmd) == 0 {
		t.Fatalf("the README has no command starting with %q", prefix)
	}
	return strings.Join(cmd, " ")
}

// TestReadmePvesimLineRuns runs the README's pvesim command from the repository root, and
// creates a container from the template it serves — relative paths included. The command runs
// as the README writes it except for its port: the README's 8006 may be held by the user's own
// stack (make demo leaves pvesim there), so the test asks for port 0 and reads the address
// pvesim reports.
func TestReadmePvesimLineRuns(t *testing.T) {
	t.Parallel()
	lxctest.RequireHost(t)
	lxctest.Template(t) // bin/ostemplates, as make ostemplate leaves it
	line := readmeCommand(t, "bin/pvesim --listen")
	m := regexp.MustCompile(`--listen (\S+) .*--state-dir (\S+) .*--api-token '([^'=]+)=([^']+)'`).FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("cannot read the address, state directory and token from %q", line)
	}
	listen, stateDir, tokenID, secret := m[1], m[2], m[3], m[4]
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		t.Fatalf("the README's --listen %q: %v", listen, err)
	}
	line = strings.Replace(line, "--listen "+listen+" ", "--listen "+net.JoinHostPort(host, "0")+" ", 1)
	if !filepath.IsAbs(stateDir) {
		stateDir = filepath.Join(RepoRoot, stateDir)
	}
	// pvesim derives its bridge's subnet from the state directory; no other test may hold it.
	_, subnet := pvesim.DefaultNetwork(stateDir)
	lxctest.ReserveSubnet(t, subnet)
	if err := os.RemoveAll(stateDir); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("bash", "-c", "exec "+line)
	cmd.Dir = RepoRoot
	logPath := filepath.Join(t.TempDir(), "pvesim.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var px proxmox.Client
	t.Cleanup(func() {
		if px != nil {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			if upid, err := px.DeleteContainer(ctx, "pve1", 100, proxmox.DeleteOptions{Purge: true}); err == nil {
				_, _ = testkit.AwaitTask(ctx, px, upid)
			}
		}
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_, _ = cmd.Process.Wait()
		_ = os.RemoveAll(stateDir)
		if t.Failed() {
			dumpFile(t, logPath, 40)
		}
	})

	addr := testkit.ReportedAddress(t, 30*time.Second, pvesimServing, testkit.ReadFile(logPath))
	if h, _, _ := net.SplitHostPort(addr); h != host {
		t.Errorf("pvesim serves on %s, not on the README's host %s", addr, host)
	}
	ca, err := os.ReadFile(filepath.Join(stateDir, "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	px, err = proxmox.New(proxmox.Settings{
		Endpoint: "https://" + addr + "/api2/json",
		Auth:     proxmox.Auth{TokenID: tokenID, TokenSecret: secret},
		TLS:      proxmox.TLSSettings{CAPEM: ca},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	testkit.Eventually(t, 30*time.Second, func() error { _, err := px.Version(ctx); return err })

	upid, err := px.CreateContainer(ctx, "pve1", proxmox.CreateSpec{
		VMID: 100, OSTemplate: debianTemplate, Hostname: "readme", Storage: "local-lvm", RootFSGiB: 2,
		Nets: []proxmox.NetConfig{{Name: "eth0", Bridge: "vmbr0", IP: "dhcp"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if ts := testkit.WaitTask(t, ctx, px, upid); ts.Err() != nil {
		t.Fatalf("creating a container from the README's pvesim: %+v", ts)
	}
}

// TestDemoFailsFastWithoutAPrerequisite takes lxc-start away (a PATH with every other program)
// and runs make demo in a fresh clone: it must stop within three minutes, naming what is missing.
func TestDemoFailsFastWithoutAPrerequisite(t *testing.T) {
	t.Parallel()
	lxctest.RequireHost(t)
	clone := cloneRepo(t)
	pathDir := t.TempDir()
	for _, dir := range filepath.SplitList(os.Getenv("PATH")) {
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			if e.Name() == "lxc-start" {
				continue
			}
			link := filepath.Join(pathDir, e.Name())
			if _, err := os.Lstat(link); err == nil {
				continue // the first on PATH wins, as for the shell
			}
			_ = os.Symlink(filepath.Join(dir, e.Name()), link)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "make", "demo")
	cmd.Dir = clone
	cmd.Env = append(os.Environ(), "PATH="+pathDir)
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("make demo did not stop within 3 minutes without lxc-start:\n%s", lastLinesOf(string(out), 30))
	}
	if err == nil {
		t.Fatalf("make demo succeeded without lxc-start:\n%s", lastLinesOf(string(out), 30))
	}
	if !strings.Contains(string(out), "lxc-start: not found on PATH (install the Debian package lxc)") {
		t.Errorf("make demo does not name the missing program and its package:\n%s", lastLinesOf(string(out), 30))
	}
}
