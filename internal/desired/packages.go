package desired

import (
	"slices"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
)

// ResolvePackages merges packages per manager in installation order: the system's package
// manager (apt, apk, dnf) first, since it brings pip and npm themselves, then pip, then npm;
// within one manager, buckets in reference order, then the template's own lists, then extra;
// each name once.
func ResolvePackages(buckets []*lxcv1.PackageBucket, lists ...[]lxcv1.PackageList) []lxcv1.ResolvedPackages {
	var out []lxcv1.ResolvedPackages
	add := func(m lxcv1.PackageManager, names []lxcv1.PackageName) {
		i := slices.IndexFunc(out, func(r lxcv1.ResolvedPackages) bool { return r.Manager == m })
		if i < 0 {
			out = append(out, lxcv1.ResolvedPackages{Manager: m})
			i = len(out) - 1
		}
		for _, n := range names {
			if !slices.Contains(out[i].Names, string(n)) {
				out[i].Names = append(out[i].Names, string(n))
			}
		}
	}
	for _, b := range buckets {
		add(b.Spec.Manager, b.Spec.Packages)
	}
	for _, list := range lists {
		for _, p := range list {
			add(p.Manager, p.Names)
		}
	}
	slices.SortStableFunc(out, func(a, b lxcv1.ResolvedPackages) int { return installRank(a.Manager) - installRank(b.Manager) })
	return out
}

// installRank orders package managers for installation: language managers come after the
// system's, which installs them.
func installRank(m lxcv1.PackageManager) int {
	switch m {
	case lxcv1.PackageManagerPip:
		return 1
	case lxcv1.PackageManagerNpm:
		return 2
	}
	return 0
}

// CountPackages is the number of packages over all managers.
func CountPackages(resolved []lxcv1.ResolvedPackages) int {
	n := 0
	for _, r := range resolved {
		n += len(r.Names)
	}
	return n
}
