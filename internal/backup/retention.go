package backup

import (
	"fmt"
	"sort"
	"time"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
)

// defaultKeepLast is what a schedule without keep rules keeps.
const defaultKeepLast = 7

// dated is a finished backup and when it finished.
type dated struct {
	name string
	at   time.Time
}

// prune marks which backups the keep rules keep, as Proxmox's prune-backups does
// (PVE::Storage::prune_mark_backup_group): newest first, keep-last takes the newest N; each
// period rule then keeps the newest backup of each of its N newest periods not already kept
// by a rule before it. Whatever no rule keeps is removed. Times are taken in UTC.
func prune(backups []dated, keep *lxcv1.BackupRetention) (kept, removed []string) {
	sorted := append([]dated(nil), backups...)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].at.After(sorted[j].at) })
	marks := make([]int, len(sorted)) // 0 unmarked, 1 keep, -1 remove
	last := int32(0)
	if keep == nil || (keep.Last == nil && keep.Daily == nil && keep.Weekly == nil && keep.Monthly == nil) {
		last = defaultKeepLast
	} else if keep.Last != nil {
		last = *keep.Last
	}
	for i := range sorted {
		if int32(i) < last {
			marks[i] = 1
		}
	}
	if keep != nil {
		markPeriods(sorted, marks, keep.Daily, func(t time.Time) string { return t.UTC().Format("2006-01-02") })
		markPeriods(sorted, marks, keep.Weekly, func(t time.Time) string {
			y, w := t.UTC().ISOWeek()
			return fmt.Sprintf("%d/%d", y, w)
		})
		markPeriods(sorted, marks, keep.Monthly, func(t time.Time) string { return t.UTC().Format("2006-01") })
	}
	for i, b := range sorted {
		if marks[i] == 1 {
			kept = append(kept, b.name)
		} else {
			removed = append(removed, b.name)
		}
	}
	return kept, removed
}

// markPeriods keeps the newest unmarked backup of each of the n newest periods that no rule
// before it already kept a backup of.
func markPeriods(sorted []dated, marks []int, n *int32, period func(time.Time) string) {
	if n == nil || *n == 0 {
		return
	}
	already := map[string]bool{}
	for i, b := range sorted {
		if marks[i] == 1 {
			already[period(b.at)] = true
		}
	}
	newly := map[string]bool{}
	for i, b := range sorted {
		p := period(b.at)
		if marks[i] != 0 || already[p] {
			continue
		}
		if newly[p] {
			marks[i] = -1
			continue
		}
		if int32(len(newly)) >= *n {
			return
		}
		newly[p] = true
		marks[i] = 1
	}
}
