package lxc

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"templatemanager.dev/lxc-template-manager/internal/pvesim"
)

// Passed-through devices (dev[n]) work as in PVE's pre-start hook: a device node of the same
// type and number as the node's is made in the container's passthrough directory with the
// mode and owner the entry asks for (the owner mapped into the container's ids), bind-mounted
// at the device's path inside the container, and allowed by the devices cgroup.

func (b *Backend) passthroughDir(vmid int) string {
	return filepath.Join(b.ctDir(vmid), "passthrough")
}

// hostDevice is the type and number of a device node of the host.
type hostDevice struct {
	block        bool
	major, minor uint32
	rdev         uint64
}

func statDevice(path string) (hostDevice, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return hostDevice{}, err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok || fi.Mode()&fs.ModeDevice == 0 {
		return hostDevice{}, fmt.Errorf("%s is not a device", path)
	}
	rdev := uint64(st.Rdev)
	return hostDevice{block: fi.Mode()&fs.ModeCharDevice == 0, major: unix.Major(rdev), minor: unix.Minor(rdev), rdev: rdev}, nil
}

// ensureDevices makes the passthrough device nodes afresh, as every start does. Only at a
// start: a running container's nodes are mount points in its namespace, which removing them
// here would detach.
func (b *Backend) ensureDevices(spec pvesim.ContainerSpec) error {
	dir := b.passthroughDir(spec.VMID)
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	for _, d := range spec.Devices {
		if err := b.makeDeviceNode(spec, d); err != nil {
			return fmt.Errorf("%s: %w", d.Key, err)
		}
	}
	return nil
}

func (b *Backend) makeDeviceNode(spec pvesim.ContainerSpec, d pvesim.DeviceSpec) error {
	dev, err := statDevice(d.Path)
	if err != nil {
		return err
	}
	node := filepath.Join(b.passthroughDir(spec.VMID), d.Path)
	if err := os.MkdirAll(filepath.Dir(node), 0o755); err != nil {
		return err
	}
	kind := uint32(unix.S_IFCHR)
	if dev.block {
		kind = unix.S_IFBLK
	}
	if err := unix.Mknod(node, kind|0o600, int(dev.rdev)); err != nil {
		return fmt.Errorf("failed to mknod %s: %w", node, err)
	}
	mode := uint64(0o660)
	if d.Mode != "" {
		if mode, err = strconv.ParseUint(d.Mode, 8, 32); err != nil {
			return err
		}
	}
	if err := os.Chmod(node, fs.FileMode(mode)); err != nil {
		return err
	}
	uid, gid := d.UID, d.GID
	if spec.Unprivileged {
		uid, gid = uid+idShift, gid+idShift
	}
	return os.Chown(node, uid, gid)
}

// deviceConfig is the LXC configuration of the passed-through devices: the bind mount of each
// node and its devices cgroup rules.
func (b *Backend) deviceConfig(spec pvesim.ContainerSpec, set func(key, value string)) {
	prefix := "lxc.cgroup2."
	if b.cgroups.devicesV1 {
		prefix = "lxc.cgroup."
	}
	for _, d := range spec.Devices {
		dev, err := statDevice(d.Path)
		if err != nil {
			continue // ensureDevices reported it
		}
		kind := "c"
		if dev.block {
			kind = "b"
		}
		perms := "rw"
		if d.DenyWrite {
			perms = "r"
		}
		set("lxc.mount.entry", fmt.Sprintf("%s %s none bind,create=file 0 0",
			filepath.Join(b.passthroughDir(spec.VMID), d.Path), strings.TrimPrefix(d.Path, "/")))
		set(prefix+"devices.allow", fmt.Sprintf("%s %d:%d %s", kind, dev.major, dev.minor, perms))
		if d.DenyWrite {
			set(prefix+"devices.deny", fmt.Sprintf("%s %d:%d w", kind, dev.major, dev.minor))
		}
	}
}
