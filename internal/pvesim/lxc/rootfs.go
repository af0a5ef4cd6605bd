package lxc

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// A container directory holds the LXC config, the overlay's upper layer (delta0) and work
// directory (work, the name LXC derives from the upper layer), and rootfs: the mount point for
// preparing a stopped container, or the full copy when overlays are unavailable.

func overlayOptions(lower, upper, work string) string {
	return fmt.Sprintf("lowerdir=%s,upperdir=%s,workdir=%s", lower, upper, work)
}

// checkOverlayPath rejects paths that overlay mount options cannot carry.
func checkOverlayPath(p string) error {
	if strings.ContainsAny(p, ",:") {
		return fmt.Errorf("path %q contains ',' or ':', which overlay mounts cannot take", p)
	}
	return nil
}

// rootfsPath is the value of lxc.rootfs.path.
func (b *Backend) rootfsPath(vmid int, lower string) string {
	dir := b.ctDir(vmid)
	if b.overlay {
		return "overlay:" + lower + ":" + filepath.Join(dir, "delta0")
	}
	return "dir:" + filepath.Join(dir, "rootfs")
}

// makeRootfs creates the container's writable layer (or copy) on top of lower.
func (b *Backend) makeRootfs(ctx context.Context, vmid int, lower string, unprivileged bool) error {
	dir := b.ctDir(vmid)
	owner := 0
	if unprivileged {
		owner = idShift
	}
	if err := os.Mkdir(filepath.Join(dir, "rootfs"), 0o755); err != nil {
		return err
	}
	if !b.overlay {
		_, err := run(ctx, nil, "cp", "-a", "--reflink=auto", lower+"/.", filepath.Join(dir, "rootfs"))
		return err
	}
	for _, p := range []string{lower, dir} {
		if err := checkOverlayPath(p); err != nil {
			return err
		}
	}
	// Owned by the container's root: LXC mounts the overlay inside the container's user
	// namespace, so its root creates what the kernel needs in the work directory.
	for _, d := range []string{"delta0", "work"} {
		p := filepath.Join(dir, d)
		if err := os.Mkdir(p, 0o755); err != nil {
			return err
		}
		if err := os.Chown(p, owner, owner); err != nil {
			return err
		}
	}
	return nil
}

// mountRootfs makes a stopped container's root filesystem visible at <dir>/rootfs for
// preparation and returns that path and the function that undoes it.
func (b *Backend) mountRootfs(vmid int, lower string) (string, func() error, error) {
	dir := b.ctDir(vmid)
	target := filepath.Join(dir, "rootfs")
	if !b.overlay {
		return target, func() error { return nil }, nil
	}
	opts := overlayOptions(lower, filepath.Join(dir, "delta0"), filepath.Join(dir, "work"))
	if err := unix.Mount("overlay", target, "overlay", 0, opts); err != nil {
		return "", nil, fmt.Errorf("mount root filesystem: %w", err)
	}
	return target, func() error {
		if err := unix.Unmount(target, 0); err != nil {
			return fmt.Errorf("unmount root filesystem: %w", err)
		}
		return nil
	}, nil
}

// unmountStale removes a preparation mount an interrupted operation left behind.
func (b *Backend) unmountStale(vmid int) {
	target := filepath.Join(b.ctDir(vmid), "rootfs")
	for {
		if err := unix.Unmount(target, unix.MNT_DETACH); err != nil {
			if !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
				b.log.Warn("Cannot unmount stale root filesystem", "vmid", vmid, "error", err)
			}
			return
		}
	}
}
