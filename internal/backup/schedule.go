package backup

import (
	"fmt"
	"time"

	"github.com/robfig/cron/v3"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
)

// ParseSchedule parses a backup schedule: five cron fields, or a descriptor (@daily, @hourly,
// @every 90m). Times are UTC.
func ParseSchedule(s string) (cron.Schedule, error) {
	sched, err := cron.ParseStandard(s)
	if err != nil {
		return nil, fmt.Errorf("%q is not a cron schedule: %w", s, err)
	}
	return sched, nil
}

// Effective is the backup schedule of a container: its own, else its template's.
func Effective(c *lxcv1.LXCContainer, t *lxcv1.LXCTemplate) *lxcv1.BackupSchedule {
	if c.Spec.Backup != nil {
		return c.Spec.Backup
	}
	if t != nil {
		return t.Spec.Backup
	}
	return nil
}

// dueSlot is the newest slot of sched after last and not after now, if any. Slots missed while
// the manager was down are not made up one by one: only the newest runs.
func dueSlot(sched cron.Schedule, last, now time.Time) (time.Time, bool) {
	var due time.Time
	for t, n := sched.Next(last), 0; !t.IsZero() && !t.After(now); t, n = sched.Next(t), n+1 {
		due = t
		if n > 100000 {
			break // a schedule of seconds over years; the newest is close enough
		}
	}
	return due, !due.IsZero()
}

// backupName is the name of the LXCBackup the schedule makes for a slot.
func backupName(container string, slot time.Time) string {
	suffix := slot.UTC().Format("-20060102-1504")
	if max := 253 - len(suffix); len(container) > max {
		container = container[:max]
	}
	return container + suffix
}
