package lxc

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"templatemanager.dev/lxc-template-manager/internal/pvesim"
)

// Volume mount points (mp[n]) are directories on the host, one per volume, bind-mounted into
// the container: at start through lxc.mount.entry, and into a running container (PVE's
// mount point hot-plug) by cloning the directory's mount and moving it into the container's
// mount namespace. The size is the volume's quota in Proxmox's books only.

// volumeDir is where a volume's data lives.
func (b *Backend) volumeDir(vmid int, volume string) string {
	return filepath.Join(b.dataDir(vmid), "volumes", strings.NewReplacer(":", "_", "/", "_").Replace(volume))
}

// ensureVolumes creates the directories of new volumes, owned by the container's root.
func (b *Backend) ensureVolumes(spec pvesim.ContainerSpec) error {
	for _, m := range spec.Mounts {
		if m.Bind {
			continue // the node's own directory, used as it is
		}
		dir := b.volumeDir(spec.VMID, m.Volume)
		if _, err := os.Stat(dir); err == nil {
			continue
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("%s: %w", m.Key, err)
		}
		if spec.Unprivileged {
			if err := os.Chown(dir, idShift, idShift); err != nil {
				return fmt.Errorf("%s: %w", m.Key, err)
			}
		}
	}
	return nil
}

// mountSource is the host directory a mount point mounts: a volume's directory, or the host
// path of a bind mount.
func (b *Backend) mountSource(vmid int, m pvesim.MountSpec) string {
	if m.Bind {
		return m.Volume
	}
	return b.volumeDir(vmid, m.Volume)
}

// mountEntry is the lxc.mount.entry that mounts a volume or a host directory at start.
func (b *Backend) mountEntry(vmid int, m pvesim.MountSpec) string {
	opts := "rbind,create=dir"
	if m.ReadOnly {
		opts += ",ro"
	}
	return fmt.Sprintf("%s %s none %s 0 0", b.mountSource(vmid, m), strings.TrimPrefix(m.Path, "/"), opts)
}

// hotplugMounts mounts the volumes that spec has and old has not into the running container.
func (b *Backend) hotplugMounts(ctx context.Context, old, spec pvesim.ContainerSpec) error {
	had := map[string]bool{}
	for _, m := range old.Mounts {
		had[m.Key] = true
	}
	for _, m := range spec.Mounts {
		if had[m.Key] {
			continue
		}
		if _, err := b.attach(ctx, spec.VMID, nil, "mkdir", "-p", m.Path); err != nil {
			return fmt.Errorf("unable to hotplug %s: %w", m.Key, err)
		}
		pid, err := b.initPID(ctx, spec.VMID)
		if err != nil {
			return fmt.Errorf("unable to hotplug %s: %w", m.Key, err)
		}
		if err := mountInto(pid, b.mountSource(spec.VMID, m), m.Path); err != nil {
			return fmt.Errorf("unable to hotplug %s: %w", m.Key, err)
		}
		b.log.Info("Hot-plugged mount point", "vmid", spec.VMID, "key", m.Key, "path", m.Path)
	}
	return nil
}

func (b *Backend) initPID(ctx context.Context, vmid int) (int, error) {
	out, err := b.lxcTool(ctx, nil, "info", vmid, "-p", "-H")
	if err != nil {
		return 0, err
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(out)))
	if err != nil || pid <= 0 {
		return 0, fmt.Errorf("container %d has no init process (%q)", vmid, strings.TrimSpace(string(out)))
	}
	return pid, nil
}

// mountInto bind-mounts the host directory src at target inside the mount namespace of pid.
// Entering a mount namespace needs a thread with its own filesystem attributes; the thread is
// never handed back to the Go scheduler and ends with the goroutine.
func mountInto(pid int, src, target string) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		errc <- func() error {
			tree, err := unix.OpenTree(unix.AT_FDCWD, src, unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC|unix.AT_RECURSIVE)
			if err != nil {
				return fmt.Errorf("open_tree %s: %w", src, err)
			}
			defer unix.Close(tree)
			ns, err := os.Open(fmt.Sprintf("/proc/%d/ns/mnt", pid))
			if err != nil {
				return err
			}
			defer ns.Close()
			host, err := os.Open("/proc/thread-self/ns/mnt")
			if err != nil {
				return err
			}
			defer host.Close()
			if err := unix.Unshare(unix.CLONE_FS); err != nil {
				return fmt.Errorf("unshare: %w", err)
			}
			if err := unix.Setns(int(ns.Fd()), unix.CLONE_NEWNS); err != nil {
				return fmt.Errorf("setns: %w", err)
			}
			// The thread goes back to the host's mount namespace before it ends. Go ends a
			// locked thread with its goroutine, except the process's main thread, which it
			// keeps: left in the container's namespace, the main thread would make
			// /proc/self/mountinfo (read through the main thread) list the container's mounts
			// instead of the host's.
			defer func() { _ = unix.Setns(int(host.Fd()), unix.CLONE_NEWNS) }()
			if err := unix.MoveMount(tree, "", unix.AT_FDCWD, target, unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
				return fmt.Errorf("move_mount to %s: %w", target, err)
			}
			return nil
		}()
	}()
	err := <-errc
	if errors.Is(err, unix.ENOSYS) {
		return fmt.Errorf("this kernel cannot mount into a running container: %w", err)
	}
	return err
}
