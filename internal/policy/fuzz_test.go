package policy

import (
	"slices"
	"strings"
	"testing"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
	"templatemanager.dev/lxc-template-manager/internal/desired"
)

// FuzzCheck: for any container and policy, Check either allows it or names a spec.policy rule
// and a field; whatever the allowed lists hold, a value inside them is never the reason; and a
// policy that allows everything refuses nothing.
func FuzzCheck(f *testing.F) {
	f.Add("pve1", "local-lvm", "vmbr0", int32(10), false, true, false, 2, 1024, 8, int32(10), "pve1", "local-lvm", "vmbr0", int32(4))
	f.Add("", "ceph", "vmbr9", int32(0), true, false, true, 64, 65536, 500, int32(200), "pve2", "", "", int32(0))
	f.Fuzz(func(t *testing.T, node, storage, bridge string, vlan int32, privileged, keyctl, fuse bool,
		cores, memory, disk int, mpSize int32, allowNode, allowStorage, allowBridge string, limit int32) {
		d := &desired.Container{Cores: cores, MemoryMiB: memory, DiskGiB: disk, Storage: storage, Unprivileged: !privileged,
			Features: lxcv1.Features{Keyctl: keyctl, Fuse: fuse}, Network: lxcv1.Network{Bridge: bridge, VLANTag: &vlan},
			MountPoints: []lxcv1.MountPoint{{Index: 0, SizeGiB: mpSize, Storage: storage}}}
		p := &lxcv1.ClusterPolicy{Nodes: nonEmpty(allowNode), Storages: nonEmpty(allowStorage), Bridges: nonEmpty(allowBridge)}
		if limit > 0 {
			p.Limits = &lxcv1.ContainerLimits{Cores: &limit, MemoryMiB: &limit, DiskGiB: &limit, MountPointGiB: &limit}
		}
		if v := Check(p, Request{Node: node, Container: d}); v != nil {
			if !strings.HasPrefix(v.Rule, "spec.policy.") || v.Field == "" || v.Detail == "" {
				t.Fatalf("a violation without its rule or field: %+v", v)
			}
			if v.Rule == "spec.policy.nodes" && slices.Contains(p.Nodes, node) || v.Rule == "spec.policy.bridges" && slices.Contains(p.Bridges, bridge) {
				t.Fatalf("refused a value the list allows: %+v", v)
			}
		}
		open := &lxcv1.ClusterPolicy{AllowPrivileged: true, Features: []lxcv1.FeatureName{lxcv1.FeatureNesting, lxcv1.FeatureKeyctl, lxcv1.FeatureFuse}}
		if v := Check(open, Request{Node: node, Container: d}); v != nil {
			t.Fatalf("a policy allowing everything refused: %v", v)
		}
	})
}

func nonEmpty(s string) []string {
	if s == "" {
		return nil
	}
	return []string{s}
}
