// Package fake is pvesim's in-memory backend: containers that exist only as records, with the
// same address behaviour as real ones (a static address at once, a DHCP lease shortly after
// start), and — with Options.GuestPort — a guest stand-in per running container that the
// controller's SSH phases talk to (see Guest). It is for load tests and the controller's phase
// tests; it is never evidence that a container feature works.
package fake

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"templatemanager.dev/lxc-template-manager/internal/pvesim"
)

// Template is the OS template the fake backend always offers.
const Template = "debian-12-standard_12.7-1_amd64.tar.zst"

// Options configure the fake backend.
type Options struct {
	// StateDir keeps which containers exist and run, so a restarted simulator finds them
	// running; empty keeps everything in memory.
	StateDir string
	// DHCPDelay is how long after start a DHCP interface takes to get its address.
	DHCPDelay time.Duration
	// ShutdownDelay is how long a clean shutdown takes; one longer than the shutdown
	// timeout fails, as a container ignoring the power-off request would.
	ShutdownDelay time.Duration
	// GuestPort, when set, gives every running container a guest stand-in (see Guest): an SSH
	// server on GuestAddress(eth0's address) and this port, reached with GuestDialer(GuestPort).
	// Guests keep their host key across restarts of the container and of the simulator; their
	// file systems live in memory and start afresh when the simulator restarts.
	GuestPort int
	// SSHReadyAfter, when set, says how long after its start (or a reboot) a container's guest
	// takes to start sshd, by the container's VMID and hostname; nil, or zero for a container,
	// starts sshd with the container. Until then nothing listens on the SSH port and a
	// connection is refused: a booting Linux guest has its address before systemd reaches
	// ssh.service, and its kernel answers a SYN to a closed port with a reset. (A handshake
	// that is accepted and then stalls is a different fault — an overloaded or hung sshd — not
	// a guest still booting.)
	SSHReadyAfter func(vmid int, hostname string) time.Duration
}

// Backend keeps containers as records.
type Backend struct {
	opts   Options
	mu     sync.Mutex
	cts    map[int]*record
	guests map[int]*Guest
}

type record struct {
	Spec      pvesim.ContainerSpec `json:"spec"`
	Running   bool                 `json:"running"`
	StartedAt time.Time            `json:"startedAt,omitzero"`
	// HostKey is the seed of the guest's ed25519 host key.
	HostKey []byte `json:"hostKey,omitempty"`
}

var (
	_ pvesim.Backend          = (*Backend)(nil)
	_ pvesim.BuiltinTemplates = (*Backend)(nil)
	_ pvesim.Cloner           = (*Backend)(nil)
)

// New returns a fake backend, loading its state when opts.StateDir holds one.
func New(opts Options) (*Backend, error) {
	b := &Backend{opts: opts, cts: map[int]*record{}, guests: map[int]*Guest{}}
	if opts.StateDir == "" {
		return b, nil
	}
	if err := os.MkdirAll(opts.StateDir, 0o755); err != nil {
		return nil, err
	}
	data, err := os.ReadFile(b.stateFile())
	if errors.Is(err, os.ErrNotExist) {
		return b, nil
	}
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(data, &b.cts); err != nil {
		return nil, fmt.Errorf("load fake backend state: %w", err)
	}
	for vmid, r := range b.cts {
		g, err := b.guestLocked(vmid, r)
		if err != nil {
			return nil, err
		}
		if r.Running {
			g.configure(r.Spec, true)
			g.start(eth0Address(r.Spec), r.StartedAt)
		}
	}
	return b, nil
}

// guestLocked returns the guest of a container, making it (and its host key) on first use.
func (b *Backend) guestLocked(vmid int, r *record) (*Guest, error) {
	if g, ok := b.guests[vmid]; ok {
		return g, nil
	}
	if len(r.HostKey) == 0 {
		r.HostKey = make([]byte, ed25519.SeedSize)
		if _, err := rand.Read(r.HostKey); err != nil {
			return nil, err
		}
	}
	g, err := newGuest(b, vmid, r.HostKey)
	if err != nil {
		return nil, err
	}
	b.guests[vmid] = g
	return g, nil
}

// Guest returns the guest stand-in of container vmid, or nil when there is no such container.
func (b *Backend) Guest(vmid int) *Guest {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.guests[vmid]
}

// GuestSessions is the number of SSH connections all guests accepted.
func (b *Backend) GuestSessions() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	var n int64
	for _, g := range b.guests {
		n += g.Sessions()
	}
	return n
}

func (b *Backend) stateFile() string { return filepath.Join(b.opts.StateDir, "fake-backend.json") }

// saveLocked writes the records; the root password is never kept.
func (b *Backend) saveLocked() error {
	if b.opts.StateDir == "" {
		return nil
	}
	data, err := json.Marshal(b.cts)
	if err != nil {
		return err
	}
	tmp := b.stateFile() + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, b.stateFile())
}

// Name is "fake".
func (b *Backend) Name() string { return "fake" }

// BuiltinTemplates lists the template every fake node has.
func (b *Backend) BuiltinTemplates() []string { return []string{Template} }

func (b *Backend) get(vmid int) (*record, error) {
	r, ok := b.cts[vmid]
	if !ok {
		return nil, fmt.Errorf("container %d does not exist", vmid)
	}
	return r, nil
}

func withoutSecrets(spec pvesim.ContainerSpec) pvesim.ContainerSpec {
	spec.RootPassword = ""
	return spec
}

// Create records the container.
func (b *Backend) Create(ctx context.Context, spec pvesim.ContainerSpec) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.cts[spec.VMID]; ok {
		return fmt.Errorf("container %d already exists", spec.VMID)
	}
	r := &record{Spec: withoutSecrets(spec)}
	g, err := b.guestLocked(spec.VMID, r)
	if err != nil {
		return err
	}
	g.configure(spec, true)
	b.cts[spec.VMID] = r
	return b.saveLocked()
}

// Clone records a copy of a container under a new spec.
func (b *Backend) Clone(ctx context.Context, source int, spec pvesim.ContainerSpec) error {
	b.mu.Lock()
	if _, err := b.get(source); err != nil {
		b.mu.Unlock()
		return err
	}
	b.mu.Unlock()
	return b.Create(ctx, spec)
}

// Reconfigure takes the new spec; a running container sees it at once.
func (b *Backend) Reconfigure(ctx context.Context, spec pvesim.ContainerSpec) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	r, err := b.get(spec.VMID)
	if err != nil {
		return err
	}
	keys := r.Spec.SSHKeys
	r.Spec = withoutSecrets(spec)
	if r.Spec.SSHKeys == "" {
		r.Spec.SSHKeys = keys
	}
	if g := b.guests[spec.VMID]; g != nil && r.Running {
		g.configure(r.Spec, false)
		g.readdress(eth0Address(r.Spec))
	}
	return b.saveLocked()
}

// Start marks the container running.
func (b *Backend) Start(ctx context.Context, spec pvesim.ContainerSpec) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	r, err := b.get(spec.VMID)
	if err != nil {
		return err
	}
	if r.Running {
		return fmt.Errorf("container %d is already running", spec.VMID)
	}
	r.Spec = withoutSecrets(spec)
	r.Running, r.StartedAt = true, time.Now()
	g, err := b.guestLocked(spec.VMID, r)
	if err != nil {
		return err
	}
	g.configure(r.Spec, false)
	g.start(eth0Address(r.Spec), r.StartedAt)
	return b.saveLocked()
}

// Shutdown stops the container after ShutdownDelay, or fails when that exceeds timeout.
func (b *Backend) Shutdown(ctx context.Context, vmid int, timeout time.Duration) error {
	if d := b.opts.ShutdownDelay; d > 0 {
		wait := min(d, timeout)
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return ctx.Err()
		}
		if d > timeout {
			return fmt.Errorf("container %d did not stop within %s", vmid, timeout)
		}
	}
	return b.Stop(ctx, vmid)
}

// Stop marks the container stopped.
func (b *Backend) Stop(ctx context.Context, vmid int) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	r, err := b.get(vmid)
	if err != nil {
		return err
	}
	r.Running, r.StartedAt = false, time.Time{}
	if g := b.guests[vmid]; g != nil {
		g.halt()
	}
	return b.saveLocked()
}

// Destroy forgets the container.
func (b *Backend) Destroy(ctx context.Context, vmid int) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.cts, vmid)
	if g := b.guests[vmid]; g != nil {
		g.halt()
		delete(b.guests, vmid)
	}
	return b.saveLocked()
}

// State reports whether the container runs; unknown containers do not.
func (b *Backend) State(ctx context.Context, vmid int) (bool, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	r, ok := b.cts[vmid]
	return ok && r.Running, nil
}

// Interfaces lists lo and one interface per network as `ip addr` inside a container would: a
// static address at once, a DHCP lease once DHCPDelay has passed since start, and the IPv6
// link-local address derived from the MAC.
func (b *Backend) Interfaces(ctx context.Context, vmid int) ([]pvesim.Interface, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	r, err := b.get(vmid)
	if err != nil {
		return nil, err
	}
	if !r.Running {
		return nil, fmt.Errorf("container %d is not running", vmid)
	}
	out := []pvesim.Interface{{
		Name: "lo", HWAddr: "00:00:00:00:00:00",
		Addresses: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/8"), netip.MustParsePrefix("::1/128")},
	}}
	for _, n := range r.Spec.Networks {
		in := pvesim.Interface{Name: n.Name, HWAddr: strings.ToLower(n.HWAddr)}
		switch {
		case n.DHCP && n.Lease.IsValid() && time.Since(r.StartedAt) >= b.opts.DHCPDelay:
			in.Addresses = append(in.Addresses, n.Lease)
		case !n.DHCP && n.Address.IsValid():
			in.Addresses = append(in.Addresses, n.Address)
		}
		if ll, ok := linkLocal(n.HWAddr); ok {
			in.Addresses = append(in.Addresses, ll)
		}
		out = append(out, in)
	}
	return out, nil
}

// linkLocal is the EUI-64 IPv6 link-local address of a MAC.
func linkLocal(mac string) (netip.Prefix, bool) {
	var m [6]byte
	if _, err := fmt.Sscanf(strings.ToLower(mac), "%02x:%02x:%02x:%02x:%02x:%02x", &m[0], &m[1], &m[2], &m[3], &m[4], &m[5]); err != nil {
		return netip.Prefix{}, false
	}
	a := [16]byte{0: 0xfe, 1: 0x80, 8: m[0] ^ 2, 9: m[1], 10: m[2], 11: 0xff, 12: 0xfe, 13: m[3], 14: m[4], 15: m[5]}
	return netip.PrefixFrom(netip.AddrFrom16(a), 64), true
}

// Close saves the state and stops the guests; the containers stay as they are.
func (b *Backend) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, g := range b.guests {
		g.halt()
	}
	return b.saveLocked()
}
