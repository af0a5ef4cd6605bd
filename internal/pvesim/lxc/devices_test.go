package lxc

import (
	"path/filepath"
	"strings"
	"testing"

	"templatemanager.dev/lxc-template-manager/internal/pvesim"
)

// TestRenderConfigPassesThroughBindMountsAndDevices: a bind mount mounts the host directory
// itself (read-only with ro), a device gets the bind mount of its passthrough node and the
// devices cgroup rule with its number (read only with deny-write), and the mount feature
// allows its file system types, as PVE's generated configuration does.
func TestRenderConfigPassesThroughBindMountsAndDevices(t *testing.T) {
	dir := t.TempDir()
	b := &Backend{lxcPath: dir, bridge: "vmbr0", cgroups: detectCgroups()}
	cfg := b.renderConfig(pvesim.ContainerSpec{VMID: 100, Hostname: "ct", Unprivileged: true, MountTypes: []string{"nfs"},
		Mounts:  []pvesim.MountSpec{{Key: "mp0", Volume: "/tank/media", Path: "/srv/media", Bind: true, ReadOnly: true}},
		Devices: []pvesim.DeviceSpec{{Key: "dev0", Path: "/dev/null"}, {Key: "dev1", Path: "/dev/zero", DenyWrite: true}},
	}, "/rootfs", filepath.Join(dir, "100"))
	cgroup := "lxc.cgroup2."
	if b.cgroups.devicesV1 {
		cgroup = "lxc.cgroup."
	}
	for _, line := range []string{
		"lxc.mount.entry = /tank/media srv/media none rbind,create=dir,ro 0 0",
		"lxc.mount.entry = " + filepath.Join(b.passthroughDir(100), "dev/null") + " dev/null none bind,create=file 0 0",
		cgroup + "devices.allow = c 1:3 rw",
		cgroup + "devices.allow = c 1:5 r",
		cgroup + "devices.deny = c 1:5 w",
		"lxc.apparmor.raw = mount fstype=nfs,",
	} {
		if !strings.Contains(cfg, line+"\n") {
			t.Errorf("the configuration lacks %q:\n%s", line, cfg)
		}
	}
	if strings.Contains(cfg, "devices.deny = c 1:3") {
		t.Errorf("a writable device is denied writes:\n%s", cfg)
	}
}
