package importer

import (
	"strings"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
)

// descriptionPrefix marks the first line of a bucket file that describes the bucket.
const descriptionPrefix = "# description:"

// loadPackageList reads a package list: one package per line, blank lines and # comments
// ignored. When withDescription is set, a first line "# description: TEXT" gives the
// description.
func (im *importer) loadPackageList(file string, m lxcv1.PackageManager, max int, withDescription bool) (names []lxcv1.PackageName, description string) {
	data, ok := im.readFile(file, 1<<20)
	if !ok {
		return nil, ""
	}
	r := im.reporter(file)
	lines, clean := textLines(r, data)
	if withDescription && len(lines) > 0 && strings.HasPrefix(lines[0], descriptionPrefix) {
		description = strings.TrimSpace(strings.TrimPrefix(lines[0], descriptionPrefix))
		if runes(description) > maxBucketDescription {
			r.add(1, "description is longer than %d characters", maxBucketDescription)
		}
	}
	seen := map[string]int{}
	body := meaningful(lines)
	for _, l := range body {
		if strings.ContainsAny(l.Text, " \t") {
			r.add(l.Line, "one package per line, got %q", l.Text)
			continue
		}
		if err := validatePackage(m, l.Text); err != nil {
			r.add(l.Line, "%v", err)
		}
		if first, dup := seen[l.Text]; dup {
			r.add(l.Line, "%s is already listed on line %d", l.Text, first)
		} else {
			seen[l.Text] = l.Line
		}
		names = append(names, lxcv1.PackageName(l.Text))
	}
	switch {
	case len(body) == 0 && clean:
		r.add(0, "lists no packages")
	case len(names) > max && max == maxInlinePackages:
		r.add(0, "%d packages, at most %d allowed in one list; move them to a bucket under buckets/", len(names), max)
	case len(names) > max:
		r.add(0, "%d packages, at most %d allowed", len(names), max)
	}
	return names, description
}
