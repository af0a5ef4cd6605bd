package lxc

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"templatemanager.dev/lxc-template-manager/internal/pvesim"
)

// A container's volumes — its root filesystem's own layer (or its full copy), its mount point
// volumes and its snapshots — live on the storage of the node it belongs to, as on a PVE node's
// local storage: <state>/lxc-nodes/<node>/images/<vmid>. Its LXC directory (configuration,
// logs, the mount point of its root filesystem) stays in the lxcpath, as /var/lib/lxc/<vmid>
// does on every PVE node. A migration copies the volumes to the target node (move.go), and
// the container uses them there once its configuration names that node.
//
// A container made before volumes were per node keeps them in its LXC directory and uses them
// on every node, as a volume on shared storage would be.

// imagesDir is where node's storage keeps the volumes of container vmid.
func (b *Backend) imagesDir(node string, vmid int) string {
	return filepath.Join(b.nodesPath, node, "images", ctName(vmid))
}

// ImagesDir is where node's storage keeps the volumes of container vmid, whether it has any
// there or not.
func (b *Backend) ImagesDir(node string, vmid int) string { return b.imagesDir(node, vmid) }

// home is the node whose storage holds the container's volumes; empty when they are in its
// LXC directory.
func (b *Backend) home(vmid int) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.homes[vmid]
}

func (b *Backend) setHome(vmid int, node string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if node == "" {
		delete(b.homes, vmid)
		return
	}
	b.homes[vmid] = node
}

// dataDir is the directory of the container's volumes.
func (b *Backend) dataDir(vmid int) string {
	if node := b.home(vmid); node != "" {
		return b.imagesDir(node, vmid)
	}
	return b.ctDir(vmid)
}

// followNode makes the container use the volumes on the node spec names once its
// configuration moved there: a migration copied them before (CopyVolumes). Only a stopped
// container changes node.
func (b *Backend) followNode(spec pvesim.ContainerSpec, running bool) error {
	home := b.home(spec.VMID)
	if home == "" || spec.Node == "" || spec.Node == home {
		return nil
	}
	if running {
		return fmt.Errorf("container %d runs on node %s; it cannot move to %s", spec.VMID, home, spec.Node)
	}
	if _, err := os.Stat(b.imagesDir(spec.Node, spec.VMID)); err != nil {
		return fmt.Errorf("the volumes of container %d are not on node %s: %w", spec.VMID, spec.Node, err)
	}
	// Nothing of the old node's volumes may stay mounted for the next start to reuse.
	if err := b.unmountRootfs(spec.VMID); err != nil {
		return err
	}
	b.setHome(spec.VMID, spec.Node)
	b.log.Info("Container uses its volumes on its new node", "vmid", spec.VMID, "from", home, "to", spec.Node)
	return nil
}

// claimHome makes node's storage the home of a new container's volumes. Volumes left there
// by another container of that number are refused, as the container directory is.
func (b *Backend) claimHome(vmid int, node string) error {
	if node == "" {
		return nil
	}
	dir := b.imagesDir(node, vmid)
	if _, err := os.Stat(dir); err == nil {
		return fmt.Errorf("container %d already has volumes in %s", vmid, dir)
	}
	if err := checkOverlayPath(dir); err != nil {
		return err
	}
	b.setHome(vmid, node)
	return nil
}

// dropVolumes removes the container's volumes from every node's storage (a copy a migration
// left behind included) and forgets their home; the caller removes its LXC directory.
func (b *Backend) dropVolumes(vmid int) error {
	b.setHome(vmid, "")
	dirs, err := filepath.Glob(filepath.Join(b.nodesPath, "*", "images", ctName(vmid)))
	if err != nil {
		return err
	}
	var errs []error
	for _, d := range dirs {
		errs = append(errs, os.RemoveAll(d))
	}
	return errors.Join(errs...)
}
