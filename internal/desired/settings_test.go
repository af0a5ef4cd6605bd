package desired

import (
	"slices"
	"strings"
	"testing"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
	"templatemanager.dev/lxc-template-manager/internal/proxmox"
)

func parsedConfig(t *testing.T, raw map[string]string) proxmox.ContainerConfig {
	t.Helper()
	cfg, err := proxmox.ParseConfigText(raw)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func liveDesired() *Container {
	return &Container{
		Hostname: "web", Cores: 1, MemoryMiB: 512, SwapMiB: 512, DiskGiB: 4, Storage: "local-lvm", Unprivileged: true,
		Features: lxcv1.Features{Nesting: true},
		Network:  lxcv1.Network{Bridge: "vmbr0", IPv4: "dhcp"},
		Tags:     []string{"lxctm", "web"}, OnBoot: true,
	}
}

func liveConfig() map[string]string {
	return map[string]string{
		"hostname": "web", "cores": "1", "memory": "512", "swap": "512", "features": "nesting=1",
		"net0": "name=eth0,bridge=vmbr0,hwaddr=BC:24:11:00:00:01,ip=dhcp,type=veth", "tags": "lxctm;web", "onboot": "1",
		"rootfs": "local-lvm:vm-100-disk-0,size=4G", "unprivileged": "1",
	}
}

// TestConfigChangesNone: a container as the spec says needs no write.
func TestConfigChangesNone(t *testing.T) {
	u, fields := Changes(liveDesired(), parsedConfig(t, liveConfig()))
	if len(fields) != 0 || len(u.Set) != 0 || len(u.Delete) != 0 {
		t.Errorf("changes for a container as specified: %v %v %v", fields, u.Set, u.Delete)
	}
}

// TestConfigChangesEveryField: each field differs, and the update sets or deletes exactly it,
// keeping net0's MAC address.
func TestConfigChangesEveryField(t *testing.T) {
	d := liveDesired()
	d.Hostname, d.Cores, d.MemoryMiB = "renamed", 2, 1024
	d.Features.Nesting = false
	d.Network.Nameservers = []string{"169.254.0.53"}
	d.Network.SearchDomains = []string{"example.test"}
	d.Network.VLANTag = ptr(int32(7))
	d.OnBoot, d.Protection, d.Startup = false, true, "order=2"
	d.MountPoints = []lxcv1.MountPoint{{Index: 0, Path: "/srv/data", SizeGiB: 2, Storage: "local-lvm"}}
	u, fields := Changes(d, parsedConfig(t, liveConfig()))
	want := map[string]string{
		"hostname": "renamed", "cores": "2", "memory": "1024", "nameserver": "169.254.0.53", "searchdomain": "example.test",
		"protection": "1", "startup": "order=2", "mp0": "local-lvm:2,mp=/srv/data",
	}
	for k, v := range want {
		if u.Set[k] != v {
			t.Errorf("Set[%s] = %q, want %q", k, u.Set[k], v)
		}
	}
	if net := u.Set["net0"]; !strings.Contains(net, "hwaddr=BC:24:11:00:00:01") || !strings.Contains(net, "tag=7") {
		t.Errorf("net0 = %q, want the MAC kept and the VLAN tag set", net)
	}
	if !slices.Equal(u.Delete, []string{"features", "onboot"}) {
		t.Errorf("Delete = %v", u.Delete)
	}
	for _, f := range []string{"hostname", "resources.cores", "resources.memoryMiB", "features", "network", "network.nameservers",
		"network.searchDomains", "onBoot", "startup", "protection", "mountPoints[0]"} {
		if !slices.Contains(fields, f) {
			t.Errorf("fields %v lack %s", fields, f)
		}
	}
}

// TestConfigChangesMountPoints: a moved mount point keeps its volume and size; one no longer
// in the spec is deleted (Proxmox keeps its volume as unused).
func TestConfigChangesMountPoints(t *testing.T) {
	d := liveDesired()
	d.MountPoints = []lxcv1.MountPoint{{Index: 0, Path: "/srv/moved", SizeGiB: 2, Storage: "local-lvm"}}
	raw := liveConfig()
	raw["mp0"] = "local-lvm:vm-100-disk-1,mp=/srv/data,size=2G"
	raw["mp1"] = "local-lvm:vm-100-disk-2,mp=/srv/old,size=1G"
	u, _ := Changes(d, parsedConfig(t, raw))
	if u.Set["mp0"] != "local-lvm:vm-100-disk-1,mp=/srv/moved,size=2G" {
		t.Errorf("mp0 = %q", u.Set["mp0"])
	}
	if !slices.Equal(u.Delete, []string{"mp1"}) {
		t.Errorf("Delete = %v", u.Delete)
	}
}

// TestDrifted: the cluster-wide list shows memory, cores, disk, name and tags.
func TestDrifted(t *testing.T) {
	d := liveDesired()
	g := &proxmox.Guest{Name: "web", MaxMemory: 512 << 20, CPUs: 1, MaxDisk: 4 << 30, Tags: []string{"web", "lxctm"}}
	if f := Drift(g, d); len(f) != 0 {
		t.Errorf("drift of a container as specified: %v", f)
	}
	g = &proxmox.Guest{Name: "other", MaxMemory: 1 << 30, CPUs: 2, MaxDisk: 8 << 30, Tags: []string{"lxctm"}}
	if f := Drift(g, d); !slices.Equal(f, []string{"memory", "cores", "disk", "hostname", "tags"}) {
		t.Errorf("drift = %v", f)
	}
}

func ptr[T any](v T) *T { return &v }
