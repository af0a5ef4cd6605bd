// Package proxmox is the controller's view of a Proxmox VE cluster: a small interface in the
// domain's words and one implementation over go-proxmox.
//
// Mutating calls return the task's UPID and never wait for it; callers record the UPID (in
// status.operation) and poll TaskStatus on later reconciles. Failures are classified into
// Kinds (errors.Is(err, ErrLocked), …); transient ones are retried with backoff inside each
// call, bounded so a reconcile never blocks for long.
package proxmox

import (
	"context"
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"time"
)

// Client is everything the controller asks of a Proxmox VE cluster.
type Client interface {
	// Version reports the Proxmox VE version of the node answering the API.
	Version(ctx context.Context) (Version, error)
	// Nodes lists the cluster's nodes with their state and memory.
	Nodes(ctx context.Context) ([]Node, error)
	// MaintenanceNodes lists the nodes the HA manager has in maintenance mode (ha-manager
	// crm-command node-maintenance enable), which take no new guests.
	MaintenanceNodes(ctx context.Context) ([]string, error)
	// Storages lists the storages a node sees.
	Storages(ctx context.Context, node string) ([]Storage, error)
	// OSTemplates lists the container templates (vztmpl content) on a node's storage.
	OSTemplates(ctx context.Context, node, storage string) ([]OSTemplate, error)
	// NextVMID returns the lowest free VMID. It does not reserve it.
	NextVMID(ctx context.Context) (int, error)
	// VMIDFree reports whether vmid is unused cluster-wide at the time of the check.
	VMIDFree(ctx context.Context, vmid int) (bool, error)
	// Guests lists every container and VM of the cluster in one request.
	Guests(ctx context.Context) ([]Guest, error)
	// ContainerStatus reads a container's live state.
	ContainerStatus(ctx context.Context, node string, vmid int) (ContainerStatus, error)
	// ContainerConfig reads a container's configuration.
	ContainerConfig(ctx context.Context, node string, vmid int) (ContainerConfig, error)
	// CreateContainer starts the create task. It is never retried once the request may have
	// reached Proxmox; an error with IsOutcomeUnknown means the container may exist.
	CreateContainer(ctx context.Context, node string, spec CreateSpec) (UPID, error)
	// StartContainer starts the start task. A container that is already running is success
	// with an empty UPID.
	StartContainer(ctx context.Context, node string, vmid int) (UPID, error)
	// CloneContainer starts the clone task of a container or container template.
	CloneContainer(ctx context.Context, node string, vmid int, spec CloneSpec) (UPID, error)
	// ConvertToTemplate turns a stopped container into a template (synchronous in Proxmox).
	ConvertToTemplate(ctx context.Context, node string, vmid int) error
	// StopContainer starts the (hard) stop task. A container that is not running is success
	// with an empty UPID.
	StopContainer(ctx context.Context, node string, vmid int) (UPID, error)
	// ShutdownContainer starts a clean shutdown task that waits up to timeout inside Proxmox,
	// then stops hard if forceStop. A container that is not running is success with an empty
	// UPID.
	ShutdownContainer(ctx context.Context, node string, vmid int, timeout time.Duration, forceStop bool) (UPID, error)
	// ResizeDisk starts a task that grows rootfs or mpN to size ("12G", or "+2G" for a delta).
	// Proxmox refuses a shrink, and a size the disk already has; asked again after an answer
	// was lost, the latter means the first request did it, so it returns no task and no error.
	ResizeDisk(ctx context.Context, node string, vmid int, disk, size string) (UPID, error)
	// DeleteContainer starts the destroy task. A container that does not exist is ErrNotFound.
	DeleteContainer(ctx context.Context, node string, vmid int, opts DeleteOptions) (UPID, error)
	// UpdateContainerConfig changes a container's configuration. Proxmox applies it
	// synchronously, so there is no task.
	UpdateContainerConfig(ctx context.Context, node string, vmid int, update ConfigUpdate) error
	// ContainerPending reads a container's configuration both as it is in effect and as it will
	// be once the changes Proxmox keeps pending until the next start are applied.
	ContainerPending(ctx context.Context, node string, vmid int) (PendingConfig, error)
	// RebootContainer starts a task that shuts the container down and starts it again, which
	// applies pending changes. A container that is not running is an error.
	RebootContainer(ctx context.Context, node string, vmid int, timeout time.Duration) (UPID, error)
	// ContainerInterfaces lists a running container's network interfaces and addresses; a
	// stopped container has none.
	ContainerInterfaces(ctx context.Context, node string, vmid int) ([]Interface, error)
	// MigrateContainer starts the task that moves a container to another node of the cluster
	// (POST /nodes/{node}/lxc/{vmid}/migrate), a running one by a restart migration. It is
	// not retried once the request may have reached Proxmox: a repeat would find the
	// container locked or gone from node; an error with IsOutcomeUnknown means it may move.
	MigrateContainer(ctx context.Context, node string, vmid int, opts MigrateOptions) (UPID, error)
	// Snapshots lists a container's snapshots, oldest first; the present state ("current")
	// is not one of them.
	Snapshots(ctx context.Context, node string, vmid int) ([]Snapshot, error)
	// CreateSnapshot starts the task that snapshots a container. It is not retried once the
	// request may have reached Proxmox. Proxmox refuses, in the task, a container with a
	// volume that cannot be snapshotted (see HasFeature).
	CreateSnapshot(ctx context.Context, node string, vmid int, name, description string) (UPID, error)
	// DeleteSnapshot starts the task that deletes a snapshot. A snapshot that does not exist
	// is ErrNotFound. It is not retried once the request may have reached Proxmox.
	DeleteSnapshot(ctx context.Context, node string, vmid int, name string) (UPID, error)
	// RollbackSnapshot starts the task that stops the container, puts it back to the
	// snapshot and, with start, boots it. It is not retried once the request may have
	// reached Proxmox.
	RollbackSnapshot(ctx context.Context, node string, vmid int, name string, start bool) (UPID, error)
	// HasFeature reports whether every volume of the container supports a feature: snapshot,
	// clone or copy.
	HasFeature(ctx context.Context, node string, vmid int, feature string) (bool, error)
	// Backup starts a vzdump task that backs a container up. It is not retried once the
	// request may have reached Proxmox; an error with IsOutcomeUnknown means a backup may be
	// under way. A container that is not on node is ErrNotFound.
	Backup(ctx context.Context, node string, opts BackupOptions) (UPID, error)
	// Backups lists the backups on a node's storage, of one container or, with vmid 0, of all.
	Backups(ctx context.Context, node, storage string, vmid int) ([]BackupArchive, error)
	// DeleteVolume starts the task that deletes a volume, such as a backup, from the storage
	// its volid names. A volume that does not exist is ErrNotFound. The UPID is empty when
	// Proxmox answered that the deletion is already done.
	DeleteVolume(ctx context.Context, node, volid string) (UPID, error)
	// PullOCIImage starts the task that copies an OCI image (REGISTRY/IMAGE:TAG) into an
	// oci-archive FILENAME.tar (normalised by Proxmox) in a storage's template directory
	// (oci-registry-pull, Proxmox VE 9.1). It is never retried once the request may have
	// reached Proxmox; a file of that name already there is ErrAlreadyExists, as Proxmox
	// never overwrites one.
	PullOCIImage(ctx context.Context, node, storage, reference, filename string) (UPID, error)
	// RestoreContainer starts the task that makes a container from a backup. It is never
	// retried once the request may have reached Proxmox; an error with IsOutcomeUnknown
	// means the container may exist.
	RestoreContainer(ctx context.Context, node string, spec RestoreSpec) (UPID, error)
	// FirewallOptions reads a container's firewall options.
	FirewallOptions(ctx context.Context, node string, vmid int) (FirewallOptions, error)
	// UpdateFirewallOptions changes a container's firewall options; with a digest, a
	// concurrent change is ErrConflict.
	UpdateFirewallOptions(ctx context.Context, node string, vmid int, update FirewallOptionsUpdate) error
	// FirewallRules reads a container's firewall rules in order, with the list's digest.
	FirewallRules(ctx context.Context, node string, vmid int) (FirewallRules, error)
	// CreateFirewallRule adds a rule. Proxmox puts it first (position 0) and checks no
	// digest. It is not retried once the request may have reached Proxmox.
	CreateFirewallRule(ctx context.Context, node string, vmid int, rule FirewallRule) error
	// UpdateFirewallRule makes the rule at pos the given one: its set fields are written,
	// its empty ones deleted. With a digest, a concurrent change of the list is ErrConflict; a
	// position past the end is ErrNotFound.
	UpdateFirewallRule(ctx context.Context, node string, vmid, pos int, rule FirewallRule, digest string) error
	// MoveFirewallRule moves the rule at pos before the rule now at to, or last when to is
	// past the end.
	MoveFirewallRule(ctx context.Context, node string, vmid, pos, to int, digest string) error
	// DeleteFirewallRule removes the rule at pos; the rules after it move up one.
	DeleteFirewallRule(ctx context.Context, node string, vmid, pos int, digest string) error
	// HAResource reads the container's HA resource; one HA does not manage is ErrNotFound.
	HAResource(ctx context.Context, vmid int) (HAResource, error)
	// CreateHAResource makes the container an HA resource with the state and limits given.
	CreateHAResource(ctx context.Context, vmid int, h HAResource) error
	// UpdateHAResource sets the state and limits (unset limits back to their defaults);
	// with a digest, a concurrent change of the HA resources is ErrConflict.
	UpdateHAResource(ctx context.Context, vmid int, h HAResource) error
	// DeleteHAResource takes the container out of HA.
	DeleteHAResource(ctx context.Context, vmid int) error
	// HARule reads a node-affinity rule of the HA stack; one that does not exist is ErrNotFound.
	HARule(ctx context.Context, id string) (HARule, error)
	// CreateHARule makes the node-affinity rule; its resources must be HA resources.
	CreateHARule(ctx context.Context, r HARule) error
	// UpdateHARule sets the rule's resources, nodes, strict and comment and enables it; with a
	// digest, a concurrent change of the rules is ErrConflict.
	UpdateHARule(ctx context.Context, r HARule) error
	// DeleteHARule removes the rule; one that does not exist is no error.
	DeleteHARule(ctx context.Context, id string) error
	// PoolMembers lists the guests of the resource pool; ok is false when it does not exist.
	PoolMembers(ctx context.Context, pool string) (vmids []int, ok bool, err error)
	// AddToPool puts the container into the pool, taking it out of any other.
	AddToPool(ctx context.Context, pool string, vmid int) error
	// RemoveFromPool takes the container out of the pool.
	RemoveFromPool(ctx context.Context, pool string, vmid int) error
	// TaskStatus reads the state of a task.
	TaskStatus(ctx context.Context, upid UPID) (TaskStatus, error)
	// TaskLogTail returns up to the last n lines of a task's log.
	TaskLogTail(ctx context.Context, upid UPID, n int) ([]string, error)
}

// Version of Proxmox VE.
type Version struct {
	Release string // "9.1"
	Version string // "9.1.3"
	RepoID  string
}

// Node is one cluster node.
type Node struct {
	Name string
	// Status is "online", "offline" or "unknown".
	Status string
	// CPU is the CPU usage as a fraction of MaxCPU.
	CPU        float64
	MaxCPU     int
	MaxMemory  uint64 // bytes
	Memory     uint64 // bytes in use
	FreeMemory uint64 // MaxMemory - Memory
}

// Online reports whether the node can take work.
func (n Node) Online() bool { return n.Status == "online" }

// Storage is a storage as one node sees it.
type Storage struct {
	Name    string
	Type    string   // dir, lvmthin, zfspool, nfs, …
	Content []string // allowed content types: vztmpl, rootdir, images, iso, backup, …
	Active  bool
	Enabled bool
	Shared  bool
	Total   uint64 // bytes
	Used    uint64
	Avail   uint64
}

// HasContent reports whether the storage holds content of the given type (e.g. "vztmpl").
func (s Storage) HasContent(content string) bool { return slices.Contains(s.Content, content) }

// OSTemplate is a container template file on a storage.
type OSTemplate struct {
	Node    string
	Storage string
	// VolID is what CreateSpec.OSTemplate takes, e.g.
	// "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst".
	VolID  string
	Format string // tzst, tgz, txz, …
	Size   uint64
}

// Guest is one container or VM as the cluster-wide resource list shows it. Name and status may
// lag the truth by a few seconds; lock and tags are live.
type Guest struct {
	ID     string // "lxc/100"
	Type   string // "lxc" or "qemu"
	Node   string
	VMID   int
	Name   string
	Status string // running, stopped, unknown
	Tags   []string
	Lock   string
	// Template is set for templates (which cannot be started).
	Template  bool
	CPUs      float64 // maxcpu
	CPU       float64 // usage fraction
	MaxMemory uint64
	Memory    uint64
	MaxDisk   uint64
	Disk      uint64
	Uptime    time.Duration
	// Seen is when the list was read: Seen minus Uptime is when a running guest started.
	Seen    time.Time
	Pool    string
	HAState string
}

// IsContainer reports whether the guest is an LXC container.
func (g Guest) IsContainer() bool { return g.Type == "lxc" }

// HasTag reports whether the guest carries tag.
func (g Guest) HasTag(tag string) bool { return slices.Contains(g.Tags, tag) }

// ContainerStatus is a container's live state.
type ContainerStatus struct {
	VMID      int
	Name      string
	Status    string // running or stopped
	Lock      string
	Tags      []string
	Template  bool
	CPUs      float64
	MaxMemory uint64
	Memory    uint64
	MaxSwap   uint64
	MaxDisk   uint64
	Disk      uint64
	Uptime    time.Duration
	PID       int
}

// Running reports whether the container is running.
func (s ContainerStatus) Running() bool { return s.Status == "running" }

// ContainerConfig is a container's configuration. During creation it holds only Lock
// ("create") and Digest.
type ContainerConfig struct {
	Hostname     string
	Description  string
	Tags         []string
	Cores        int // 0 when unset (all host cores)
	MemoryMiB    int // 0 when unset (Proxmox default 512)
	SwapMiB      int
	RootFS       RootFS
	Features     Features
	Unprivileged bool
	OnBoot       bool
	Template     bool
	Lock         string
	Digest       string
	OSType       string
	Arch         string
	Nameservers  []string
	SearchDomain string
	// Nets maps n of net[n] to the parsed interface.
	Nets map[int]NetConfig
	// MountPoints maps n of mp[n] to the parsed mount point (its path is Options["mp"]).
	MountPoints map[int]RootFS
	// Raw holds every key as text (numbers and booleans in decimal), for anything not parsed
	// above.
	Raw map[string]string
}

// RootFS is the parsed rootfs property, e.g. "local-lvm:vm-100-disk-0,size=8G".
type RootFS struct {
	Volume string
	Size   string // as Proxmox wrote it, e.g. "8G"
	// SizeBytes is Size in bytes, 0 when unknown.
	SizeBytes uint64
	Options   map[string]string
}

// Features are the container's feature flags.
type Features struct {
	Nesting    bool
	Keyctl     bool
	Fuse       bool
	Mknod      bool
	ForceRWSys bool
	Mount      []string // allowed filesystem types
}

// NetConfig is one net[n] property.
type NetConfig struct {
	Name     string // interface name inside the container, e.g. eth0
	Bridge   string
	HWAddr   string
	IP       string // CIDR, "dhcp" or "manual"
	Gateway  string
	IP6      string // CIDR, "auto", "dhcp" or "manual"
	Gateway6 string
	Firewall bool
	MTU      int
	Tag      int // VLAN tag
	Rate     string
	LinkDown bool
	Type     string // veth
	// Extra holds keys this type does not know, written back unchanged.
	Extra map[string]string
}

// CreateSpec is what a new container is made of.
type CreateSpec struct {
	VMID int
	// OSTemplate is a volid, e.g. "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst".
	OSTemplate  string
	Hostname    string
	Description string
	Tags        []string
	Cores       int // 0 leaves the Proxmox default
	MemoryMiB   int // 0 leaves the Proxmox default
	// SwapMiB is the swap size; nil leaves the Proxmox default (0 means no swap).
	SwapMiB *int
	// Storage holds the root filesystem.
	Storage   string
	RootFSGiB int
	// Privileged creates a privileged container; the default is unprivileged.
	Privileged    bool
	Features      Features
	Nets          []NetConfig // net0, net1, … in order
	Nameservers   []string
	SearchDomain  string
	Password      string // root password; write-only in Proxmox
	SSHPublicKeys []string
	OnBoot        bool
	// Passthrough holds bind mount points (mp[n]) and devices (dev[n]) as Proxmox writes them:
	// what only root@pam may set is asked for with the create, so that a refusal leaves nothing.
	Passthrough map[string]string
	// Start boots the container at the end of the create task.
	Start bool
	Pool  string
}

// String describes the spec without its password.
func (s CreateSpec) String() string {
	return fmt.Sprintf("CT %d (%s from %s, %d keys, password set: %t)",
		s.VMID, s.Hostname, s.OSTemplate, len(s.SSHPublicKeys), s.Password != "")
}

// GoString keeps the password out of %#v as well.
func (s CreateSpec) GoString() string { return s.String() }

// ConfigUpdate is a change to a container's configuration; nil fields stay as they are.
type ConfigUpdate struct {
	Hostname    *string
	Description *string
	// Tags replaces the tags when non-nil; an empty non-nil slice removes them all.
	Tags      []string
	Cores     *int
	MemoryMiB *int
	SwapMiB   *int
	Features  *Features
	OnBoot    *bool
	// Nets sets net[n] for each key.
	Nets map[int]NetConfig
	// Nameservers replaces the DNS servers when non-nil; empty removes them.
	Nameservers []string
	// Set writes other options as Proxmox's text, e.g. "startup", "protection" or "mp0".
	Set map[string]string
	// Delete removes the named settings (e.g. "net1").
	Delete []string
	// Digest, when set, makes Proxmox refuse the change if the configuration changed since it
	// was read (ErrConflict).
	Digest string
}

// PendingConfig is a container's configuration with its pending changes.
type PendingConfig struct {
	// Current is the configuration in effect; Next is it with the pending changes applied.
	Current, Next ContainerConfig
	// Pending names the options whose change or deletion waits for the next start.
	Pending []string
	// Digest of the whole configuration, for a write that must not overwrite a concurrent edit.
	Digest string
}

// DeleteOptions tune the destroy task.
type DeleteOptions struct {
	// Purge also removes the container from backup jobs, replication and HA.
	Purge bool
	// Force destroys a running container (stopping it first).
	Force bool
	// DestroyUnreferencedDisks also removes disks with the container's VMID that the
	// configuration does not reference.
	DestroyUnreferencedDisks bool
}

// Interface is one network interface of a running container.
type Interface struct {
	Name      string
	HWAddr    string
	Addresses []netip.Prefix
}

// IPv4 returns the interface's IPv4 addresses.
func (i Interface) IPv4() []netip.Prefix {
	var out []netip.Prefix
	for _, p := range i.Addresses {
		if p.Addr().Is4() {
			out = append(out, p)
		}
	}
	return out
}

// TaskStatus is the state of an asynchronous task.
type TaskStatus struct {
	UPID      UPID
	Node      string
	Type      string // vzcreate, vzstart, …
	ID        string // the VMID for container tasks
	User      string
	StartTime time.Time
	// Running is true until the task stops.
	Running bool
	// ExitStatus is "OK" on success, the error text otherwise; empty while running.
	ExitStatus string
}

// Done reports whether the task has stopped.
func (t TaskStatus) Done() bool { return !t.Running }

// Succeeded reports whether the task stopped with exit status "OK" or "WARNINGS: n": Proxmox
// VE counts a task that logged warnings as a success (pve-common's status_is_error), and so do
// we, although go-proxmox does not.
func (t TaskStatus) Succeeded() bool {
	return !t.Running && (t.ExitStatus == "OK" || warningsStatus.MatchString(t.ExitStatus))
}

// Warnings is the number of warnings a task that succeeded with "WARNINGS: n" logged.
func (t TaskStatus) Warnings() int {
	m := warningsStatus.FindStringSubmatch(t.ExitStatus)
	if m == nil {
		return 0
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

var warningsStatus = regexp.MustCompile(`^WARNINGS: (\d+)$`)

// Err returns nil while the task runs or after it succeeded, and a *TaskError carrying the
// exit status otherwise.
func (t TaskStatus) Err() error {
	if t.Running || t.Succeeded() {
		return nil
	}
	kind, _ := classifyMessage(t.ExitStatus)
	return &TaskError{UPID: t.UPID, Type: t.Type, ExitStatus: t.ExitStatus, Kind: kind}
}
