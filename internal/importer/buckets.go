package importer

import (
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
)

// bucketsDir holds the shared package buckets, one file per bucket named <name>.<manager>.
const bucketsDir = "buckets"

// loadBuckets reads buckets/.
func (im *importer) loadBuckets() []lxcv1.PackageBucket {
	entries, ok := im.readDir(bucketsDir)
	if !ok {
		return nil
	}
	var out []lxcv1.PackageBucket
	byName := map[string]string{}
	for _, e := range entries {
		rel := bucketsDir + "/" + e.Name()
		if !im.isRegular(rel, e) {
			continue
		}
		name, ext, ok := cutLast(e.Name(), ".")
		if !ok || name == "" {
			im.problem(rel, 0, "a bucket file is named <name>.<manager>, such as web-base.apt")
			continue
		}
		m, ok := packageManager(ext)
		if !ok {
			im.problem(rel, 0, "%q is not a package manager (apt, apk, dnf, pip, npm)", ext)
			continue
		}
		if err := validateObjectName(name); err != nil {
			im.problem(rel, 0, "bucket name: %v", err)
		}
		if other, dup := byName[name]; dup {
			im.problem(rel, 0, "bucket %q is already defined by %s", name, other)
			continue
		}
		byName[name] = rel
		names, description := im.loadPackageList(rel, m, maxBucketPackages, true)
		out = append(out, lxcv1.PackageBucket{
			TypeMeta:   metav1.TypeMeta{APIVersion: lxcv1.GroupVersion.String(), Kind: "PackageBucket"},
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: im.namespace},
			Spec:       lxcv1.PackageBucketSpec{Description: description, Manager: m, Packages: names},
		})
	}
	return out
}

// cutLast splits s around the last sep.
func cutLast(s, sep string) (before, after string, found bool) {
	if i := strings.LastIndex(s, sep); i >= 0 {
		return s[:i], s[i+len(sep):], true
	}
	return s, "", false
}
