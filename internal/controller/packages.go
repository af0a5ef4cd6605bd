package controller

import (
	"context"
	"fmt"
	"slices"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
)

// fetchBuckets reads a template's PackageBuckets, skipping the excluded ones. It returns the
// buckets found and the names of those missing.
func fetchBuckets(ctx context.Context, c client.Reader, t *lxcv1.LXCTemplate, exclude []string) ([]*lxcv1.PackageBucket, []string, error) {
	var found []*lxcv1.PackageBucket
	var missing []string
	for _, name := range bucketNames(t) {
		if slices.Contains(exclude, name) {
			continue
		}
		b := &lxcv1.PackageBucket{}
		err := c.Get(ctx, types.NamespacedName{Namespace: t.Namespace, Name: name}, b)
		switch {
		case apierrors.IsNotFound(err):
			missing = append(missing, name)
		case err != nil:
			return nil, nil, fmt.Errorf("reading PackageBucket %s: %w", name, err)
		default:
			found = append(found, b)
		}
	}
	return found, missing, nil
}

// missingBuckets is the message for buckets that do not exist.
func missingBuckets(names []string) string {
	if len(names) == 1 {
		return fmt.Sprintf("PackageBucket %s not found", names[0])
	}
	return fmt.Sprintf("PackageBuckets %s not found", strings.Join(names, ", "))
}

// resolvePackages merges packages per manager in installation order: the system's package
// manager (apt, apk, dnf) first, since it brings pip and npm themselves, then pip, then npm;
// within one manager, buckets in reference order, then the template's own lists, then extra;
// each name once.
func resolvePackages(buckets []*lxcv1.PackageBucket, lists ...[]lxcv1.PackageList) []lxcv1.ResolvedPackages {
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

// countPackages is the number of packages over all managers.
func countPackages(resolved []lxcv1.ResolvedPackages) int {
	n := 0
	for _, r := range resolved {
		n += len(r.Names)
	}
	return n
}
