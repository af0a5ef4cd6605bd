package desired

import (
	"slices"
	"testing"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
)

// TestConfigChangesBindMountsAndDevices: a bind mount and devices are written as Proxmox
// spells them; the same values read back (in any spelling of the options) need no write; a
// changed device, a bind mount replacing a volume and a device no longer in the spec are
// converged; mknod and mount are part of features.
func TestConfigChangesBindMountsAndDevices(t *testing.T) {
	d := liveDesired()
	d.Features.Mknod, d.Features.Mount = true, []lxcv1.FilesystemType{"nfs", "cifs"}
	d.MountPoints = []lxcv1.MountPoint{{Index: 0, Path: "/srv/media", HostPath: "/tank/media", ReadOnly: true}}
	d.Devices = []lxcv1.Device{{Path: "/dev/net/tun"}, {Path: "/dev/dri/renderD128", Mode: "0666", GID: ptr(int32(44)), DenyWrite: true}}
	u, fields := Changes(d, parsedConfig(t, liveConfig()))
	for k, v := range map[string]string{
		"mp0": "/tank/media,mp=/srv/media,ro=1", "dev0": "/dev/net/tun", "dev1": "/dev/dri/renderD128,mode=0666,gid=44,deny-write=1",
		"features": "mknod=1,mount=nfs;cifs,nesting=1",
	} {
		if u.Set[k] != v {
			t.Errorf("Set[%s] = %q, want %q", k, u.Set[k], v)
		}
	}
	for _, f := range []string{"mountPoints[0]", "devices[0] (/dev/net/tun)", "devices[1] (/dev/dri/renderD128)", "features"} {
		if !slices.Contains(fields, f) {
			t.Errorf("fields %v lack %s", fields, f)
		}
	}

	raw := liveConfig()
	raw["features"] = "mknod=1,mount=cifs;nfs,nesting=1"
	raw["mp0"] = "/tank/media,mp=/srv/media,ro=1"
	raw["dev0"] = "path=/dev/net/tun,mode=0660,uid=0"
	raw["dev1"] = "/dev/dri/renderD128,deny-write=1,gid=44,mode=0666"
	if u, fields := Changes(d, parsedConfig(t, raw)); len(fields) != 0 {
		t.Errorf("changes for a container as specified: %v %v %v", fields, u.Set, u.Delete)
	}

	raw["mp0"] = "local-lvm:vm-100-disk-1,mp=/srv/media,size=2G"
	raw["dev1"] = "/dev/dri/renderD128,gid=44,mode=0666"
	raw["dev2"] = "/dev/kvm"
	u, _ = Changes(d, parsedConfig(t, raw))
	if u.Set["mp0"] != "/tank/media,mp=/srv/media,ro=1" || u.Set["dev1"] != "/dev/dri/renderD128,mode=0666,gid=44,deny-write=1" || u.Set["dev0"] != "" {
		t.Errorf("Set = %v", u.Set)
	}
	if !slices.Equal(u.Delete, []string{"dev2"}) {
		t.Errorf("Delete = %v", u.Delete)
	}
}

// TestMergeDevices: the container's device of a template's path replaces it in place; its
// others follow the template's.
func TestMergeDevices(t *testing.T) {
	got := mergeDevices(
		[]lxcv1.Device{{Path: "/dev/net/tun"}, {Path: "/dev/fuse"}},
		[]lxcv1.Device{{Path: "/dev/kvm"}, {Path: "/dev/net/tun", Mode: "0666"}})
	want := []lxcv1.Device{{Path: "/dev/net/tun", Mode: "0666"}, {Path: "/dev/fuse"}, {Path: "/dev/kvm"}}
	if !slices.EqualFunc(got, want, func(a, b lxcv1.Device) bool { return a.Path == b.Path && a.Mode == b.Mode }) {
		t.Errorf("merged %v, want %v", got, want)
	}
}
