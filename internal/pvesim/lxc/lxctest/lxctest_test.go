package lxctest_test

import (
	"bytes"
	"errors"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"templatemanager.dev/lxc-template-manager/internal/pvesim/lxc/lxctest"
)

func dial(ct *lxctest.CT, hostKey ssh.PublicKey) (*ssh.Client, error) {
	return ssh.Dial("tcp", ct.SSHAddr(), &ssh.ClientConfig{
		User:              "root",
		Auth:              []ssh.AuthMethod{ssh.PublicKeys(ct.Signer)},
		HostKeyCallback:   ssh.FixedHostKey(hostKey),
		HostKeyAlgorithms: []string{ssh.KeyAlgoED25519},
		Timeout:           5 * time.Second,
	})
}

// TestSSHControls shows what SSH client tests rely on: a stopped sshd refuses connections, a
// delayed start lets a retrying client in, and regenerated host keys fail a pinned key.
func TestSSHControls(t *testing.T) {
	ct := lxctest.Container(t)
	key := ct.HostKey(t)

	client, err := dial(ct, key)
	if err != nil {
		t.Fatalf("ssh with the key given at create: %v", err)
	}
	s, err := client.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	s.Stdout = &out
	if err := s.Run("id -un"); err != nil || strings.TrimSpace(out.String()) != "root" {
		t.Fatalf("id -un = %q, %v", out.String(), err)
	}
	client.Close()

	ct.StopSSH(t)
	if _, err := dial(ct, key); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("dial with sshd stopped: %v, want connection refused", err)
	}
	started := ct.StartSSHAfter(time.Second)
	deadline := time.Now().Add(30 * time.Second)
	attempts := 0
	for {
		attempts++
		c, err := dial(ct, key)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("sshd did not come back: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err := <-started; err != nil {
		t.Fatal(err)
	}
	if attempts < 2 {
		t.Errorf("the first attempt succeeded; sshd was not stopped")
	}

	ct.RegenerateHostKeys(t)
	newKey := ct.HostKey(t)
	if bytes.Equal(newKey.Marshal(), key.Marshal()) {
		t.Fatal("host key unchanged after regeneration")
	}
	if _, err := dial(ct, key); err == nil || !strings.Contains(err.Error(), "host key mismatch") {
		t.Fatalf("dial with the old host key: %v, want a host key mismatch", err)
	}
	if c, err := dial(ct, newKey); err != nil {
		t.Fatalf("dial with the new host key: %v", err)
	} else {
		c.Close()
	}
	// The container is on a link-local address of the test's own bridge.
	if !ct.Addr.IsLinkLocalUnicast() {
		t.Errorf("container address %s is not link-local", ct.Addr)
	}
	if _, err := net.DialTimeout("tcp", ct.SSHAddr(), time.Second); err != nil {
		t.Errorf("host cannot reach the container: %v", err)
	}
}
