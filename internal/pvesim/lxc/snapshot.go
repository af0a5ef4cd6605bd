package lxc

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"time"

	"templatemanager.dev/lxc-template-manager/internal/pvesim"
)

var (
	_ pvesim.Cloner      = (*Backend)(nil)
	_ pvesim.Snapshotter = (*Backend)(nil)
)

// What differs between containers lives in the writable layer (delta0, or the copied rootfs
// without overlays), so clones and snapshots copy just that layer.
func (b *Backend) layerDir(vmid int) string {
	if b.overlay {
		return filepath.Join(b.dataDir(vmid), "delta0")
	}
	return b.rootfsDir(vmid)
}

func copyTree(ctx context.Context, src, dst string) error {
	if err := os.Mkdir(dst, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		return err
	}
	_, err := run(ctx, nil, "cp", "-a", "--reflink=auto", src+"/.", dst)
	return err
}

// Clone makes a new container from the source's root filesystem, with the hostname and
// network of spec. Like Proxmox it clears the machine id, so the clone is a new machine.
func (b *Backend) Clone(ctx context.Context, source int, spec pvesim.ContainerSpec) (err error) {
	if spec.Hostname == "" {
		spec.Hostname = fmt.Sprintf("CT%d", spec.VMID)
	}
	if err := validateSpec(spec); err != nil {
		return err
	}
	if source == spec.VMID {
		return errors.New("a container cannot be cloned onto itself")
	}
	unlockSrc := b.lock(source)
	defer unlockSrc()
	unlock := b.lock(spec.VMID)
	defer unlock()
	src, err := b.getRecord(source)
	if err != nil {
		return err
	}
	if _, err := b.getRecord(spec.VMID); err == nil {
		return fmt.Errorf("container %d already exists", spec.VMID)
	}
	dir := b.ctDir(spec.VMID)
	if _, err := os.Stat(dir); err == nil {
		return fmt.Errorf("container %d already exists in %s", spec.VMID, b.lxcPath)
	}
	spec.Unprivileged = src.Spec.Unprivileged
	spec.OSTemplate = src.Spec.OSTemplate
	spec.RootPassword = ""
	started := time.Now()

	if err := b.claimHome(spec.VMID, spec.Node); err != nil {
		return err
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		b.setHome(spec.VMID, "")
		return err
	}
	defer func() {
		// The clone stays stopped: nothing of it stays mounted.
		err = errors.Join(err, b.unmountRootfs(spec.VMID))
		if err != nil {
			_ = b.dropVolumes(spec.VMID)
			_ = os.RemoveAll(dir)
		}
	}()
	if err := b.makeRootfs(ctx, spec.VMID, src.Lower); err != nil {
		return err
	}
	if b.overlay {
		err = copyTree(ctx, b.layerDir(source), b.layerDir(spec.VMID))
	} else {
		// makeRootfs copied the template; the source's tree replaces it.
		if err = os.RemoveAll(b.layerDir(spec.VMID)); err == nil {
			err = copyTree(ctx, b.layerDir(source), b.layerDir(spec.VMID))
		}
	}
	if err != nil {
		return fmt.Errorf("copy root filesystem of %d: %w", source, err)
	}
	if err := b.prepareStopped(ctx, spec, src.Lower, false); err != nil {
		return err
	}
	if err := b.clearMachineID(spec, src.Lower); err != nil {
		return err
	}
	if err := b.writeConfig(spec); err != nil {
		return err
	}
	if err := b.saveRecord(spec.VMID, &record{Spec: spec, Lower: src.Lower}); err != nil {
		return err
	}
	b.log.Info("Cloned container", "source", source, "vmid", spec.VMID, "took", time.Since(started).Round(time.Millisecond))
	return nil
}

func (b *Backend) clearMachineID(spec pvesim.ContainerSpec, lower string) error {
	_, files, err := b.openStopped(spec, lower)
	if err != nil {
		return err
	}
	defer files.Close()
	return files.write("/etc/machine-id", "", 0o444)
}

// Proxmox's snapshot names (pve-configid).
var snapshotName = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9_-]{1,39}$`)

func (b *Backend) snapshotDir(vmid int, name string) (string, error) {
	if !snapshotName.MatchString(name) {
		return "", fmt.Errorf("invalid snapshot name %q", name)
	}
	return filepath.Join(b.dataDir(vmid), "snapshots", name), nil
}

// Snapshot copies the container's writable layer. A running container is frozen meanwhile,
// so the copy is consistent, as Proxmox does for its snapshots.
func (b *Backend) Snapshot(ctx context.Context, vmid int, name string) (err error) {
	unlock := b.lock(vmid)
	defer unlock()
	if _, err := b.getRecord(vmid); err != nil {
		return err
	}
	dir, err := b.snapshotDir(vmid, name)
	if err != nil {
		return err
	}
	if _, err := os.Stat(dir); err == nil {
		return fmt.Errorf("snapshot %q of container %d already exists", name, vmid)
	}
	running, err := b.state(ctx, vmid)
	if err != nil {
		return err
	}
	if running {
		if _, err := b.lxcTool(ctx, nil, "freeze", vmid); err != nil {
			return fmt.Errorf("freeze container %d: %w", vmid, err)
		}
		defer func() {
			if _, uerr := b.lxcTool(context.WithoutCancel(ctx), nil, "unfreeze", vmid); uerr != nil {
				err = errors.Join(err, fmt.Errorf("unfreeze container %d: %w", vmid, uerr))
			}
		}()
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if err := copyTree(ctx, b.layerDir(vmid), filepath.Join(dir, "layer")); err != nil {
		_ = os.RemoveAll(dir)
		return fmt.Errorf("snapshot %q of container %d: %w", name, vmid, err)
	}
	b.log.Info("Took snapshot", "vmid", vmid, "snapshot", name)
	return nil
}

// Rollback replaces the writable layer of a stopped container with the snapshot's.
func (b *Backend) Rollback(ctx context.Context, vmid int, name string) error {
	unlock := b.lock(vmid)
	defer unlock()
	if _, err := b.getRecord(vmid); err != nil {
		return err
	}
	dir, err := b.snapshotDir(vmid, name)
	if err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(dir, "layer")); err != nil {
		return fmt.Errorf("snapshot %q of container %d: %w", name, vmid, err)
	}
	if running, err := b.state(ctx, vmid); err != nil || running {
		return errors.Join(err, fmt.Errorf("container %d must be stopped for a rollback", vmid))
	}
	// The layer must not change under a mount (one the container left when it powered off).
	if err := b.unmountRootfs(vmid); err != nil {
		return err
	}
	layer := b.layerDir(vmid)
	if err := os.RemoveAll(layer); err != nil {
		return err
	}
	if b.overlay {
		// The overlay's work directory belongs to the replaced layer.
		work := filepath.Join(b.dataDir(vmid), "work")
		if err := os.RemoveAll(work); err != nil {
			return err
		}
		if err := os.Mkdir(work, 0o700); err != nil {
			return err
		}
	}
	if err := copyTree(ctx, filepath.Join(dir, "layer"), layer); err != nil {
		return fmt.Errorf("roll back container %d to %q: %w", vmid, name, err)
	}
	b.log.Info("Rolled back container", "vmid", vmid, "snapshot", name)
	return nil
}

// DeleteSnapshot removes a snapshot's copy.
func (b *Backend) DeleteSnapshot(ctx context.Context, vmid int, name string) error {
	unlock := b.lock(vmid)
	defer unlock()
	if _, err := b.getRecord(vmid); err != nil {
		return err
	}
	dir, err := b.snapshotDir(vmid, name)
	if err != nil {
		return err
	}
	if _, err := os.Stat(dir); err != nil {
		return fmt.Errorf("snapshot %q of container %d: %w", name, vmid, err)
	}
	return os.RemoveAll(dir)
}
