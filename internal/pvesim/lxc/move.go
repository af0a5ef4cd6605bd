package lxc

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"templatemanager.dev/lxc-template-manager/internal/pvesim"
)

var _ pvesim.Mover = (*Backend)(nil)

// CopyVolumes copies the stopped container's volumes to target's storage, as storage_migrate
// does for each local volume of a migrating container (pve-container src/PVE/LXC/Migrate.pm
// phase1). The copy is made under a temporary name and renamed into place once complete, so a
// failed copy leaves nothing on the target; the source is only read. A container that keeps
// its volumes in its LXC directory has nothing to copy: they are on every node.
func (b *Backend) CopyVolumes(ctx context.Context, vmid int, target string) error {
	unlock := b.lock(vmid)
	defer unlock()
	if _, err := b.getRecord(vmid); err != nil {
		return err
	}
	home := b.home(vmid)
	switch {
	case home == "":
		return nil
	case home == target:
		return fmt.Errorf("the volumes of container %d are on node %s already", vmid, target)
	}
	if running, err := b.state(ctx, vmid); err != nil || running {
		return errors.Join(err, fmt.Errorf("container %d must be stopped to copy its volumes", vmid))
	}
	// A container that powered itself off may still have its root filesystem mounted.
	if err := b.unmountRootfs(vmid); err != nil {
		return err
	}
	started := time.Now()
	src, dst := b.imagesDir(home, vmid), b.imagesDir(target, vmid)
	tmp := filepath.Join(filepath.Dir(dst), ".incoming-"+ctName(vmid))
	// What an earlier migration left on the target is stale: the container never used it.
	if err := errors.Join(os.RemoveAll(dst), os.RemoveAll(tmp)); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	if err := copyTree(ctx, src, tmp); err != nil {
		return errors.Join(fmt.Errorf("copy the volumes of container %d to node %s: %w", vmid, target, err), os.RemoveAll(tmp))
	}
	if err := os.Rename(tmp, dst); err != nil {
		return errors.Join(err, os.RemoveAll(tmp))
	}
	b.log.Info("Copied container volumes", "vmid", vmid, "from", home, "to", target, "took", time.Since(started).Round(time.Millisecond))
	return nil
}

// FreeVolumes removes the container's volumes from node's storage once it uses those on
// another node, as vdisk_free does for the source's volumes in Migrate.pm phase3.
func (b *Backend) FreeVolumes(ctx context.Context, vmid int, node string) error {
	unlock := b.lock(vmid)
	defer unlock()
	if _, err := b.getRecord(vmid); err != nil {
		return err
	}
	switch home := b.home(vmid); {
	case home == "":
		return nil
	case home == node:
		return fmt.Errorf("container %d uses its volumes on node %s", vmid, node)
	}
	if err := os.RemoveAll(b.imagesDir(node, vmid)); err != nil {
		return fmt.Errorf("remove the volumes of container %d from node %s: %w", vmid, node, err)
	}
	b.log.Info("Freed container volumes", "vmid", vmid, "node", node)
	return nil
}
