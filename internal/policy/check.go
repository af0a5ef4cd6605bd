package policy

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
	"templatemanager.dev/lxc-template-manager/internal/desired"
)

// Violation names the rule a request breaks and the field that breaks it.
type Violation struct {
	// Rule is the spec.policy field of the ProxmoxCluster, such as spec.policy.bridges.
	Rule string
	// Field is the container's (or its template's) field, such as spec.network.bridge.
	Field string
	// Detail says what was asked and what is allowed.
	Detail string
}

func (v *Violation) Error() string {
	return fmt.Sprintf("%s: %s (ProxmoxCluster %s)", v.Field, v.Detail, v.Rule)
}

// Request is what a container asks of a cluster: its merged desired state and the node it
// names, if any.
type Request struct {
	Node      string
	Container *desired.Container
}

// Check returns the first rule of p that r breaks, nil when it breaks none.
func Check(p *lxcv1.ClusterPolicy, r Request) *Violation {
	d := r.Container
	for _, check := range []func() *Violation{
		func() *Violation { return allowed(p.Nodes, r.Node, "spec.policy.nodes", "spec.node", "node") },
		func() *Violation {
			return allowed(p.Storages, d.Storage, "spec.policy.storages", "spec.storage", "storage")
		},
		func() *Violation {
			return allowed(p.Bridges, d.Network.Bridge, "spec.policy.bridges", "spec.network.bridge", "bridge")
		},
		func() *Violation { return vlanAllowed(p.VLANTags, d.Network.VLANTag) },
		func() *Violation {
			if !d.Unprivileged && !p.AllowPrivileged {
				return &Violation{"spec.policy.allowPrivileged", "LXCTemplate spec.features.unprivileged", "a privileged container is not allowed"}
			}
			return nil
		},
		func() *Violation { return featuresAllowed(p.Features, d.Features) },
		func() *Violation { return mountPointsAllowed(p, d) },
		func() *Violation { return devicesAllowed(p, d) },
		func() *Violation { return withinLimits(p.Limits, d) },
	} {
		if v := check(); v != nil {
			return v
		}
	}
	return nil
}

// allowed checks value against a list where empty allows everything.
func allowed(list []string, value, rule, field, what string) *Violation {
	if len(list) == 0 || value == "" || slices.Contains(list, value) {
		return nil
	}
	return &Violation{rule, field, fmt.Sprintf("%s %q is not one of %v", what, value, list)}
}

func vlanAllowed(tags []int32, tag *int32) *Violation {
	if len(tags) == 0 {
		return nil
	}
	if tag == nil {
		return &Violation{"spec.policy.vlanTags", "spec.network.vlanTag", fmt.Sprintf("untagged traffic is not allowed; use one of %v", tags)}
	}
	if !slices.Contains(tags, *tag) {
		return &Violation{"spec.policy.vlanTags", "spec.network.vlanTag", fmt.Sprintf("VLAN tag %d is not one of %v", *tag, tags)}
	}
	return nil
}

// Allowed lists the features p allows; empty allows nesting only.
func Allowed(p *lxcv1.ClusterPolicy) []lxcv1.FeatureName {
	if len(p.Features) == 0 {
		return []lxcv1.FeatureName{lxcv1.FeatureNesting}
	}
	return p.Features
}

func featuresAllowed(list []lxcv1.FeatureName, f lxcv1.Features) *Violation {
	ok := Allowed(&lxcv1.ClusterPolicy{Features: list})
	for _, want := range []struct {
		on   bool
		name lxcv1.FeatureName
	}{{f.Nesting, lxcv1.FeatureNesting}, {f.Keyctl, lxcv1.FeatureKeyctl}, {f.Fuse, lxcv1.FeatureFuse},
		{f.Mknod, lxcv1.FeatureMknod}, {len(f.Mount) > 0, lxcv1.FeatureMount}} {
		if want.on && !slices.Contains(ok, want.name) {
			return &Violation{"spec.policy.features", "LXCTemplate spec.features." + string(want.name),
				fmt.Sprintf("feature %s is not one of %v", want.name, ok)}
		}
	}
	return nil
}

func mountPointsAllowed(p *lxcv1.ClusterPolicy, d *desired.Container) *Violation {
	for _, m := range d.MountPoints {
		field := "spec.mountPoints[mp" + strconv.Itoa(int(m.Index)) + "]"
		if m.IsBind() {
			if !slices.ContainsFunc(p.HostPaths, func(prefix string) bool { return m.HostPath == prefix || strings.HasPrefix(m.HostPath, prefix+"/") }) {
				return &Violation{"spec.policy.hostPaths", field + ".hostPath",
					fmt.Sprintf("host path %s is not under one of %v (empty allows no bind mount)", m.HostPath, p.HostPaths)}
			}
			continue
		}
		if v := allowed(p.Storages, m.Storage, "spec.policy.storages", field+".storage", "storage"); v != nil {
			return v
		}
		if p.Limits != nil && p.Limits.MountPointGiB != nil && m.SizeGiB > *p.Limits.MountPointGiB {
			return &Violation{"spec.policy.limits.mountPointGiB", field + ".sizeGiB",
				fmt.Sprintf("%d GiB is more than the limit of %d GiB", m.SizeGiB, *p.Limits.MountPointGiB)}
		}
	}
	return nil
}

func devicesAllowed(p *lxcv1.ClusterPolicy, d *desired.Container) *Violation {
	for i, dev := range d.Devices {
		if !slices.Contains(p.Devices, dev.Path) {
			return &Violation{"spec.policy.devices", fmt.Sprintf("spec.devices[%d].path", i),
				fmt.Sprintf("device %s is not one of %v (empty allows no device)", dev.Path, p.Devices)}
		}
	}
	return nil
}

func withinLimits(l *lxcv1.ContainerLimits, d *desired.Container) *Violation {
	if l == nil {
		return nil
	}
	for _, c := range []struct {
		limit *int32
		have  int
		name  string
	}{{l.Cores, d.Cores, "cores"}, {l.MemoryMiB, d.MemoryMiB, "memoryMiB"}, {l.DiskGiB, d.DiskGiB, "diskGiB"}} {
		if c.limit != nil && c.have > int(*c.limit) {
			return &Violation{"spec.policy.limits." + c.name, "spec.resources." + c.name,
				fmt.Sprintf("%d is more than the limit of %d", c.have, *c.limit)}
		}
	}
	return nil
}
