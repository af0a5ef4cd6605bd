package ssh

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"strings"

	gossh "golang.org/x/crypto/ssh"
)

// ErrHostKeyMismatch is matched by errors.Is for every *HostKeyMismatchError.
var ErrHostKeyMismatch = errors.New("ssh host key mismatch")

// HostKeyMismatchError says the container presented a host key other than the pinned one. It is
// permanent: Dial does not retry it, and nothing is sent to the container.
type HostKeyMismatchError struct {
	Address  string
	Expected string // the pinned fingerprint
	Seen     string // the fingerprint the container presented
	KeyType  string // the type of the presented key, e.g. ssh-ed25519
}

func (e *HostKeyMismatchError) Error() string {
	return fmt.Sprintf("ssh host key of %s changed: pinned %s, presented %s (%s); refusing to connect",
		e.Address, e.Expected, e.Seen, e.KeyType)
}

// Is makes errors.Is(err, ErrHostKeyMismatch) true.
func (e *HostKeyMismatchError) Is(target error) bool { return target == ErrHostKeyMismatch }

// Fingerprint is the SHA256 fingerprint of key in OpenSSH's form, "SHA256:" and unpadded base64,
// the form recorded in status.sshHostKey.
func Fingerprint(key gossh.PublicKey) string { return gossh.FingerprintSHA256(key) }

// ValidateFingerprint checks that s has the form Fingerprint returns.
func ValidateFingerprint(s string) error {
	rest, ok := strings.CutPrefix(s, "SHA256:")
	if !ok {
		return fmt.Errorf("host key fingerprint %q does not start with SHA256:", s)
	}
	raw, err := base64.RawStdEncoding.DecodeString(rest)
	if err != nil || len(raw) != 32 {
		return fmt.Errorf("host key fingerprint %q is not a SHA256 fingerprint", s)
	}
	return nil
}

// hostKeyPin checks the presented host key against the pinned fingerprint during one handshake
// and remembers what it saw.
type hostKeyPin struct {
	expected string
	seen     string
	mismatch *HostKeyMismatchError
}

func (p *hostKeyPin) check(address string, _ net.Addr, key gossh.PublicKey) error {
	p.seen = Fingerprint(key)
	if p.expected == "" || p.seen == p.expected {
		return nil
	}
	p.mismatch = &HostKeyMismatchError{Address: address, Expected: p.expected, Seen: p.seen, KeyType: key.Type()}
	return p.mismatch
}

// hostKeyAlgorithms fixes the order in which host key types are offered, so a container with
// several host keys presents the same one on every connection and the pin stays meaningful.
var hostKeyAlgorithms = []string{
	gossh.KeyAlgoED25519,
	gossh.KeyAlgoECDSA256,
	gossh.KeyAlgoECDSA384,
	gossh.KeyAlgoECDSA521,
	gossh.KeyAlgoRSASHA512,
	gossh.KeyAlgoRSASHA256,
}
