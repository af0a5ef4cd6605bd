package pvesim

import (
	"slices"
	"strings"

	"templatemanager.dev/lxc-template-manager/internal/pvesim/schema"
)

// normaliseTags stores tags as PVE's get_unique_tags does with the default datacenter tag
// style: split on ; , and blanks, lowercased, deduplicated, sorted, joined with ;.
func normaliseTags(s string) string {
	var tags []string
	for _, t := range schema.SplitList(s) {
		t = strings.ToLower(t)
		if t != "" && !slices.Contains(tags, t) {
			tags = append(tags, t)
		}
	}
	slices.Sort(tags)
	return strings.Join(tags, ";")
}
