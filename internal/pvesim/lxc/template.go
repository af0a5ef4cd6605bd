package lxc

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"

	"templatemanager.dev/lxc-template-manager/internal/pvesim/oci"
)

// templateCache extracts each OS template tarball once; containers use the extracted tree as
// the read-only lower layer of their overlay. Unprivileged containers need the tree owned by
// the mapped ids, so they get a second, shifted extraction.
type templateCache struct {
	dir string

	mu      sync.Mutex
	digests map[string]string // path, size and mtime → content digest
}

func newTemplateCache(dir string) *templateCache {
	return &templateCache{dir: dir, digests: map[string]string{}}
}

// rootfs returns the extracted tree of tarball, owned by ids shifted by shift.
func (c *templateCache) rootfs(ctx context.Context, tarball string, shift int) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()

	digest, err := c.digest(tarball)
	if err != nil {
		return "", err
	}
	name := digest
	if shift != 0 {
		name += "-shift" + strconv.Itoa(shift)
	}
	final := filepath.Join(c.dir, name)
	rootfs := filepath.Join(final, "rootfs")
	if _, err := os.Stat(rootfs); err == nil {
		return rootfs, nil
	}
	if err := os.MkdirAll(c.dir, 0o755); err != nil {
		return "", err
	}
	// The cache may be shared by several simulators: one extracts, the others wait for it.
	lock, err := os.OpenFile(filepath.Join(c.dir, ".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return "", err
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return "", err
	}
	if _, err := os.Stat(rootfs); err == nil {
		return rootfs, nil
	}
	tmp, err := os.MkdirTemp(c.dir, ".extract-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	// Readable by all, as the template trees of a host usually are (MkdirTemp makes it private).
	if err := os.Chmod(tmp, 0o755); err != nil {
		return "", err
	}
	tree := filepath.Join(tmp, "rootfs")
	if err := os.Mkdir(tree, 0o755); err != nil {
		return "", err
	}
	if err := extractTemplate(ctx, tarball, tree); err != nil {
		return "", err
	}
	if shift != 0 {
		if err := shiftOwnership(tree, shift); err != nil {
			return "", fmt.Errorf("shift template ownership: %w", err)
		}
	}
	if err := os.Rename(tmp, final); err != nil {
		return "", err
	}
	return rootfs, nil
}

// extractTemplate unpacks an OS template tarball, or squashes the layers of an OCI archive
// (whiteouts applied) into tree, as PVE's restore_oci_archive does.
func extractTemplate(ctx context.Context, tarball, tree string) error {
	if !oci.IsArchive(tarball) {
		// GNU tar recognises the compression (zstd, gzip, xz) by itself.
		if _, err := run(ctx, nil, "tar", "--numeric-owner", "-xpf", tarball, "-C", tree); err != nil {
			return fmt.Errorf("extract template %s: %w", filepath.Base(tarball), err)
		}
		return nil
	}
	a, err := oci.Open(tarball)
	if err != nil {
		return fmt.Errorf("OCI image %s: %w", filepath.Base(tarball), err)
	}
	defer a.Close()
	flat := a.Flatten()
	defer flat.Close()
	if _, err := run(ctx, flat, "tar", "--numeric-owner", "-xpf", "-", "-C", tree); err != nil {
		return fmt.Errorf("extract OCI image %s: %w", filepath.Base(tarball), err)
	}
	return nil
}

// digest identifies a tarball by its content, so the same template under two names shares
// one extraction and a rebuilt template gets a new one.
func (c *templateCache) digest(tarball string) (string, error) {
	fi, err := os.Stat(tarball)
	if err != nil {
		return "", fmt.Errorf("OS template: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return "", fmt.Errorf("OS template %s is not a file", tarball)
	}
	key := fmt.Sprintf("%s|%d|%d", tarball, fi.Size(), fi.ModTime().UnixNano())
	if d, ok := c.digests[key]; ok {
		return d, nil
	}
	f, err := os.Open(tarball)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	d := hex.EncodeToString(h.Sum(nil))[:16]
	c.digests[key] = d
	return d, nil
}

// shiftOwnership adds shift to the owner and group of every file below root, keeping the
// set-id bits that chown clears.
func shiftOwnership(root string, shift int) error {
	return filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		var st syscall.Stat_t
		if err := syscall.Lstat(path, &st); err != nil {
			return err
		}
		if err := os.Lchown(path, int(st.Uid)+shift, int(st.Gid)+shift); err != nil {
			return err
		}
		if d.Type()&fs.ModeSymlink == 0 && st.Mode&(syscall.S_ISUID|syscall.S_ISGID) != 0 {
			return syscall.Chmod(path, st.Mode&0o7777)
		}
		return nil
	})
}

// empty is an empty tree owned by the container root of shift: the lower layer of containers
// restored from a backup, whose whole tree is their own layer.
func (c *templateCache) empty(shift int) (string, error) {
	dir := filepath.Join(c.dir, "empty-"+strconv.Itoa(shift), "rootfs")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	if err := os.Chown(dir, shift, shift); err != nil {
		return "", err
	}
	return dir, os.Chmod(dir, 0o755)
}
