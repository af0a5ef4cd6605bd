package lxc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"templatemanager.dev/lxc-template-manager/internal/pvesim"
)

var _ pvesim.Archiver = (*Backend)(nil)

// Backups are GNU tar archives made and extracted the way vzdump and pct restore do it
// (pve-container VZDump/LXC.pm archive, LXC/Create.pm restore_tar_archive): tar runs in the
// container's user namespace, so the archive holds the ids the container sees, and with
// pve-storage's COMMON_TAR_FLAGS. Mount point volumes are not part of the archive: only the
// root filesystem is.

// tarFlags are pve-storage Plugin.pm's COMMON_TAR_FLAGS.
var tarFlags = []string{"--one-file-system", "-p", "--sparse", "--numeric-owner", "--acls", "--xattrs",
	"--xattrs-include=user.*", "--xattrs-include=security.capability", "--warning=no-file-ignored", "--warning=no-xattr-write"}

// usernsCommand is PVE::LXC::userns_command: lxc-usernsexec with the container's id map.
func usernsCommand(unprivileged bool) []string {
	if !unprivileged {
		return nil
	}
	return []string{"lxc-usernsexec", "-m", fmt.Sprintf("u:0:%d:%d", idShift, idCount),
		"-m", fmt.Sprintf("g:0:%d:%d", idShift, idCount), "--"}
}

// Archive writes the backup tar of a container's root filesystem to w.
func (b *Backend) Archive(ctx context.Context, vmid int, opts pvesim.ArchiveOptions, w io.Writer) (err error) {
	unlock := b.lock(vmid)
	defer unlock()
	rec, err := b.getRecord(vmid)
	if err != nil {
		return err
	}
	shift := 0
	if rec.Spec.Unprivileged {
		shift = idShift
	}
	stage := filepath.Join(b.ctDir(vmid), "vzdump")
	if err := stageConfig(stage, opts.PctConf, shift); err != nil {
		return err
	}
	defer os.RemoveAll(stage)
	running, err := b.state(ctx, vmid)
	if err != nil {
		return err
	}
	rootfs, err := b.mountRootfs(vmid, rec.Lower)
	if err != nil {
		return err
	}
	if !running {
		defer func() { err = errors.Join(err, b.unmountRootfs(vmid)) }()
	}
	if opts.Freeze && running {
		if _, err := b.lxcTool(ctx, nil, "freeze", vmid); err != nil {
			return fmt.Errorf("freeze container %d: %w", vmid, err)
		}
		defer func() {
			if _, uerr := b.lxcTool(context.WithoutCancel(ctx), nil, "unfreeze", vmid); uerr != nil {
				err = errors.Join(err, fmt.Errorf("unfreeze container %d: %w", vmid, uerr))
			}
		}()
	}
	args := append(usernsCommand(rec.Spec.Unprivileged), "tar", "cpf", "-", "--totals")
	args = append(args, tarFlags...)
	args = append(args, "--directory="+stage, "./etc/vzdump/pct.conf", "./etc/vzdump/pct.fw", "--directory="+rootfs, "--no-anchored")
	if rec.Spec.Unprivileged {
		args = append(args, "--exclude=lost+found")
	}
	var anchored []string
	for _, p := range opts.Exclude {
		if strings.HasPrefix(p, "/") {
			anchored = append(anchored, "--exclude=."+p)
		} else {
			args = append(args, "--exclude="+p)
		}
	}
	args = append(append(append(args, "--anchored"), anchored...), ".")
	if err := runTar(ctx, args, nil, w); err != nil {
		return fmt.Errorf("archive container %d: %w", vmid, err)
	}
	return nil
}

// stageConfig writes pct.conf and an empty pct.fw where the container's root may read them.
func stageConfig(stage, conf string, shift int) error {
	if err := os.RemoveAll(stage); err != nil {
		return err
	}
	dir := filepath.Join(stage, "etc", "vzdump")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for name, data := range map[string]string{"pct.conf": conf, "pct.fw": ""} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			return err
		}
	}
	return filepath.WalkDir(stage, func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, shift, shift)
	})
}

// Restore makes a stopped container from a backup: a root filesystem of its own on an empty
// lower layer, the archive extracted into it, then hostname and network from spec.
func (b *Backend) Restore(ctx context.Context, spec pvesim.ContainerSpec, r io.Reader) (err error) {
	if spec.Hostname == "" {
		spec.Hostname = "CT" + strconv.Itoa(spec.VMID)
	}
	if err := validateSpec(spec); err != nil {
		return err
	}
	unlock := b.lock(spec.VMID)
	defer unlock()
	if _, err := b.getRecord(spec.VMID); err == nil {
		return fmt.Errorf("container %d already exists", spec.VMID)
	} else if b.isClosed() {
		return err
	}
	dir := b.ctDir(spec.VMID)
	if _, err := os.Stat(dir); err == nil {
		return fmt.Errorf("container %d already exists in %s", spec.VMID, b.lxcPath)
	}
	shift := 0
	if spec.Unprivileged {
		shift = idShift
		if err := b.prepareUnprivileged(ctx); err != nil {
			return err
		}
	}
	lower, err := b.templates.empty(shift)
	if err != nil {
		return err
	}
	// The restored volumes live on the node's storage, as a created container's do.
	if err := b.claimHome(spec.VMID, spec.Node); err != nil {
		return err
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		b.setHome(spec.VMID, "")
		return err
	}
	defer func() {
		err = errors.Join(err, b.unmountRootfs(spec.VMID))
		if err != nil {
			_ = b.dropVolumes(spec.VMID)
			_ = os.RemoveAll(dir)
		}
	}()
	if err := b.makeRootfs(ctx, spec.VMID, lower); err != nil {
		return fmt.Errorf("create root filesystem: %w", err)
	}
	layer := b.layerDir(spec.VMID)
	if err := os.Lchown(layer, shift, shift); err != nil {
		return err
	}
	args := append(usernsCommand(spec.Unprivileged), "tar", "xpf", "-", "--totals")
	args = append(args, tarFlags...)
	args = append(args, "-C", layer, "--skip-old-files", "--anchored", "--exclude", "./dev/*")
	if err := runTar(ctx, args, r, io.Discard); err != nil {
		return fmt.Errorf("extract archive: %w", err)
	}
	if err := dropBackupConfig(layer); err != nil {
		return err
	}
	if err := b.prepareStopped(ctx, spec, lower, false); err != nil {
		return err
	}
	if err := b.writeConfig(spec); err != nil {
		return err
	}
	if err := b.saveRecord(spec.VMID, &record{Spec: spec, Lower: lower}); err != nil {
		return err
	}
	b.log.Info("Restored container", "vmid", spec.VMID, "hostname", spec.Hostname, "unprivileged", spec.Unprivileged)
	return nil
}

// dropBackupConfig removes what restore_configuration_from_etc_vzdump takes out of the tree:
// pct.conf, and pct.fw unless it is empty.
func dropBackupConfig(layer string) error {
	root, err := os.OpenRoot(layer)
	if err != nil {
		return err
	}
	defer root.Close()
	if err := root.Remove("etc/vzdump/pct.conf"); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if fi, err := root.Lstat("etc/vzdump/pct.fw"); err == nil && fi.Mode().IsRegular() && fi.Size() > 0 {
		return root.Remove("etc/vzdump/pct.fw")
	}
	return nil
}

// runTar runs tar (in a user namespace when args start with lxc-usernsexec) with stdin and
// stdout as given.
func runTar(ctx context.Context, args []string, stdin io.Reader, stdout io.Writer) error {
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.Stdin, cmd.Stdout = stdin, stdout
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%w: %s", err, lastLines(strings.TrimSpace(stderr.String()), 5))
	}
	return nil
}
