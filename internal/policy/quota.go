package policy

import (
	"fmt"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
	"templatemanager.dev/lxc-template-manager/internal/desired"
)

// Usage is what containers ask of a cluster, counted as the namespace quota counts it.
type Usage struct {
	Containers, Cores, MemoryMiB, DiskGiB int64
}

// UsageOf is one container's share: its cores, memory, root disk and mount points.
func UsageOf(d *desired.Container) Usage {
	u := Usage{Containers: 1, Cores: int64(d.Cores), MemoryMiB: int64(d.MemoryMiB), DiskGiB: int64(d.DiskGiB)}
	for _, m := range d.MountPoints {
		u.DiskGiB += int64(m.SizeGiB)
	}
	return u
}

// Add sums two usages.
func (u Usage) Add(o Usage) Usage {
	return Usage{u.Containers + o.Containers, u.Cores + o.Cores, u.MemoryMiB + o.MemoryMiB, u.DiskGiB + o.DiskGiB}
}

// CheckQuota says whether adding more to used stays within q; nil q has no quota.
func CheckQuota(q *lxcv1.NamespaceQuota, namespace string, used, more Usage) *Violation {
	if q == nil {
		return nil
	}
	total := used.Add(more)
	for _, c := range []struct {
		quota       *int64
		total, used int64
		name, field string
	}{
		{q.Containers, total.Containers, used.Containers, "containers", "metadata.name"},
		{q.Cores, total.Cores, used.Cores, "cores", "spec.resources.cores"},
		{q.MemoryMiB, total.MemoryMiB, used.MemoryMiB, "memoryMiB", "spec.resources.memoryMiB"},
		{q.DiskGiB, total.DiskGiB, used.DiskGiB, "diskGiB", "spec.resources.diskGiB"},
	} {
		if c.quota != nil && c.total > *c.quota {
			return &Violation{"spec.policy.namespaceQuota." + c.name, c.field,
				fmt.Sprintf("namespace %s would use %d %s of its quota of %d (%d in use)", namespace, c.total, c.name, *c.quota, c.used)}
		}
	}
	return nil
}
