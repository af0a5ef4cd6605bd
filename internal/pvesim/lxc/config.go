package lxc

import (
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"

	"templatemanager.dev/lxc-template-manager/internal/pvesim"
)

// idShift is where unprivileged containers' ids start on the host, as on Proxmox.
const (
	idShift = 100000
	idCount = 65536
)

// cgroupLayout says through which hierarchy resource limits go: on a cgroup v1 (or hybrid)
// host memory and cpuset are v1 controllers, on a unified host they are v2 ones.
type cgroupLayout struct {
	memoryV1, memswV1, cpusetV1 bool
	memoryV2, swapV2, cpusetV2  bool
	// devicesV1: the devices controller is a v1 one (no BPF device programs).
	devicesV1 bool
}

func detectCgroups() cgroupLayout {
	exists := func(p string) bool { _, err := os.Stat(p); return err == nil }
	l := cgroupLayout{
		memoryV1:  exists("/sys/fs/cgroup/memory/memory.limit_in_bytes"),
		memswV1:   exists("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes"),
		cpusetV1:  exists("/sys/fs/cgroup/cpuset/cpuset.cpus"),
		devicesV1: exists("/sys/fs/cgroup/devices/devices.allow"),
	}
	if data, err := os.ReadFile("/sys/fs/cgroup/cgroup.controllers"); err == nil {
		for _, c := range strings.Fields(string(data)) {
			switch c {
			case "memory":
				l.memoryV2, l.swapV2 = true, true
			case "cpuset":
				l.cpusetV2 = true
			}
		}
	}
	return l
}

// limit is one cgroup setting; key is the controller file name.
type limit struct {
	v2    bool
	key   string
	value string
}

func (l limit) configKey() string {
	if l.v2 {
		return "lxc.cgroup2." + l.key
	}
	return "lxc.cgroup." + l.key
}

// limits turns cores, memory and swap into cgroup settings, in the order a fresh cgroup
// accepts them (v1 refuses a memory+swap limit below the memory limit).
func (c cgroupLayout) limits(spec pvesim.ContainerSpec) []limit {
	var out []limit
	const mib = 1 << 20
	if spec.MemoryMiB > 0 {
		mem := int64(spec.MemoryMiB) * mib
		memsw := mem + int64(max(spec.SwapMiB, 0))*mib
		switch {
		case c.memoryV1:
			out = append(out, limit{key: "memory.limit_in_bytes", value: strconv.FormatInt(mem, 10)})
			if c.memswV1 {
				out = append(out, limit{key: "memory.memsw.limit_in_bytes", value: strconv.FormatInt(memsw, 10)})
			}
		case c.memoryV2:
			out = append(out, limit{v2: true, key: "memory.max", value: strconv.FormatInt(mem, 10)})
			if c.swapV2 {
				out = append(out, limit{v2: true, key: "memory.swap.max", value: strconv.FormatInt(memsw-mem, 10)})
			}
		}
	}
	if cpus := cpuSet(spec.VMID, spec.Cores, runtime.NumCPU()); cpus != "" {
		switch {
		case c.cpusetV1:
			out = append(out, limit{key: "cpuset.cpus", value: cpus})
		case c.cpusetV2:
			out = append(out, limit{v2: true, key: "cpuset.cpus", value: cpus})
		}
	}
	return out
}

// cpuSet picks cores CPUs for a container, spread by vmid so small containers do not all
// share CPU 0. It returns "" when the container may use every CPU.
func cpuSet(vmid, cores, ncpu int) string {
	if cores <= 0 || cores >= ncpu {
		return ""
	}
	cpus := make([]int, 0, cores)
	for i := range cores {
		cpus = append(cpus, (vmid+i)%ncpu)
	}
	sort.Ints(cpus)
	parts := make([]string, len(cpus))
	for i, c := range cpus {
		parts[i] = strconv.Itoa(c)
	}
	return strings.Join(parts, ",")
}

// hostVeth names the host side of a container interface. The name is unique per bridge, so
// simulators with the same vmids on one host do not collide, and stable, so a restarted
// backend finds the interface again. Kernel interface names have at most 15 characters.
func hostVeth(bridge string, vmid, index int) string {
	h := fnv.New64a()
	fmt.Fprintf(h, "%s/%d/%d", bridge, vmid, index)
	return fmt.Sprintf("veth%011x", h.Sum64()&(1<<44-1))
}

// renderConfig writes the LXC configuration of a container the way Proxmox generates it for
// a Debian guest: the distribution's common configuration, the id map when unprivileged,
// resource limits and one veth per netN on the simulator's bridge.
func (b *Backend) renderConfig(spec pvesim.ContainerSpec, rootfsPath, ctDir string) string {
	var w strings.Builder
	set := func(key, value string) { fmt.Fprintf(&w, "%s = %s\n", key, value) }

	set("lxc.include", filepath.Join(b.lxcPath, commonConfigName))
	if spec.Unprivileged {
		set("lxc.include", filepath.Join(b.lxcPath, usernsConfigName))
		set("lxc.idmap", fmt.Sprintf("u 0 %d %d", idShift, idCount))
		set("lxc.idmap", fmt.Sprintf("g 0 %d %d", idShift, idCount))
	}
	set("lxc.apparmor.profile", "generated")
	if spec.Nesting {
		set("lxc.apparmor.allow_nesting", "1")
		set("lxc.mount.entry", "proc dev/.lxc/proc proc create=dir,optional 0 0")
		set("lxc.mount.entry", "sys dev/.lxc/sys sysfs create=dir,optional 0 0")
	}
	// As PVE's make_apparmor_config and update_lxc_config write them. (mknod needs PVE's
	// syscall proxy, pve-lxc-syscalld, which the simulator has not: the flag is kept in the
	// Proxmox config only.)
	for _, fs := range spec.MountTypes {
		set("lxc.apparmor.raw", "mount fstype="+fs+",")
	}
	if spec.Fuse {
		set("lxc.apparmor.raw", "mount fstype=fuse,")
		set("lxc.mount.entry", "/dev/fuse dev/fuse none bind,create=file 0 0")
	}
	// systemd powers off on SIGRTMIN+4; LXC's default SIGPWR would only reach sigpwr.target.
	// An OCI image names its own stop signal.
	halt := "SIGRTMIN+4"
	if spec.HaltSignal != "" {
		halt = spec.HaltSignal
	}
	set("lxc.signal.halt", halt)
	short, _ := hostNames(spec.Hostname)
	set("lxc.uts.name", short)
	set("lxc.rootfs.path", rootfsPath)
	set("lxc.console.logfile", ctDir+"/console.log")
	for _, l := range b.cgroups.limits(spec) {
		set(l.configKey(), l.value)
	}
	for _, m := range spec.Mounts {
		set("lxc.mount.entry", b.mountEntry(spec.VMID, m))
	}
	// As PVE's update_lxc_config: a custom entrypoint gets /dev/shm (no init sets it up),
	// runs as lxc.init.cmd, and the env entries reach it (lxc.environment.runtime from LXC 6;
	// lxc.environment here, which LXC 5 also applies to the init).
	if spec.Entrypoint != "" && spec.Entrypoint != "/sbin/init" {
		set("lxc.mount.entry", "shm dev/shm tmpfs rw,nosuid,nodev,create=dir 0 0")
	}
	if spec.Entrypoint != "" {
		set("lxc.init.cmd", spec.Entrypoint)
	}
	if spec.InitCwd != "" {
		set("lxc.init.cwd", spec.InitCwd)
	}
	for _, e := range spec.Env {
		set("lxc.environment", e)
	}
	b.deviceConfig(spec, set)
	for i, n := range spec.Networks {
		p := fmt.Sprintf("lxc.net.%d.", i)
		set(p+"type", "veth")
		set(p+"link", b.bridge)
		set(p+"flags", "up")
		set(p+"name", n.Name)
		if n.HWAddr != "" {
			set(p+"hwaddr", n.HWAddr)
		}
		set(p+"veth.pair", hostVeth(b.bridge, spec.VMID, n.Index))
		if n.HostManaged {
			// PVE sets a static address here and runs a DHCP client for the guest; the
			// simulator's DHCP server would hand out exactly the lease, so it is set directly.
			addr := n.Address
			if n.DHCP {
				addr = n.Lease
			}
			if addr.IsValid() {
				set(p+"ipv4.address", addr.String())
			}
			if n.Gateway.IsValid() {
				set(p+"ipv4.gateway", n.Gateway.String())
			}
		}
	}
	return w.String()
}
