package pvesim

import (
	"context"
	"net/netip"
	"time"
)

// Backend realises containers for the simulated API. The API layer owns the Proxmox view (configs,
// locks, tasks, persistence); a Backend owns what runs: a real LXC container or an in-memory
// stand-in. Every method is called from inside an asynchronous task, so it may take seconds.
type Backend interface {
	// Name is the value of --backend ("lxc" or "fake").
	Name() string
	// Create makes the container's root filesystem from the OS template and applies the hostname,
	// root password, SSH keys and network of spec. It must not start the container.
	Create(ctx context.Context, spec ContainerSpec) error
	// Reconfigure applies a changed spec (hostname, resources, network) to an existing container.
	// Running containers take what they can live; the rest applies at the next start.
	Reconfigure(ctx context.Context, spec ContainerSpec) error
	// Start boots the container. The address of a DHCP interface is leased by the simulator and
	// appears in Interfaces once the container is up.
	Start(ctx context.Context, spec ContainerSpec) error
	// Shutdown asks the container's init to power off and waits up to timeout; Stop kills it.
	Shutdown(ctx context.Context, vmid int, timeout time.Duration) error
	Stop(ctx context.Context, vmid int) error
	// Destroy removes the container and everything the backend kept for it.
	Destroy(ctx context.Context, vmid int) error
	// State reports whether the container is running, as the backend sees it now.
	State(ctx context.Context, vmid int) (running bool, err error)
	// Interfaces lists the container's network interfaces as `ip -json addr` inside it would.
	Interfaces(ctx context.Context, vmid int) ([]Interface, error)
	// Close releases what the backend holds (bridges, leases) without destroying containers,
	// so a restarted simulator finds them again.
	Close() error
}

// ContainerSpec is what a backend needs to know of a container's configuration.
type ContainerSpec struct {
	VMID         int
	Node         string
	Hostname     string
	OSTemplate   string // absolute path of the template tarball on this host
	RootPassword string // plain text as sent to the create call; empty keeps the template's
	SSHKeys      string // authorized_keys content
	Unprivileged bool
	Nesting      bool
	Cores        int
	MemoryMiB    int
	SwapMiB      int
	Networks     []NetworkSpec
	// Nameservers and SearchDomains go into the guest's resolv.conf at each start, as PVE's
	// pre-start hook writes it; none set leaves the guest's own file alone.
	Nameservers   []string
	SearchDomains []string
	// Mounts are the volume and bind mount points (mp[n]) in the order of their keys.
	Mounts []MountSpec
	// Entrypoint is the command run as the container's init (lxc.init.cmd); empty runs
	// /sbin/init. Env is the runtime environment (the config's NUL-separated env).
	Entrypoint string
	Env        []string
	// HaltSignal (lxc.signal.halt) and InitCwd (lxc.init.cwd) come from an OCI image's config;
	// empty keeps the backend's defaults.
	HaltSignal string
	InitCwd    string
	// Unmanaged is ostype unmanaged: PVE writes nothing into such a guest (no hostname,
	// network files, SSH keys or password), as for an application image without a known OS.
	Unmanaged bool
	// Devices are the passed-through device nodes (dev[n]) in the order of their keys.
	Devices []DeviceSpec
	// Fuse, Keyctl, Mknod and MountTypes are the feature flags beside nesting.
	Fuse, Keyctl, Mknod bool
	MountTypes          []string
}

// MountSpec is one parsed volume or bind mount point.
type MountSpec struct {
	Key    string // mp[n]
	Volume string // storage:volume-name, or the host directory of a bind mount
	Path   string // absolute path inside the container
	Size   int64  // bytes, 0 when unknown
	// Bind marks a bind mount of the host directory Volume.
	Bind     bool
	ReadOnly bool
}

// DeviceSpec is one parsed dev[n] entry.
type DeviceSpec struct {
	Key       string // dev[n]
	Path      string // device node on the node, the same path inside the container
	Mode      string // octal access mode, empty for Proxmox's 0660
	UID, GID  int    // owner inside the container
	DenyWrite bool
}

// NetworkSpec is one parsed net[n] entry.
type NetworkSpec struct {
	Index   int    // n of net[n]
	Name    string // interface name inside the container, e.g. eth0
	Bridge  string // Proxmox bridge name, e.g. vmbr0
	HWAddr  string
	DHCP    bool
	Address netip.Prefix // static address when !DHCP and valid
	Gateway netip.Addr
	// Lease is the address the simulator leased for a DHCP interface (its DHCP server hands out
	// exactly this address for HWAddr), so both backends report the same address behaviour.
	Lease netip.Prefix
	// HostManaged (net[n] host-managed=1) has the host configure the interface's address
	// (the static one, or the leased one for DHCP), for guests that run no network stack.
	HostManaged bool
}

// Interface is one entry of GET /nodes/{node}/lxc/{vmid}/interfaces.
type Interface struct {
	Name      string
	HWAddr    string
	Addresses []netip.Prefix
}
