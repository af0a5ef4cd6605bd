package preflight

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"
)

// LXCConfigFiles are the files of the lxc packages that pvesim's generated container
// configurations include (its own debian.common.conf includes common.conf, which loads the
// seccomp profile; debian.userns.conf includes userns.conf).
var LXCConfigFiles = []string{
	"/usr/share/lxc/config/common.conf",
	"/usr/share/lxc/config/common.seccomp",
	"/usr/share/lxc/config/userns.conf",
}

// Limits are the kernel limits that every unprivileged container mapped to the same host uid
// shares. Debian's defaults (128 inotify instances, 200 keys) let a handful of systemd guests
// boot; the rest die at boot with "Too many open files". The inotify values are those Proxmox
// VE hosts ship with (pve-container's sysctl file); the keyring values those LXD recommends.
var Limits = []Limit{
	{"fs.inotify.max_user_instances", 65536},
	{"fs.inotify.max_user_watches", 4194304},
	{"fs.inotify.max_queued_events", 8388608},
	{"kernel.keys.maxkeys", 2000},
	{"kernel.keys.maxbytes", 2000000},
}

// LXCBackend lists what pvesim's lxc backend needs of its host.
func LXCBackend() []Check {
	checks := []Check{
		Program("lxc-start", "lxc"),
		Program("lxc-stop", "lxc"),
		Program("lxc-attach", "lxc"),
		Program("lxc-info", "lxc"),
		Program("lxc-destroy", "lxc"),
		Program("lxc-cgroup", "lxc"),
		Program("lxc-freeze", "lxc"),
		Program("lxc-usernsexec", "lxc"), // backups and restores of unprivileged containers
		Program("newuidmap", "uidmap"),
		Program("newgidmap", "uidmap"),
		Program("dnsmasq", "dnsmasq-base"),
		Program("ip", "iproute2"),
		Program("nft", "nftables"),
		Program("zstd", "zstd"),
		Program("tar", "tar"),
		Program("chroot", "coreutils"),
		Program("cp", "coreutils"),
		Program("usermod", "passwd"),
	}
	for _, f := range LXCConfigFiles {
		checks = append(checks, File(f, "lxc"))
	}
	checks = append(checks,
		Kernel("user namespaces", false, userNamespaces),
		Kernel("overlayfs", true, overlayfs),
		Kernel("cgroups", false, cgroups),
		Kernel("nftables", false, nftables),
		Kernel("subordinate ids", false, subordinateIDs),
	)
	for _, l := range Limits {
		checks = append(checks, Sysctl(l.Key, l.Min))
	}
	return checks
}

// LocalStack lists what the demo and the tests need besides the lxc backend: the OS template
// build, the local apt repository, the control plane's certificates, and SSH.
func LocalStack() []Check {
	return []Check{
		Program("debootstrap", "debootstrap"),
		Program("dpkg-scanpackages", "dpkg-dev"),
		Program("dpkg-deb", "dpkg"),
		Program("openssl", "openssl"),
		Program("ssh", "openssh-client"),
		Program("ssh-keygen", "openssh-client"),
		Program("sshd", "openssh-server"),
		Program("curl", "curl"),
		Program("flock", "util-linux"),
	}
}

func userNamespaces() string {
	v, err := readSysctl("user.max_user_namespaces")
	if err != nil {
		return fmt.Sprintf("the kernel does not report user.max_user_namespaces (%v): it needs CONFIG_USER_NS", err)
	}
	if v == 0 {
		return "user.max_user_namespaces is 0: unprivileged containers cannot start (set it with: sysctl -w user.max_user_namespaces=15000)"
	}
	return ""
}

func overlayfs() string {
	data, err := os.ReadFile("/proc/filesystems")
	if err == nil && strings.Contains(string(data), "\toverlay\n") {
		return ""
	}
	if err := exec.Command("modprobe", "overlay").Run(); err == nil {
		return ""
	}
	return "the kernel has no overlay filesystem (modprobe overlay): containers get full copies of the template, slower and larger"
}

// CgroupLayout names the host's cgroup layout: v1, v2 or hybrid (v1 controllers with a v2
// hierarchy beside them).
func CgroupLayout() string {
	exists := func(p string) bool { _, err := os.Stat(p); return err == nil }
	v2root := exists("/sys/fs/cgroup/cgroup.controllers")
	v1 := exists("/sys/fs/cgroup/memory") || exists("/sys/fs/cgroup/cpuset")
	switch {
	case v2root:
		return "v2"
	case v1 && exists("/sys/fs/cgroup/unified/cgroup.controllers"):
		return "hybrid"
	case v1:
		return "v1"
	}
	return ""
}

func cgroups() string {
	if CgroupLayout() == "" {
		return "no cgroup hierarchy is mounted under /sys/fs/cgroup (neither v1 controllers nor cgroup2)"
	}
	return ""
}

func nftables() string {
	if _, err := exec.LookPath("nft"); err != nil {
		return "nft is missing (install the Debian package nftables): the bridge fence keeps containers off every other network"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "nft", "list", "tables").CombinedOutput(); err != nil {
		return fmt.Sprintf("nft cannot talk to the kernel (%s): it needs nf_tables (CONFIG_NF_TABLES) and root", strings.TrimSpace(string(out)))
	}
	return ""
}

// subordinateIDs passes when root may map the ids of unprivileged containers, or when the
// backend can grant them itself (usermod, as the Proxmox packages do at installation).
func subordinateIDs() string {
	if _, err := exec.LookPath("newuidmap"); err != nil {
		return "" // LXC writes the id map itself
	}
	for _, f := range []string{"/etc/subuid", "/etc/subgid"} {
		data, err := os.ReadFile(f)
		if err == nil && strings.Contains("\n"+string(data), "\nroot:") {
			continue
		}
		if _, err := exec.LookPath("usermod"); err != nil {
			return fmt.Sprintf("%s grants root no ids and usermod (Debian package passwd) is missing to add them", f)
		}
	}
	return ""
}
