// Package lxc is pvesim's backend of real LXC containers. Each simulated CT is an LXC container
// under the backend's own lxcpath (<state-dir>/lxc), booted by the lxc-* tools from the OS
// template tarball: the tarball is extracted once into a cache and every container gets an
// overlay on top of it, mounted by the backend on the host (a full copy where the kernel cannot
// mount such overlays; see rootfs.go). A container's volumes live on the storage of its node
// (<state-dir>/lxc-nodes/<node>), and a migration moves them to the target's (images.go,
// move.go). Containers sit on a bridge owned by the backend, addressed from a link-local
// subnet only; a dnsmasq bound to that bridge hands each DHCP interface exactly the address the
// simulator leased to it.
//
// Close behaves like the API daemons of a Proxmox node going away: the DHCP server stops,
// running containers keep running (with their bridge and root filesystem), stopped ones are
// unmounted, the bridge goes once nothing runs, and everything on disk stays. New on the same
// state directory finds the containers, the bridge and the leases again.
package lxc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"templatemanager.dev/lxc-template-manager/internal/pvesim"
)

// Options configures a Backend.
type Options struct {
	// StateDir holds the containers, the template cache and the DHCP server's files.
	StateDir string
	// Bridge is the name of the host bridge standing for vmbr0 (at most 15 characters).
	Bridge string
	// Subnet is the link-local IPv4 subnet of the bridge; the host takes its first address.
	Subnet netip.Prefix
	Logger *slog.Logger
	// TemplateCache is where extracted OS templates live; by default <StateDir>/lxc-templates.
	// Simulators (and tests) on one host may share it.
	TemplateCache string
	// FullCopies gives every container a full copy of the template tree instead of an
	// overlay on it: slower to create and larger on disk. The backend does so by itself where
	// the state directory cannot carry an overlay.
	FullCopies bool
}

// Backend realises pvesim containers as LXC containers.
type Backend struct {
	lxcPath string
	bridge  string
	subnet  netip.Prefix
	log     *slog.Logger

	// nodesPath holds each node's storage, where the containers' volumes live (images.go).
	nodesPath string
	templates *templateCache
	cgroups   cgroupLayout
	overlay   bool // false: containers get a copy of the template instead of an overlay

	mu      sync.Mutex // guards records, homes, ctLocks, dhcp and closed
	records map[int]*record
	// homes holds the node whose storage has each container's volumes; none for a container
	// that keeps them in its LXC directory.
	homes   map[int]string
	ctLocks map[int]*sync.Mutex
	dhcp    *dhcpServer
	closed  bool
	// booted holds when the backend started each container it has not seen stop since, so
	// that a container that stops by itself is noticed and reported once.
	booted map[int]time.Time
}

var _ pvesim.Backend = (*Backend)(nil)

// record is what the backend keeps of a container next to its LXC configuration: the spec
// without the root password, and the lower layer its root filesystem was made from.
type record struct {
	Spec  pvesim.ContainerSpec `json:"spec"`
	Lower string               `json:"lower"`
	// Home is the node whose storage holds the container's volumes; empty for a container
	// made before volumes were per node, which keeps them in its LXC directory.
	Home string `json:"home,omitempty"`
}

// New prepares the state directory, the bridge and the DHCP server, and recovers the
// containers an earlier backend left in the same state directory.
func New(opts Options) (*Backend, error) {
	if opts.StateDir == "" {
		return nil, errors.New("state directory is required")
	}
	if err := checkNetwork(opts.Bridge, opts.Subnet); err != nil {
		return nil, err
	}
	if os.Geteuid() != 0 {
		return nil, errors.New("the lxc backend must run as root")
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	if err := checkHost(log); err != nil {
		return nil, err
	}
	state, err := filepath.Abs(opts.StateDir)
	if err != nil {
		return nil, err
	}
	cache := filepath.Join(state, "lxc-templates")
	if opts.TemplateCache != "" {
		if cache, err = filepath.Abs(opts.TemplateCache); err != nil {
			return nil, err
		}
	}
	b := &Backend{
		lxcPath:   filepath.Join(state, "lxc"),
		nodesPath: filepath.Join(state, "lxc-nodes"),
		bridge:    opts.Bridge,
		subnet:    opts.Subnet.Masked(),
		log:       log.With("backend", "lxc"),
		templates: newTemplateCache(cache),
		cgroups:   detectCgroups(),
		records:   map[int]*record{},
		homes:     map[int]string{},
		ctLocks:   map[int]*sync.Mutex{},
		booted:    map[int]time.Time{},
	}
	// The state directory may hold secrets of the simulator and stays as private as it is;
	// unprivileged containers get through it by an ACL entry (see grantSearch).
	if err := os.MkdirAll(state, 0o700); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(b.lxcPath, 0o755); err != nil {
		return nil, err
	}
	if err := os.Chmod(b.lxcPath, 0o755); err != nil {
		return nil, err
	}
	if err := writeCommonConfigs(b.lxcPath); err != nil {
		return nil, err
	}
	if !opts.FullCopies {
		if err := probeOverlay(state); err != nil {
			b.log.Warn("Overlay mounts are not available; containers get a copy of the template", "error", err)
		} else {
			b.overlay = true
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := b.loadRecords(); err != nil {
		return nil, err
	}
	if err := b.setupBridge(ctx); err != nil {
		return nil, err
	}
	b.dhcp = newDHCPServer(filepath.Join(state, "lxc-dhcp"), b.bridge, b.subnet, b.log)
	b.dhcp.hosts = b.leases()
	if err := b.dhcp.start(); err != nil {
		_ = b.teardownBridge(ctx)
		return nil, err
	}
	b.recoverContainers(ctx)
	b.log.Info("LXC backend ready", "lxcpath", b.lxcPath, "bridge", b.bridge, "subnet", b.subnet,
		"containers", len(b.records), "overlay", b.overlay)
	return b, nil
}

// Name is the value of --backend.
func (b *Backend) Name() string { return "lxc" }

// HostAddress is the bridge's address on the host, from which the host reaches containers.
func (b *Backend) HostAddress() netip.Addr { return hostAddress(b.subnet).Addr() }

// LXCPath is the lxcpath of the backend's containers (the -P of the lxc-* tools).
func (b *Backend) LXCPath() string { return b.lxcPath }

// Bridge is the name of the host bridge.
func (b *Backend) Bridge() string { return b.bridge }

// Close stops the DHCP server, unmounts the root filesystems of stopped containers and, once
// no container runs, removes the bridge and its fence. Running containers keep running on
// their bridge, as containers on a Proxmox node do while its API daemons restart; the next New
// adopts them. Everything on disk stays. Calling Close again after the containers stopped
// removes the bridge.
func (b *Backend) Close() error {
	b.mu.Lock()
	b.closed = true
	vmids := b.vmids()
	b.mu.Unlock()

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var running []int
	var errs []error
	for _, vmid := range vmids {
		// The lock lets an operation still under way finish with its mount.
		unlock := b.lock(vmid)
		ok, err := b.state(ctx, vmid)
		switch {
		case err == nil && ok:
			running = append(running, vmid)
		case err == nil:
			errs = append(errs, b.unmountRootfs(vmid))
		}
		unlock()
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	errs = append(errs, b.dhcp.stop())
	if len(running) > 0 {
		b.log.Info("Leaving running containers and their bridge to the next simulator", "running", running)
		return errors.Join(errs...)
	}
	return errors.Join(append(errs, b.teardownBridge(ctx))...)
}

// StopAll kills every running container, as a node losing power would; tests use it to
// leave nothing running behind.
func (b *Backend) StopAll(ctx context.Context) error {
	b.mu.Lock()
	vmids := b.vmids()
	b.mu.Unlock()
	var errs []error
	for _, vmid := range vmids {
		unlock := b.lock(vmid)
		errs = append(errs, b.stop(ctx, vmid))
		unlock()
	}
	return errors.Join(errs...)
}

// vmids lists the known containers. Callers hold b.mu.
func (b *Backend) vmids() []int {
	vmids := make([]int, 0, len(b.records))
	for vmid := range b.records {
		vmids = append(vmids, vmid)
	}
	return vmids
}

// lock serialises operations on one container.
func (b *Backend) lock(vmid int) (unlock func()) {
	b.mu.Lock()
	l, ok := b.ctLocks[vmid]
	if !ok {
		l = &sync.Mutex{}
		b.ctLocks[vmid] = l
	}
	b.mu.Unlock()
	l.Lock()
	return l.Unlock
}

func ctName(vmid int) string { return strconv.Itoa(vmid) }

func (b *Backend) ctDir(vmid int) string { return filepath.Join(b.lxcPath, ctName(vmid)) }

func (b *Backend) getRecord(vmid int) (*record, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, errors.New("lxc backend is closed")
	}
	r, ok := b.records[vmid]
	if !ok {
		return nil, fmt.Errorf("container %d does not exist", vmid)
	}
	return r, nil
}

// saveRecord writes the record (never the password) and updates the DHCP table.
func (b *Backend) saveRecord(vmid int, r *record) error {
	r.Spec.RootPassword = ""
	r.Home = b.home(vmid)
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	p := filepath.Join(b.ctDir(vmid), "pvesim.json")
	if err := os.WriteFile(p+".new", data, 0o600); err != nil {
		return err
	}
	if err := os.Rename(p+".new", p); err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.records[vmid] = r
	return b.dhcp.setHosts(b.leases())
}

func (b *Backend) dropRecord(vmid int) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.records, vmid)
	delete(b.homes, vmid)
	return b.dhcp.setHosts(b.leases())
}

func (b *Backend) loadRecords() error {
	entries, err := os.ReadDir(b.lxcPath)
	if err != nil {
		return err
	}
	for _, e := range entries {
		vmid, err := strconv.Atoi(e.Name())
		if err != nil || !e.IsDir() {
			continue
		}
		data, err := os.ReadFile(filepath.Join(b.lxcPath, e.Name(), "pvesim.json"))
		if err != nil {
			b.log.Warn("Ignoring container directory without a record", "dir", e.Name(), "error", err)
			continue
		}
		var r record
		if err := json.Unmarshal(data, &r); err != nil {
			return fmt.Errorf("container %d: %w", vmid, err)
		}
		b.records[vmid] = &r
		if r.Home != "" {
			b.homes[vmid] = r.Home
		}
	}
	return nil
}

// leases is the DHCP table of all containers: MAC → leased address. Callers hold b.mu.
func (b *Backend) leases() map[string]netip.Addr {
	hosts := map[string]netip.Addr{}
	for vmid, r := range b.records {
		for _, n := range r.Spec.Networks {
			if !n.DHCP || n.HWAddr == "" {
				continue
			}
			if !n.Lease.IsValid() {
				b.log.Warn("DHCP interface has no leased address", "vmid", vmid, "net", n.Index)
				continue
			}
			if !b.subnet.Contains(n.Lease.Addr()) {
				b.log.Warn("Leased address is outside the bridge's subnet", "vmid", vmid, "lease", n.Lease, "subnet", b.subnet)
				continue
			}
			hosts[normalizeMAC(n.HWAddr)] = n.Lease.Addr()
		}
	}
	return hosts
}

// recoverContainers puts containers that kept running (a simulator that ended without Close)
// back on the bridge, and unmounts what such a simulator left mounted for stopped ones.
func (b *Backend) recoverContainers(ctx context.Context) {
	for vmid, r := range b.records {
		running, err := b.state(ctx, vmid)
		if err != nil {
			continue
		}
		if !running {
			if err := b.unmountRootfs(vmid); err != nil {
				b.log.Warn("Cannot unmount root filesystem of a stopped container", "vmid", vmid, "error", err)
			}
			continue
		}
		for _, n := range r.Spec.Networks {
			if err := b.attachVeth(ctx, hostVeth(b.bridge, vmid, n.Index)); err != nil {
				b.log.Warn("Cannot reattach container interface", "vmid", vmid, "net", n.Index, "error", err)
			}
		}
	}
}
