package lxc

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// A container directory holds the LXC config and rootfs, the container's root filesystem.
// With overlays, rootfs is the mount point of an overlay of the shared template tree (the
// lower layer) and the container's own layer (delta0, with the overlay's work directory in
// work); on a host that cannot mount one, rootfs is a full copy of the template tree. The
// container's own layer, or its copy, is a volume: it lives with the container's other volumes
// on its node's storage (images.go).
//
// The backend mounts the overlay itself, as root on the host, and gives LXC a plain dir:
// rootfs. LXC's own overlay: rootfs is mounted without directory redirects, and inside an
// unprivileged container's user namespace the kernel even forces redirect_dir=nofollow:
// renaming a directory of the template then fails, and dpkg cannot install a package that
// ships one. A host mount with redirect_dir=on renames like any filesystem and keeps creating
// a container a matter of milliseconds, where a copy takes seconds.
//
// The overlay is mounted while the container runs or is being prepared. Stopping, destroying
// or closing unmounts it; a container that powered itself off keeps it until one of those or
// its next start, which uses it.

// overlayOptions turns on redirect_dir so directories of the lower layer can be renamed.
// Index and metacopy stay off whatever the module's defaults: a layer is then mounted again
// even while an old mount of it lingers in some other mount namespace, and it holds whole
// files, which clones and snapshots copy.
func overlayOptions(lower, upper, work string) string {
	return fmt.Sprintf("lowerdir=%s,upperdir=%s,workdir=%s,redirect_dir=on,index=off,metacopy=off", lower, upper, work)
}

// checkOverlayPath rejects paths that overlay mount options cannot carry.
func checkOverlayPath(p string) error {
	if strings.ContainsAny(p, ",:") {
		return fmt.Errorf("path %q contains ',' or ':', which overlay mounts cannot take", p)
	}
	return nil
}

// rootfsDir is the container's root filesystem on the host: the mount point of its overlay in
// its LXC directory, or its full copy among its volumes.
func (b *Backend) rootfsDir(vmid int) string {
	if b.overlay {
		return filepath.Join(b.ctDir(vmid), "rootfs")
	}
	return filepath.Join(b.dataDir(vmid), "rootfs")
}

// rootfsPath is the value of lxc.rootfs.path.
func (b *Backend) rootfsPath(vmid int) string { return "dir:" + b.rootfsDir(vmid) }

// makeRootfs creates the container's own layer on top of lower, or its copy of lower. Its
// root directory is the container's root's and open to all, as a fresh volume's is, whatever
// mode the template's tarball gave its top directory.
func (b *Backend) makeRootfs(ctx context.Context, vmid int, lower string) error {
	dir := b.dataDir(vmid)
	rootfs := b.rootfsDir(vmid)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := os.Mkdir(rootfs, 0o755); err != nil {
		return err
	}
	if !b.overlay {
		if _, err := run(ctx, nil, "cp", "-a", "--reflink=auto", lower+"/.", rootfs); err != nil {
			return err
		}
		return os.Chmod(rootfs, 0o755)
	}
	for _, p := range []string{lower, dir} {
		if err := checkOverlayPath(p); err != nil {
			return err
		}
	}
	// The upper layer's root is the root directory the container sees.
	var st syscall.Stat_t
	if err := syscall.Stat(lower, &st); err != nil {
		return err
	}
	delta := filepath.Join(dir, "delta0")
	if err := os.Mkdir(delta, 0o755); err != nil {
		return err
	}
	if err := os.Chown(delta, int(st.Uid), int(st.Gid)); err != nil {
		return err
	}
	return os.Mkdir(filepath.Join(dir, "work"), 0o700)
}

// mountRootfs mounts the container's overlay at rootfs unless something is mounted there
// already (the mount of an earlier operation or backend), so mounts never stack. It returns
// the path of the root filesystem.
func (b *Backend) mountRootfs(vmid int, lower string) (string, error) {
	target := b.rootfsDir(vmid)
	if !b.overlay {
		return target, nil
	}
	mounted, err := isMountPoint(target)
	if err != nil {
		return "", fmt.Errorf("root filesystem of container %d: %w", vmid, err)
	}
	if mounted {
		return target, nil
	}
	dir := b.dataDir(vmid)
	opts := overlayOptions(lower, filepath.Join(dir, "delta0"), filepath.Join(dir, "work"))
	if err := unix.Mount("overlay", target, "overlay", 0, opts); err != nil {
		return "", fmt.Errorf("mount root filesystem of container %d: %w", vmid, err)
	}
	return target, nil
}

// unmountRootfs removes everything mounted at rootfs. A mount something still holds open is
// detached, so the container directory can go anyway.
func (b *Backend) unmountRootfs(vmid int) error {
	target := b.rootfsDir(vmid)
	for {
		err := unix.Unmount(target, 0)
		switch {
		case err == nil:
		case errors.Is(err, unix.EINVAL), errors.Is(err, unix.ENOENT): // nothing (more) mounted
			return nil
		case errors.Is(err, unix.EBUSY):
			b.log.Warn("Root filesystem is busy; detaching it", "vmid", vmid)
			if err := unix.Unmount(target, unix.MNT_DETACH); err != nil {
				return fmt.Errorf("unmount root filesystem of container %d: %w", vmid, err)
			}
		default:
			return fmt.Errorf("unmount root filesystem of container %d: %w", vmid, err)
		}
	}
}

// isMountPoint reports whether p is the root of a mount.
func isMountPoint(p string) (bool, error) {
	var stx unix.Statx_t
	if err := unix.Statx(unix.AT_FDCWD, p, unix.AT_SYMLINK_NOFOLLOW, unix.STATX_BASIC_STATS, &stx); err != nil {
		return false, err
	}
	if stx.Attributes_mask&unix.STATX_ATTR_MOUNT_ROOT == 0 {
		return false, errors.New("the kernel does not tell mount points (statx)")
	}
	return stx.Attributes&unix.STATX_ATTR_MOUNT_ROOT != 0, nil
}

// probeOverlay checks that the kernel mounts an overlay with its upper layer in the state
// directory and renames a directory of its lower layer there.
func probeOverlay(state string) error {
	dir, err := os.MkdirTemp(state, ".overlay-probe-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	for _, d := range []string{"lower", "lower/d", "upper", "work", "merged"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			return err
		}
	}
	merged := filepath.Join(dir, "merged")
	if err := unix.Mount("overlay", merged, "overlay", 0, overlayOptions(
		filepath.Join(dir, "lower"), filepath.Join(dir, "upper"), filepath.Join(dir, "work"))); err != nil {
		return fmt.Errorf("mount: %w", err)
	}
	defer unix.Unmount(merged, unix.MNT_DETACH)
	if err := os.Rename(filepath.Join(merged, "d"), filepath.Join(merged, "e")); err != nil {
		return fmt.Errorf("rename a lower directory: %w", err)
	}
	return nil
}
