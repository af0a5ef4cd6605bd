package ssh

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"syscall"
	"testing"

	gossh "golang.org/x/crypto/ssh"
)

func newPublicKey(t *testing.T) gossh.PublicKey {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	key, err := gossh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

func TestHostKeyPinFirstContactRecordsKey(t *testing.T) {
	key := newPublicKey(t)
	pin := &hostKeyPin{}
	if err := pin.check("10.0.0.1:22", nil, key); err != nil {
		t.Fatalf("first contact refused: %v", err)
	}
	if pin.seen != gossh.FingerprintSHA256(key) {
		t.Fatalf("seen = %q, want %q", pin.seen, gossh.FingerprintSHA256(key))
	}
	if err := ValidateFingerprint(pin.seen); err != nil {
		t.Fatalf("recorded fingerprint does not validate: %v", err)
	}
}

func TestHostKeyPinAcceptsPinnedKey(t *testing.T) {
	key := newPublicKey(t)
	pin := &hostKeyPin{expected: Fingerprint(key)}
	if err := pin.check("h:22", nil, key); err != nil {
		t.Fatalf("pinned key refused: %v", err)
	}
}

func TestHostKeyPinRefusesChangedKey(t *testing.T) {
	old, presented := newPublicKey(t), newPublicKey(t)
	pin := &hostKeyPin{expected: Fingerprint(old)}
	err := pin.check("169.254.10.2:22", nil, presented)
	if !errors.Is(err, ErrHostKeyMismatch) {
		t.Fatalf("err = %v, want ErrHostKeyMismatch", err)
	}
	var mismatch *HostKeyMismatchError
	if !errors.As(fmt.Errorf("wrapped: %w", err), &mismatch) {
		t.Fatalf("errors.As through a wrap failed for %v", err)
	}
	if mismatch.Expected != Fingerprint(old) || mismatch.Seen != Fingerprint(presented) || mismatch.KeyType != "ssh-ed25519" {
		t.Fatalf("mismatch = %+v", mismatch)
	}
	for _, want := range []string{"169.254.10.2:22", Fingerprint(old), Fingerprint(presented)} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("message %q does not name %q", err.Error(), want)
		}
	}
	if !permanent(classify(errors.New("ssh: handshake failed: x"), pin)) {
		t.Fatal("a host key mismatch must not be retried")
	}
}

func TestValidateFingerprint(t *testing.T) {
	good := Fingerprint(newPublicKey(t))
	for _, s := range []string{good} {
		if err := ValidateFingerprint(s); err != nil {
			t.Errorf("ValidateFingerprint(%q) = %v", s, err)
		}
	}
	for _, s := range []string{"", strings.TrimPrefix(good, "SHA256:"), "MD5:" + good[7:], "SHA256:abc", "SHA256:" + good[7:] + "="} {
		if err := ValidateFingerprint(s); err == nil {
			t.Errorf("ValidateFingerprint(%q) accepted", s)
		}
	}
}

func TestClassifyAuthenticationIsPermanent(t *testing.T) {
	err := classify(errors.New("ssh: handshake failed: ssh: unable to authenticate, attempted methods [none publickey], no supported methods remain"), &hostKeyPin{})
	if !errors.Is(err, ErrAuthentication) || !permanent(err) {
		t.Fatalf("auth failure classified as %v (permanent=%v)", err, permanent(err))
	}
	refused := classify(fmt.Errorf("dial tcp: %w", syscall.ECONNREFUSED), &hostKeyPin{})
	if permanent(refused) {
		t.Fatal("a refused connection must be retried")
	}
	if permanent(classify(errors.New("ssh: handshake failed: EOF"), &hostKeyPin{})) {
		t.Fatal("a dropped handshake must be retried")
	}
}
