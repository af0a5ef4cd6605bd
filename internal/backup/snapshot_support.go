package backup

import (
	"context"
	"fmt"
	"regexp"
	"sort"
	"strings"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
	"templatemanager.dev/lxc-template-manager/internal/outcome"
	"templatemanager.dev/lxc-template-manager/internal/proxmox"
)

// snapshotStorageTypes can snapshot container volumes (pve-storage volume_has_feature: raw and
// subvol volumes on ZFS, LVM-thin, RBD and btrfs; a dir storage snapshots only qcow2, which
// containers do not use).
var snapshotStorageTypes = map[string]bool{"zfspool": true, "lvmthin": true, "rbd": true, "btrfs": true, "zfs": true}

// snapshotSupported asks Proxmox whether every volume of the container can be snapshotted
// (GET …/feature?feature=snapshot); when not, it stalls with SnapshotUnsupported naming the
// first volume that cannot.
func snapshotSupported(ctx context.Context, t target) error {
	ok, err := t.px.HasFeature(ctx, t.node, t.vmid, "snapshot")
	if err != nil || ok {
		return err
	}
	return outcome.Stall(lxcv1.SnapshotUnsupportedReason, "CT %d cannot be snapshotted: %s", t.vmid, unsnapshottable(ctx, t))
}

// unsnapshottable names the volume that keeps a container from being snapshotted.
func unsnapshottable(ctx context.Context, t target) string {
	cfg, err := t.px.ContainerConfig(ctx, t.node, t.vmid)
	if err != nil {
		return "a volume is on storage without snapshots"
	}
	storages, err := t.px.Storages(ctx, t.node)
	if err != nil {
		return "a volume is on storage without snapshots"
	}
	types := map[string]string{}
	for _, s := range storages {
		types[s.Name] = s.Type
	}
	for _, v := range volumes(cfg) {
		if strings.HasPrefix(v.volume, "/") {
			return fmt.Sprintf("%s is a bind or device mount (%s)", v.key, v.volume)
		}
		storage, _, _ := strings.Cut(v.volume, ":")
		if typ := types[storage]; !snapshotStorageTypes[typ] {
			return fmt.Sprintf("%s (%s) is on %s storage %s, which cannot take snapshots of containers", v.key, v.volume, typ, storage)
		}
	}
	return "Proxmox reports that a volume cannot be snapshotted"
}

type volume struct{ key, volume string }

// volumes lists rootfs and the mount points in key order.
func volumes(cfg proxmox.ContainerConfig) []volume {
	out := []volume{{"rootfs", cfg.RootFS.Volume}}
	keys := make([]int, 0, len(cfg.MountPoints))
	for n := range cfg.MountPoints {
		keys = append(keys, n)
	}
	sort.Ints(keys)
	for _, n := range keys {
		out = append(out, volume{fmt.Sprintf("mp%d", n), cfg.MountPoints[n].Volume})
	}
	return out
}

var notSnapName = regexp.MustCompile(`[^A-Za-z0-9_-]+`)

// snapshotName is the Proxmox name of an LXCSnapshot's snapshot: a letter first, then letters,
// digits, _ and -, at most 40 characters (pve-common's pve-configid), unique by the object's
// UID. "current" and "vzdump" are reserved, and cannot come out of this.
func snapshotName(obj *lxcv1.LXCSnapshot) string {
	base := notSnapName.ReplaceAllString(obj.Name, "-")
	if len(base) > 30 {
		base = base[:30]
	}
	uid := strings.ReplaceAll(string(obj.UID), "-", "")
	if len(uid) > 8 {
		uid = uid[:8]
	}
	return "s" + base + "-" + uid
}
