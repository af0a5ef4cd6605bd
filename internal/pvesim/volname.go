package pvesim

import (
	"fmt"
	"regexp"
	"strconv"

	"templatemanager.dev/lxc-template-manager/internal/pvesim/schema"
)

// Container volume names as the storage plugins of pve-storage allocate and parse them: a
// directory storage keeps raw image files in images/<vmid>/ (Plugin.pm alloc_image, the
// volume id names the file), LVM-thin names logical volumes (LvmThinPlugin.pm).
var (
	// dirVolumeRE is Plugin.pm's parse_name_dir below the owner's directory.
	dirVolumeRE = regexp.MustCompile(`^(\d+)/((base|vm|subvol|basevol)-(\d+)-disk-(\d+)\.(raw|qcow2|vmdk|subvol))$`)
	// lvmVolumeRE is LvmThinPlugin.pm's parse_volname.
	lvmVolumeRE = regexp.MustCompile(`^((vm|base)-(\d+)-\S+)$`)
)

// diskVolume is a parsed container volume.
type diskVolume struct {
	storage storageDef
	vmid    int
	diskNo  int
	format  string // raw, subvol, …
	base    bool   // a template's base volume
}

// newDiskVolume is the volume id of the n-th new disk of vmid: size 0 on a directory storage
// is a subvolume (pve-container LXC.pm alloc_disk), anything else a raw image.
func newDiskVolume(st storageDef, vmid, n int, size int64) string {
	if st.plugin != "dir" {
		return fmt.Sprintf("%s:vm-%d-disk-%d", st.name, vmid, n)
	}
	if size == 0 {
		return fmt.Sprintf("%s:%d/subvol-%d-disk-%d.subvol", st.name, vmid, vmid, n)
	}
	return fmt.Sprintf("%s:%d/vm-%d-disk-%d.raw", st.name, vmid, vmid, n)
}

// parseDiskVolume parses a volume id of a rootfs or mp[n]; ok is false for bind and device
// mount points and names the storage does not know.
func parseDiskVolume(volid string) (diskVolume, bool) {
	sid, name, ok := schema.ParseVolumeID(volid)
	if !ok {
		return diskVolume{}, false
	}
	st, ok := findStorage(sid)
	if !ok {
		return diskVolume{}, false
	}
	v := diskVolume{storage: st, format: "raw"}
	if st.plugin == "dir" {
		m := dirVolumeRE.FindStringSubmatch(name)
		if m == nil {
			return diskVolume{}, false
		}
		v.vmid, _ = strconv.Atoi(m[1])
		v.diskNo, _ = strconv.Atoi(m[5])
		v.format, v.base = m[6], m[3] == "base" || m[3] == "basevol"
		return v, true
	}
	m := lvmVolumeRE.FindStringSubmatch(name)
	if m == nil {
		return diskVolume{}, false
	}
	v.vmid, _ = strconv.Atoi(m[3])
	v.base = m[2] == "base"
	if d := diskNoRE.FindStringSubmatch(name); d != nil {
		v.diskNo, _ = strconv.Atoi(d[1])
	}
	return v, true
}

// baseVolumeRE finds the vm- prefix template_create renames to base-.
var baseVolumeRE = regexp.MustCompile(`([:/])vm-(\d+)-disk-`)
