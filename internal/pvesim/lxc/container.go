package lxc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"templatemanager.dev/lxc-template-manager/internal/pvesim"
)

// Create makes the container's root filesystem from the OS template and applies hostname,
// hosts, network configuration, SSH keys and root password. The container stays stopped.
func (b *Backend) Create(ctx context.Context, spec pvesim.ContainerSpec) (err error) {
	if spec.Hostname == "" {
		spec.Hostname = "CT" + strconv.Itoa(spec.VMID)
	}
	if err := validateSpec(spec); err != nil {
		return err
	}
	if !filepath.IsAbs(spec.OSTemplate) {
		return fmt.Errorf("OS template %q is not an absolute path", spec.OSTemplate)
	}
	unlock := b.lock(spec.VMID)
	defer unlock()
	if _, err := b.getRecord(spec.VMID); err == nil {
		return fmt.Errorf("container %d already exists", spec.VMID)
	} else if b.isClosed() {
		return err
	}
	dir := b.ctDir(spec.VMID)
	if _, err := os.Stat(dir); err == nil {
		return fmt.Errorf("container %d already exists in %s", spec.VMID, b.lxcPath)
	}
	started := time.Now()

	shift := 0
	if spec.Unprivileged {
		shift = idShift
		if err := b.prepareUnprivileged(ctx); err != nil {
			return err
		}
	}
	lower, err := b.templates.rootfs(ctx, spec.OSTemplate, shift)
	if err != nil {
		return err
	}
	if err := b.claimHome(spec.VMID, spec.Node); err != nil {
		return err
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		b.setHome(spec.VMID, "")
		return err
	}
	defer func() {
		// The container stays stopped: nothing of it stays mounted.
		err = errors.Join(err, b.unmountRootfs(spec.VMID))
		if err != nil {
			_ = b.dropVolumes(spec.VMID)
			_ = os.RemoveAll(dir)
		}
	}()
	if err := b.makeRootfs(ctx, spec.VMID, lower); err != nil {
		return fmt.Errorf("create root filesystem: %w", err)
	}
	if err := b.prepareStopped(ctx, spec, lower, true); err != nil {
		return err
	}
	if err := b.writeConfig(spec); err != nil {
		return err
	}
	if err := b.saveRecord(spec.VMID, &record{Spec: spec, Lower: lower}); err != nil {
		return err
	}
	b.log.Info("Created container", "vmid", spec.VMID, "hostname", spec.Hostname,
		"unprivileged", spec.Unprivileged, "took", time.Since(started).Round(time.Millisecond))
	return nil
}

// prepareStopped writes the configuration files into a stopped container; with secrets also
// root's SSH keys and password, which Proxmox sets only at creation. It leaves the root
// filesystem mounted, for the start that may follow; callers unmount it otherwise.
func (b *Backend) prepareStopped(ctx context.Context, spec pvesim.ContainerSpec, lower string, secrets bool) error {
	rootfs, files, err := b.openStopped(spec, lower)
	if err != nil {
		return err
	}
	defer files.Close()
	if spec.Unmanaged {
		return nil
	}
	if err := files.applyIdentity(spec); err != nil {
		return err
	}
	if !secrets {
		return nil
	}
	if err := files.applySSHKeys(spec.SSHKeys); err != nil {
		return err
	}
	return setRootPassword(ctx, rootfs, spec.RootPassword)
}

// openStopped mounts a stopped container's root filesystem and opens it for writing files as
// the container's root (ids shifted for an unprivileged container). It returns the mount point.
func (b *Backend) openStopped(spec pvesim.ContainerSpec, lower string) (string, *rootfsFiles, error) {
	shift := 0
	if spec.Unprivileged {
		shift = idShift
	}
	rootfs, err := b.mountRootfs(spec.VMID, lower)
	if err != nil {
		return "", nil, err
	}
	files, err := openRootfs(rootfs, shift)
	if err != nil {
		return "", nil, err
	}
	return rootfs, files, nil
}

func (b *Backend) writeConfig(spec pvesim.ContainerSpec) error {
	dir := b.ctDir(spec.VMID)
	p := filepath.Join(dir, "config")
	if err := os.WriteFile(p+".new", []byte(b.renderConfig(spec, b.rootfsPath(spec.VMID), dir)), 0o644); err != nil {
		return err
	}
	return os.Rename(p+".new", p)
}

// Reconfigure applies a changed hostname, network or resources. A stopped container gets new
// files; a running one takes resources, hostname and changed interfaces live. Interfaces
// added or removed, and MAC addresses, take effect at the next start.
func (b *Backend) Reconfigure(ctx context.Context, spec pvesim.ContainerSpec) error {
	unlock := b.lock(spec.VMID)
	defer unlock()
	r, err := b.getRecord(spec.VMID)
	if err != nil {
		return err
	}
	spec = b.merge(r, spec)
	if err := validateSpec(spec); err != nil {
		return err
	}
	running, err := b.state(ctx, spec.VMID)
	if err != nil {
		return err
	}
	if err := b.followNode(spec, running); err != nil {
		return err
	}
	if err := b.ensureVolumes(spec); err != nil {
		return err
	}
	if err := b.writeConfig(spec); err != nil {
		return err
	}
	identityChanged := spec.Hostname != r.Spec.Hostname || !slices.Equal(spec.Networks, r.Spec.Networks)
	old := r.Spec
	// The record goes first: it feeds the DHCP server, which must hand out a moved lease
	// before the guest's DHCP client asks again.
	if err := b.saveRecord(spec.VMID, &record{Spec: spec, Lower: r.Lower}); err != nil {
		return err
	}
	switch {
	case !running && identityChanged:
		err = errors.Join(b.prepareStopped(ctx, spec, r.Lower, false), b.unmountRootfs(spec.VMID))
	case running:
		err = b.reconfigureLive(ctx, old, spec)
	}
	if err != nil {
		return err
	}
	b.log.Info("Reconfigured container", "vmid", spec.VMID, "running", running)
	return nil
}

// merge keeps what cannot change after creation.
func (b *Backend) merge(r *record, spec pvesim.ContainerSpec) pvesim.ContainerSpec {
	spec.Unprivileged = r.Spec.Unprivileged
	spec.OSTemplate = r.Spec.OSTemplate
	spec.SSHKeys = r.Spec.SSHKeys
	spec.RootPassword = ""
	if spec.Hostname == "" {
		spec.Hostname = r.Spec.Hostname
	}
	// A DHCP interface whose MAC kept its lease keeps it when the caller passes none.
	spec.Networks = slices.Clone(spec.Networks)
	for i, n := range spec.Networks {
		if !n.DHCP || n.Lease.IsValid() {
			continue
		}
		for _, o := range r.Spec.Networks {
			if o.DHCP && o.Lease.IsValid() && normalizeMAC(o.HWAddr) == normalizeMAC(n.HWAddr) {
				spec.Networks[i].Lease = o.Lease
			}
		}
	}
	return spec
}

func (b *Backend) reconfigureLive(ctx context.Context, old, spec pvesim.ContainerSpec) error {
	if err := b.applyLimits(ctx, spec); err != nil {
		return err
	}
	// The hostname, like the DNS settings, reaches the guest at its next start, when PVE's
	// pre-start hook writes them.
	if err := b.hotplugMounts(ctx, old, spec); err != nil {
		return err
	}
	if slices.Equal(spec.Networks, old.Networks) {
		return nil
	}
	// Take changed interfaces down with the old configuration, so ifupdown removes what it
	// set up, and bring them up with the new one.
	var changed []string
	for _, n := range spec.Networks {
		for _, o := range old.Networks {
			if o.Index == n.Index && o.Name == n.Name && o.HWAddr == n.HWAddr && o != n {
				changed = append(changed, n.Name)
			}
		}
	}
	for _, name := range changed {
		if _, err := b.attach(ctx, spec.VMID, nil, "ifdown", "--force", name); err != nil {
			b.log.Warn("Cannot take interface down", "vmid", spec.VMID, "interface", name, "error", err)
		}
	}
	if err := b.writeInside(ctx, spec.VMID, "/etc/network/interfaces", renderInterfaces(spec.Networks), 0o644); err != nil {
		return err
	}
	for _, name := range changed {
		if _, err := b.attach(ctx, spec.VMID, nil, "ifup", name); err != nil {
			return fmt.Errorf("bring %s up: %w", name, err)
		}
	}
	return nil
}

// applyLimits changes a running container's cgroup limits. Raising a v1 memory limit needs
// the memory+swap limit first, lowering it needs it last; the other order is the retry.
func (b *Backend) applyLimits(ctx context.Context, spec pvesim.ContainerSpec) error {
	limits := b.cgroups.limits(spec)
	set := func(ls []limit) error {
		for _, l := range ls {
			if _, err := b.lxcTool(ctx, nil, "cgroup", spec.VMID, l.key, l.value); err != nil {
				return err
			}
		}
		return nil
	}
	if err := set(limits); err != nil {
		slices.Reverse(limits)
		if err2 := set(limits); err2 != nil {
			return fmt.Errorf("set resource limits: %w", err2)
		}
	}
	return nil
}

// Start mounts the container's root filesystem and boots the container with the configuration
// of spec.
func (b *Backend) Start(ctx context.Context, spec pvesim.ContainerSpec) (err error) {
	unlock := b.lock(spec.VMID)
	defer unlock()
	r, err := b.getRecord(spec.VMID)
	if err != nil {
		return err
	}
	spec = b.merge(r, spec)
	if err := validateSpec(spec); err != nil {
		return err
	}
	running, err := b.state(ctx, spec.VMID)
	if err != nil {
		return err
	}
	if running {
		return fmt.Errorf("container %d is already running", spec.VMID)
	}
	if err := b.followNode(spec, false); err != nil {
		return err
	}
	if _, err := os.Stat(r.Lower); err != nil {
		return fmt.Errorf("template tree of container %d: %w", spec.VMID, err)
	}
	if spec.Unprivileged {
		if err := b.prepareUnprivileged(ctx); err != nil {
			return err
		}
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, b.unmountRootfs(spec.VMID))
		}
	}()
	// Like PVE's pre-start hook: hostname, network and DNS are written at every start.
	if err := b.prepareStopped(ctx, spec, r.Lower, false); err != nil {
		return err
	}
	if err := b.ensureVolumes(spec); err != nil {
		return err
	}
	if err := b.ensureDevices(spec); err != nil {
		return err
	}
	if err := b.writeConfig(spec); err != nil {
		return err
	}
	if err := b.saveRecord(spec.VMID, &record{Spec: spec, Lower: r.Lower}); err != nil {
		return err
	}
	started := time.Now()
	logFile := filepath.Join(b.ctDir(spec.VMID), "lxc.log")
	_ = os.Remove(logFile)
	if _, err := b.lxcTool(ctx, nil, "start", spec.VMID, "-d", "-o", logFile, "-l", "ERROR"); err != nil {
		if data, rerr := os.ReadFile(logFile); rerr == nil && len(data) > 0 {
			return fmt.Errorf("start container %d: %w\n%s", spec.VMID, err, lastLines(strings.TrimSpace(string(data)), 8))
		}
		return fmt.Errorf("start container %d: %w", spec.VMID, err)
	}
	b.log.Info("Started container", "vmid", spec.VMID, "took", time.Since(started).Round(time.Millisecond))
	b.mu.Lock()
	b.booted[spec.VMID] = time.Now()
	b.mu.Unlock()
	return nil
}

// Shutdown asks systemd inside the container to power off, waits up to timeout and unmounts
// its root filesystem.
func (b *Backend) Shutdown(ctx context.Context, vmid int, timeout time.Duration) error {
	unlock := b.lock(vmid)
	defer unlock()
	if _, err := b.getRecord(vmid); err != nil {
		return err
	}
	return b.shutdown(ctx, vmid, timeout)
}

func (b *Backend) shutdown(ctx context.Context, vmid int, timeout time.Duration) error {
	b.forgetBoot(vmid)
	running, err := b.state(ctx, vmid)
	if err != nil {
		return err
	}
	if !running {
		return b.unmountRootfs(vmid)
	}
	if timeout <= 0 {
		timeout = 60 * time.Second
	}
	secs := int(math.Ceil(timeout.Seconds()))
	started := time.Now()
	_, err = b.lxcTool(ctx, nil, "stop", vmid, "--nokill", "-t", strconv.Itoa(secs))
	if running, serr := b.state(ctx, vmid); serr == nil && !running {
		b.log.Info("Container powered off", "vmid", vmid, "took", time.Since(started).Round(time.Millisecond))
		return b.unmountRootfs(vmid)
	}
	if err == nil {
		err = errors.New("still running")
	}
	return fmt.Errorf("container %d did not power off within %s: %w", vmid, timeout, err)
}

// Stop kills the container and unmounts its root filesystem.
func (b *Backend) Stop(ctx context.Context, vmid int) error {
	unlock := b.lock(vmid)
	defer unlock()
	if _, err := b.getRecord(vmid); err != nil {
		return err
	}
	return b.stop(ctx, vmid)
}

func (b *Backend) stop(ctx context.Context, vmid int) error {
	b.forgetBoot(vmid)
	_, err := b.lxcTool(ctx, nil, "stop", vmid, "-k")
	switch {
	case err == nil:
		b.log.Info("Killed container", "vmid", vmid)
	case exitCode(err) != 2: // 2: not running
		return err
	}
	return b.unmountRootfs(vmid)
}

// Destroy kills the container if needed and removes its volumes, its directory, its DHCP
// entries and its record. The shared template tree stays.
func (b *Backend) Destroy(ctx context.Context, vmid int) error {
	unlock := b.lock(vmid)
	defer unlock()
	if _, err := b.getRecord(vmid); err != nil {
		return err
	}
	if err := b.stop(ctx, vmid); err != nil {
		return err
	}
	if _, err := b.lxcTool(ctx, nil, "destroy", vmid); err != nil {
		b.log.Warn("lxc-destroy failed; removing the directory", "vmid", vmid, "error", err)
	}
	if err := b.dropVolumes(vmid); err != nil {
		return err
	}
	if err := os.RemoveAll(b.ctDir(vmid)); err != nil {
		return err
	}
	if err := b.dropRecord(vmid); err != nil {
		return err
	}
	b.log.Info("Destroyed container", "vmid", vmid)
	return nil
}

// State reports whether LXC sees the container in any state but stopped.
func (b *Backend) State(ctx context.Context, vmid int) (bool, error) {
	if _, err := b.getRecord(vmid); err != nil {
		return false, err
	}
	running, err := b.state(ctx, vmid)
	if err == nil && !running {
		b.noticeStop(vmid)
	}
	return running, err
}

// noticeStop reports, once, a container that stopped without being asked to — its init died,
// as systemd does at boot when it runs out of inotify instances, or it powered itself off —
// with the end of its console log. Its root filesystem stays mounted for the next start.
func (b *Backend) noticeStop(vmid int) {
	b.mu.Lock()
	since, ok := b.booted[vmid]
	delete(b.booted, vmid)
	b.mu.Unlock()
	if !ok {
		return
	}
	console, _ := os.ReadFile(filepath.Join(b.ctDir(vmid), "console.log"))
	b.log.Warn("Container stopped by itself", "vmid", vmid, "ran", time.Since(since).Round(time.Second),
		"console", lastLines(strings.TrimSpace(string(console)), 10))
}

func (b *Backend) forgetBoot(vmid int) {
	b.mu.Lock()
	delete(b.booted, vmid)
	b.mu.Unlock()
}

func (b *Backend) state(ctx context.Context, vmid int) (bool, error) {
	out, err := b.lxcTool(ctx, nil, "info", vmid, "-s", "-H")
	if err != nil {
		return false, fmt.Errorf("state of container %d: %w", vmid, err)
	}
	return strings.TrimSpace(string(out)) != "STOPPED", nil
}

// Interfaces reads the container's interfaces with `ip -json addr` in its network namespace,
// so a DHCP address appears only once the container's DHCP client really holds it.
func (b *Backend) Interfaces(ctx context.Context, vmid int) ([]pvesim.Interface, error) {
	if _, err := b.getRecord(vmid); err != nil {
		return nil, err
	}
	running, err := b.state(ctx, vmid)
	if err != nil {
		return nil, err
	}
	if !running {
		return nil, fmt.Errorf("container %d is not running", vmid)
	}
	// As PVE's get_interfaces: the host's ip in the container's network namespace, so a
	// guest without iproute2 (an application image) is read as well.
	pid, err := b.initPID(ctx, vmid)
	if err != nil {
		return nil, err
	}
	out, err := run(ctx, nil, "nsenter", "-t", strconv.Itoa(pid), "--net", "--", "ip", "-json", "addr", "show")
	if err != nil {
		return nil, err
	}
	return parseInterfaces(out)
}

func parseInterfaces(out []byte) ([]pvesim.Interface, error) {
	var links []struct {
		IfName   string `json:"ifname"`
		Address  string `json:"address"`
		AddrInfo []struct {
			Local     string `json:"local"`
			PrefixLen int    `json:"prefixlen"`
		} `json:"addr_info"`
	}
	if err := json.Unmarshal(out, &links); err != nil {
		return nil, fmt.Errorf("parse ip -json addr: %w", err)
	}
	ifaces := make([]pvesim.Interface, 0, len(links))
	for _, l := range links {
		iface := pvesim.Interface{Name: l.IfName, HWAddr: l.Address}
		for _, a := range l.AddrInfo {
			addr, err := netip.ParseAddr(a.Local)
			if err != nil {
				continue
			}
			iface.Addresses = append(iface.Addresses, netip.PrefixFrom(addr, a.PrefixLen))
		}
		ifaces = append(ifaces, iface)
	}
	return ifaces, nil
}

func (b *Backend) isClosed() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.closed
}

func normalizeMAC(mac string) string {
	if hw, err := net.ParseMAC(mac); err == nil {
		return hw.String()
	}
	return strings.ToLower(mac)
}

// prepareUnprivileged makes sure the host can map the ids of unprivileged containers and that
// their root can reach the container directories. The template trees it never sees itself:
// the overlay reads them with the rights of the host's root, which mounted it.
func (b *Backend) prepareUnprivileged(ctx context.Context) error {
	if err := ensureSubordinateIDs(ctx, b.log); err != nil {
		return err
	}
	return grantSearch(b.lxcPath, idShift)
}
