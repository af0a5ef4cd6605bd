package pvesim

import (
	"maps"
	"slices"

	"templatemanager.dev/lxc-template-manager/internal/pvesim/schema"
)

// Storage features are the tables of pve-storage's volume_has_feature: a feature by the
// state of the volume (current, snap for a snapshot of it, base for a template's volume).
// The directory plugin (Plugin.pm) has them only for some image formats: a raw container
// disk there cannot be snapshotted. LVM-thin (LvmThinPlugin.pm) has them for any volume.
var (
	dirFeatures = map[string]map[string][]string{
		"snapshot": {"current": {"qcow2"}, "snap": {"qcow2"}},
		"clone":    {"base": {"qcow2", "raw", "vmdk"}},
		"copy":     {"base": {"qcow2", "raw", "vmdk"}, "current": {"qcow2", "raw", "vmdk"}, "snap": {"qcow2"}},
	}
	lvmThinFeatures = map[string][]string{
		"snapshot": {"current"},
		"clone":    {"base", "snap"},
		"copy":     {"base", "current", "snap"},
	}
)

// volumeHasFeature is PVE::Storage::volume_has_feature for a container volume. Bind and
// device mount points are paths, which have no features.
func volumeHasFeature(feature, volid string, snap bool) bool {
	v, ok := parseDiskVolume(volid)
	if !ok {
		return false
	}
	key := "current"
	switch {
	case snap:
		key = "snap"
	case v.base:
		key = "base"
	}
	switch v.storage.plugin {
	case "dir":
		// Containers ask for raw or subvol targets, and the directory plugin clones to qcow2
		// only.
		if feature == "clone" {
			return false
		}
		return slices.Contains(dirFeatures[feature][key], v.format)
	case "lvmthin":
		return slices.Contains(lvmThinFeatures[feature], key)
	}
	return false
}

// hasFeature is PVE::LXC::Config::has_feature: every volume of the config must have the
// feature. backupOnly skips the mount points a backup leaves out (mountpoint_backup_enabled).
func hasFeature(feature string, conf map[string]string, snap, backupOnly bool) bool {
	for _, k := range diskKeys(conf) {
		mp, err := schema.ParsePropertyString(rootfsFormatFor(k), conf[k])
		if err != nil {
			return false
		}
		if backupOnly && !backupEnabled(k, mp) {
			continue
		}
		if !volumeHasFeature(feature, mp["volume"], snap) {
			return false
		}
	}
	return true
}

// backupEnabled is mountpoint_backup_enabled: rootfs always, volume mount points with
// backup=1, never bind or device mount points.
func backupEnabled(key string, mp map[string]string) bool {
	return key == "rootfs" || (mountType(mp["volume"]) == "volume" && mp["backup"] == "1")
}

// featureCheck is GET /nodes/{node}/lxc/{vmid}/feature (pve-container API2/LXC.pm vm_feature).
func (s *Server) featureCheck(r *request) (any, error) {
	ct, err := s.target(r)
	if err != nil {
		return nil, err
	}
	name := r.params["snapname"]
	s.mu.Lock()
	conf := maps.Clone(ct.Conf)
	var sn *snapshot
	if name != "" {
		sn = ct.snapshot(name)
		if sn != nil {
			conf = maps.Clone(sn.Conf)
		}
	}
	s.mu.Unlock()
	if name != "" && sn == nil {
		return nil, pveError("snapshot '%s' does not exist", name)
	}
	has := 0
	if hasFeature(r.params["feature"], conf, name != "", false) {
		has = 1
	}
	return map[string]any{"hasFeature": has}, nil
}
