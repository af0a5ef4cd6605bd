package ssh

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"templatemanager.dev/lxc-template-manager/internal/testkit"
)

// The tests in this file run the host's OpenSSH server (package openssh-server) as root on
// 127.0.0.1 and a reserved port (sshd must be told its port, and keeps it across restarts), with
// a configuration of their own.

const sshdPath = "/usr/sbin/sshd"

// testSSHD is one sshd process serving a temporary directory's keys.
type testSSHD struct {
	t       *testing.T
	dir     string
	port    int
	hostKey gossh.Signer
	client  gossh.Signer

	mu  sync.Mutex
	cmd *exec.Cmd
	log *bytes.Buffer
}

func newSigner(t *testing.T) (gossh.Signer, ed25519.PrivateKey) {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := gossh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return s, priv
}

// newTestSSHD prepares an sshd with fresh host and client keys; it does not start it.
func newTestSSHD(t *testing.T) *testSSHD {
	t.Helper()
	testkit.RequireRoot(t, "runs sshd with root logins")
	if _, err := os.Stat(sshdPath); err != nil {
		t.Fatalf("%s is needed (apt-get install openssh-server): %v", sshdPath, err)
	}
	// sshd's privilege separation needs this directory.
	if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
		t.Fatal(err)
	}
	s := &testSSHD{t: t, dir: t.TempDir(), port: testkit.ReservePort(t)}
	s.client, _ = newSigner(t)
	authorized := gossh.MarshalAuthorizedKey(s.client.PublicKey())
	if err := os.WriteFile(filepath.Join(s.dir, "authorized_keys"), authorized, 0o600); err != nil {
		t.Fatal(err)
	}
	s.NewHostKey()
	t.Cleanup(s.Stop)
	return s
}

// NewHostKey replaces the host key; a running sshd uses it after Restart.
func (s *testSSHD) NewHostKey() {
	signer, priv := newSigner(s.t)
	block, err := gossh.MarshalPrivateKey(priv, "")
	if err != nil {
		s.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(s.dir, "host_ed25519"), pem.EncodeToMemory(block), 0o600); err != nil {
		s.t.Fatal(err)
	}
	s.hostKey = signer
}

func (s *testSSHD) Address() string { return "127.0.0.1:" + strconv.Itoa(s.port) }

func (s *testSSHD) Target() Target {
	return Target{Address: s.Address(), Signer: s.client}
}

// Start runs sshd in the foreground and waits until it accepts connections.
func (s *testSSHD) Start() {
	s.t.Helper()
	config := fmt.Sprintf(`Port %d
ListenAddress 127.0.0.1
HostKey %s
AuthorizedKeysFile %s
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
PidFile none
Subsystem sftp /usr/lib/openssh/sftp-server
`, s.port, filepath.Join(s.dir, "host_ed25519"), filepath.Join(s.dir, "authorized_keys"))
	cfg := filepath.Join(s.dir, "sshd_config")
	if err := os.WriteFile(cfg, []byte(config), 0o600); err != nil {
		s.t.Fatal(err)
	}
	s.mu.Lock()
	s.log = &bytes.Buffer{}
	s.cmd = exec.Command(sshdPath, "-D", "-e", "-f", cfg)
	s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
	// Connection processes inherit the log pipe; do not wait for them beyond this.
	s.cmd.WaitDelay = 3 * time.Second
	if err := s.cmd.Start(); err != nil {
		s.mu.Unlock()
		s.t.Fatalf("start sshd: %v", err)
	}
	s.mu.Unlock()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", s.Address(), time.Second)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("sshd did not listen on %s: %v\n%s", s.Address(), err, s.Log())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Stop ends sshd and every session it serves: the listener's children are the per-connection
// processes, which sshd itself leaves running.
func (s *testSSHD) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	for _, pid := range childrenOf(s.cmd.Process.Pid) {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	_ = s.cmd.Wait()
	s.cmd = nil
	if s.t.Failed() {
		s.t.Logf("sshd log:\n%s", s.log.String())
	}
}

func (s *testSSHD) Restart() {
	s.Stop()
	s.Start()
}

func (s *testSSHD) Log() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.log.String()
}

// fastDialer retries quickly so tests do not wait for the production schedule.
func fastDialer() *Dialer {
	return &Dialer{Retry: Backoff{Attempts: 5, Initial: 100 * time.Millisecond, Factor: 2}, ConnectTimeout: 3 * time.Second}
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// connect starts sshd and dials it.
func connect(t *testing.T) (*testSSHD, *Client) {
	t.Helper()
	s := newTestSSHD(t)
	s.Start()
	c, err := fastDialer().Dial(testContext(t), s.Target())
	if err != nil {
		t.Fatalf("dial: %v\n%s", err, s.Log())
	}
	t.Cleanup(func() { c.Close() })
	return s, c
}

// childrenOf lists the processes whose parent is pid.
func childrenOf(pid int) []int {
	entries, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range entries {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// The fields after the command name (which may hold spaces) start with state and ppid.
		i := bytes.LastIndexByte(stat, ')')
		if i < 0 {
			continue
		}
		fields := strings.Fields(string(stat[i+1:]))
		if len(fields) > 1 && fields[1] == strconv.Itoa(pid) {
			out = append(out, child)
		}
	}
	return out
}
