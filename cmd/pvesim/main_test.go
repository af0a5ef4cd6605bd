package main

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"templatemanager.dev/lxc-template-manager/internal/testkit"
)

// TestMain lets the test binary act as pvesim, so tests run the real command in a process.
func TestMain(m *testing.M) {
	if os.Getenv("PVESIM_RUN_MAIN") == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

type process struct {
	cmd    *exec.Cmd
	output *testkit.Transcript
	done   chan struct{} // closed when the process exited, err holds how
	err    error
}

// servingURL matches the line in which pvesim says where it serves; the address is its group.
var servingURL = regexp.MustCompile(`url=https://(\S+)/api2/json`)

// addr waits until the process says where it serves and returns the address.
func (p *process) addr(t *testing.T) string {
	t.Helper()
	return testkit.ReportedAddress(t, 20*time.Second, servingURL, func() ([]byte, error) {
		select {
		case <-p.done:
			return nil, testkit.Permanent(fmt.Errorf("pvesim exited: %v\n%s", p.err, p.output))
		default:
			return []byte(p.output.String()), nil
		}
	})
}

func startPvesim(t *testing.T, args ...string) *process {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "PVESIM_RUN_MAIN=1")
	out := &testkit.Transcript{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &process{cmd: cmd, output: out, done: make(chan struct{})}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			t.Logf("pvesim output:\n%s", out)
		}
	})
	return p
}

func client(t *testing.T, caFile string) *http.Client {
	t.Helper()
	pem, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatalf("CA: %v", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatal("ca.pem holds no certificate")
	}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
}

func get(t *testing.T, c *http.Client, url, token string) (int, map[string]json.RawMessage) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Authorization", "PVEAPIToken="+token)
	res, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	var m map[string]json.RawMessage
	_ = json.Unmarshal(body, &m)
	return res.StatusCode, m
}

func waitUp(t *testing.T, p *process, c *http.Client, url, token string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		req, _ := http.NewRequest("GET", url+"/version", nil)
		req.Header.Set("Authorization", "PVEAPIToken="+token)
		if res, err := c.Do(req); err == nil {
			res.Body.Close()
			return
		}
		select {
		case <-p.done:
			t.Fatalf("pvesim exited: %v\n%s", p.err, p.output)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("pvesim did not come up:\n%s", p.output)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestCommand starts bin/pvesim's main as documented, talks to it with the CA from
// DIR/ca.pem, stops it with SIGTERM and starts it again on the same state directory. It listens
// on port 0 and says in its log which port it got.
func TestCommand(t *testing.T) {
	dir := t.TempDir()
	const token = "root@pam!ci=4f1c2e7a-secret"
	args := []string{"--listen", "127.0.0.1:0", "--backend", "fake", "--state-dir", dir, "--nodes", "pve1,pve2",
		"--api-token", token, "--api-token", "ops@pve!ro=second", "--task-duration", "10ms", "--fake-dhcp-delay", "0s"}
	p := startPvesim(t, args...)
	url := "https://" + p.addr(t) + "/api2/json"
	caFile := filepath.Join(dir, "ca.pem")
	for i := 0; ; i++ {
		if _, err := os.Stat(caFile); err == nil {
			break
		}
		if i > 400 {
			t.Fatalf("no %s:\n%s", caFile, p.output)
		}
		time.Sleep(50 * time.Millisecond)
	}
	c := client(t, caFile)
	waitUp(t, p, c, url, token)

	code, body := get(t, c, url+"/nodes", token)
	var nodes []struct{ Node string }
	_ = json.Unmarshal(body["data"], &nodes)
	if code != 200 || len(nodes) != 2 || nodes[0].Node != "pve1" || nodes[1].Node != "pve2" {
		t.Fatalf("nodes: %d %s", code, body["data"])
	}
	if code, _ := get(t, c, url+"/version", "ops@pve!ro=second"); code != 200 {
		t.Fatalf("second token: %d", code)
	}
	req, _ := http.NewRequest("POST", url+"/nodes/pve1/lxc", strings.NewReader(
		`{"vmid":100,"ostemplate":"local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst","rootfs":"local-lvm:4","start":1}`))
	req.Header.Set("Authorization", "PVEAPIToken="+token)
	req.Header.Set("Content-Type", "application/json")
	res, err := c.Do(req)
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("create: %v %v", res, err)
	}
	res.Body.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, body := get(t, c, url+"/nodes/pve1/lxc/100/status/current", token)
		var st struct{ Status string }
		_ = json.Unmarshal(body["data"], &st)
		if st.Status == "running" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("CT 100 did not start: %s", body["data"])
		}
		time.Sleep(20 * time.Millisecond)
	}

	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.done:
		if p.err != nil {
			t.Fatalf("exit after SIGTERM: %v\n%s", p.err, p.output)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("pvesim ignored SIGTERM")
	}
	if strings.Contains(p.output.String(), "4f1c2e7a-secret") {
		t.Fatalf("the token secret was logged:\n%s", p.output)
	}

	// A restarted pvesim keeps its CA and its containers.
	p = startPvesim(t, args...)
	url = "https://" + p.addr(t) + "/api2/json"
	waitUp(t, p, c, url, token)
	_, body = get(t, c, url+"/nodes/pve1/lxc/100/status/current", token)
	var st struct{ Status string }
	_ = json.Unmarshal(body["data"], &st)
	if st.Status != "running" {
		t.Fatalf("CT 100 after restart: %s", body["data"])
	}
}

func TestFlags(t *testing.T) {
	var out bytes.Buffer
	if _, err := parseFlags([]string{"--help"}, &out); err == nil {
		t.Fatal("--help did not stop")
	}
	help := out.String()
	for _, flag := range []string{"listen", "backend", "state-dir", "nodes", "api-token", "user", "template-dir", "template-cache", "bridge",
		"subnet", "task-duration", "task-duration-of", "unauthorized-delay", "lock-timeout", "fake-dhcp-delay", "fault"} {
		if !strings.Contains(help, "-"+flag+" ") && !strings.Contains(help, "-"+flag+"\n") {
			t.Errorf("--help does not document --%s", flag)
		}
	}
	cases := []struct {
		args []string
		err  string
	}{
		{[]string{"--api-token", "root@pam!x=y"}, "--state-dir is required"},
		{[]string{"--state-dir", t.TempDir(), "--api-token", "no-separator"}, "--api-token must look like USER@REALM!ID=SECRET"},
		{[]string{"--state-dir", t.TempDir()}, "give at least one --api-token or --user"},
		{[]string{"--state-dir", t.TempDir(), "--user", "root@pam=pw", "--subnet", "169.254.169.0/24"}, "overlaps 169.254.169.0/24"},
		{[]string{"--state-dir", t.TempDir(), "--user", "root@pam=pw", "--subnet", "10.0.0.0/24"}, "not inside 169.254.0.0/16"},
		{[]string{"--state-dir", t.TempDir(), "--user", "root@pam=pw", "--fault", "flood"}, "unknown fault kind"},
		{[]string{"--state-dir", t.TempDir(), "--user", "root@pam=pw", "--task-duration-of", "vzcreate"}, "is not TYPE=DURATION"},
	}
	for _, c := range cases {
		err := run(c.args, io.Discard)
		if err == nil || !strings.Contains(err.Error(), c.err) {
			t.Errorf("%v: %v, want %q", c.args, err, c.err)
		}
	}
	cfg, err := parseFlags([]string{"--state-dir", "/tmp/x", "--api-token", "root@pam!a=b=c", "--task-duration-of", "vzcreate=5s",
		"--fault", "latency,delay=10ms", "--nodes", "pve1, pve2,pve1", "--template-cache", "trees"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	// The backend hands the cache to tools that run elsewhere: a relative path is taken here.
	if wd, _ := os.Getwd(); cfg.templateCache != filepath.Join(wd, "trees") {
		t.Errorf("--template-cache trees = %q, want it under %s", cfg.templateCache, wd)
	}
	opts, bridge, err := cfg.options(nil)
	if err != nil {
		t.Fatal(err)
	}
	if opts.Tokens["root@pam!a=b"] != "c" || opts.Tasks.ByType["vzcreate"] != 5*time.Second || len(opts.Faults) != 1 ||
		fmt.Sprint(opts.Nodes) != "[pve1 pve2]" || !strings.HasPrefix(bridge, "pvesim") || len(bridge) > 15 {
		t.Fatalf("options: %+v bridge %q", opts, bridge)
	}
}
