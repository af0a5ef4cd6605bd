package policy

import (
	"strings"
	"testing"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
	"templatemanager.dev/lxc-template-manager/internal/desired"
)

func ptr[T any](v T) *T { return &v }

// TestCheckNamesTheRuleAndTheField: each rule refuses what it should, naming the field.
func TestCheckNamesTheRuleAndTheField(t *testing.T) {
	base := func() *desired.Container {
		return &desired.Container{Cores: 2, MemoryMiB: 1024, DiskGiB: 8, Storage: "local-lvm", Unprivileged: true,
			Features: lxcv1.Features{Nesting: true}, Network: lxcv1.Network{Bridge: "vmbr0"},
			MountPoints: []lxcv1.MountPoint{{Index: 0, Path: "/data", SizeGiB: 10, Storage: "local-lvm"}}}
	}
	p := &lxcv1.ClusterPolicy{Nodes: []string{"pve1"}, Storages: []string{"local-lvm"}, Bridges: []string{"vmbr0"},
		VLANTags: nil, Limits: &lxcv1.ContainerLimits{Cores: ptr(int32(4)), MemoryMiB: ptr(int32(2048)), DiskGiB: ptr(int32(16)), MountPointGiB: ptr(int32(20))}}
	if v := Check(p, Request{Node: "pve1", Container: base()}); v != nil {
		t.Fatalf("an allowed container refused: %v", v)
	}
	for _, tc := range []struct {
		name   string
		node   string
		mutate func(*desired.Container)
		policy func(*lxcv1.ClusterPolicy)
		want   []string
	}{
		{"node", "pve2", nil, nil, []string{"spec.node", "spec.policy.nodes"}},
		{"storage", "", func(d *desired.Container) { d.Storage = "ceph" }, nil, []string{"spec.storage", "spec.policy.storages"}},
		{"mount point storage", "", func(d *desired.Container) { d.MountPoints[0].Storage = "ceph" }, nil, []string{"spec.mountPoints[mp0].storage"}},
		{"mount point size", "", func(d *desired.Container) { d.MountPoints[0].SizeGiB = 21 }, nil, []string{"spec.mountPoints[mp0].sizeGiB", "limits.mountPointGiB"}},
		{"bridge", "", func(d *desired.Container) { d.Network.Bridge = "vmbr9" }, nil, []string{"spec.network.bridge", "spec.policy.bridges"}},
		{"untagged", "", nil, func(p *lxcv1.ClusterPolicy) { p.VLANTags = []int32{10} }, []string{"spec.network.vlanTag", "untagged"}},
		{"vlan", "", func(d *desired.Container) { d.Network.VLANTag = ptr(int32(11)) }, func(p *lxcv1.ClusterPolicy) { p.VLANTags = []int32{10} }, []string{"spec.network.vlanTag", "11"}},
		{"privileged", "", func(d *desired.Container) { d.Unprivileged = false }, nil, []string{"features.unprivileged", "allowPrivileged"}},
		{"keyctl by default", "", func(d *desired.Container) { d.Features.Keyctl = true }, nil, []string{"features.keyctl", "spec.policy.features"}},
		{"nesting not listed", "", nil, func(p *lxcv1.ClusterPolicy) { p.Features = []lxcv1.FeatureName{lxcv1.FeatureFuse} }, []string{"features.nesting"}},
		{"cores", "", func(d *desired.Container) { d.Cores = 5 }, nil, []string{"spec.resources.cores", "limits.cores"}},
		{"memory", "", func(d *desired.Container) { d.MemoryMiB = 4096 }, nil, []string{"spec.resources.memoryMiB"}},
		{"disk", "", func(d *desired.Container) { d.DiskGiB = 17 }, nil, []string{"spec.resources.diskGiB"}},
		{"mknod", "", func(d *desired.Container) { d.Features.Mknod = true }, nil, []string{"features.mknod", "spec.policy.features"}},
		{"mount", "", func(d *desired.Container) { d.Features.Mount = []lxcv1.FilesystemType{"nfs"} }, nil, []string{"features.mount", "spec.policy.features"}},
		{"bind mount by default", "", func(d *desired.Container) {
			d.MountPoints = []lxcv1.MountPoint{{Index: 1, Path: "/m", HostPath: "/srv"}}
		}, nil,
			[]string{"spec.mountPoints[mp1].hostPath", "spec.policy.hostPaths"}},
		{"bind mount beside a prefix", "", func(d *desired.Container) {
			d.MountPoints = []lxcv1.MountPoint{{Index: 1, Path: "/m", HostPath: "/srv/media2"}}
		},
			func(p *lxcv1.ClusterPolicy) { p.HostPaths = []string{"/srv/media"} }, []string{"/srv/media2", "spec.policy.hostPaths"}},
		{"device by default", "", func(d *desired.Container) { d.Devices = []lxcv1.Device{{Path: "/dev/net/tun"}} }, nil,
			[]string{"spec.devices[0].path", "spec.policy.devices"}},
		{"device not listed", "", func(d *desired.Container) { d.Devices = []lxcv1.Device{{Path: "/dev/kvm"}} },
			func(p *lxcv1.ClusterPolicy) { p.Devices = []string{"/dev/net/tun"} }, []string{"/dev/kvm", "spec.policy.devices"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, pol := base(), *p
			if tc.mutate != nil {
				tc.mutate(d)
			}
			if tc.policy != nil {
				tc.policy(&pol)
			}
			v := Check(&pol, Request{Node: tc.node, Container: d})
			if v == nil {
				t.Fatal("allowed")
			}
			for _, w := range tc.want {
				if !strings.Contains(v.Error(), w) {
					t.Errorf("%q does not name %q", v.Error(), w)
				}
			}
		})
	}
	passthrough := base()
	passthrough.MountPoints = append(passthrough.MountPoints, lxcv1.MountPoint{Index: 1, Path: "/m", HostPath: "/srv/media/films"})
	passthrough.Devices = []lxcv1.Device{{Path: "/dev/net/tun"}}
	passthrough.Features.Mknod = true
	open := *p
	open.HostPaths, open.Devices = []string{"/srv/media"}, []string{"/dev/net/tun"}
	open.Features = []lxcv1.FeatureName{lxcv1.FeatureNesting, lxcv1.FeatureMknod}
	if v := Check(&open, Request{Node: "pve1", Container: passthrough}); v != nil {
		t.Errorf("a bind mount and device the policy allows, refused: %v", v)
	}
	privileged := base()
	privileged.Unprivileged, privileged.Features.Keyctl = false, true
	if v := Check(&lxcv1.ClusterPolicy{AllowPrivileged: true, Features: []lxcv1.FeatureName{"nesting", "keyctl"}}, Request{Container: privileged}); v != nil {
		t.Errorf("allowed by the policy, refused: %v", v)
	}
}

// TestCheckQuota: the container that would pass a quota is refused, naming it; equal is allowed.
func TestCheckQuota(t *testing.T) {
	q := &lxcv1.NamespaceQuota{Containers: ptr(int64(2)), Cores: ptr(int64(4)), MemoryMiB: ptr(int64(2048)), DiskGiB: ptr(int64(30))}
	one := UsageOf(&desired.Container{Cores: 2, MemoryMiB: 1024, DiskGiB: 10, MountPoints: []lxcv1.MountPoint{{SizeGiB: 5}}})
	if v := CheckQuota(q, "team", one, one); v != nil {
		t.Errorf("two containers within the quota refused: %v", v)
	}
	v := CheckQuota(q, "team", one.Add(one), one)
	if v == nil || !strings.Contains(v.Error(), "spec.policy.namespaceQuota.containers") {
		t.Errorf("a third container: got %v, want the containers quota named", v)
	}
	big := one
	big.DiskGiB = 16
	if v := CheckQuota(q, "team", one, big); v == nil || !strings.Contains(v.Error(), "namespaceQuota.diskGiB") {
		t.Errorf("over the disk quota: got %v", v)
	}
	if v := CheckQuota(nil, "team", one.Add(one), one); v != nil {
		t.Errorf("no quota: %v", v)
	}
}
