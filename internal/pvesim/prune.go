package pvesim

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"templatemanager.dev/lxc-template-manager/internal/pvesim/schema"
)

// pruneKeys are the retention options of the prune-backups format, in the order
// prune_mark_backup_group applies them, with the period each one keeps a backup of.
var pruneKeys = []struct {
	key string
	id  func(time.Time) string
}{
	{"keep-last", func(t time.Time) string { return strconv.FormatInt(t.UnixNano(), 10) }},
	{"keep-hourly", func(t time.Time) string { return t.Format("2006-01-02 15") }},
	{"keep-daily", func(t time.Time) string { return t.Format("2006-01-02") }},
	{"keep-weekly", func(t time.Time) string { y, w := t.ISOWeek(); return fmt.Sprintf("%d/%d", y, w) }},
	{"keep-monthly", func(t time.Time) string { return t.Format("2006-01") }},
	{"keep-yearly", func(t time.Time) string { return t.Format("2006") }},
}

// retention parses a prune-backups value as validate_prune_backups settles it: without a
// positive option, everything is kept.
func retention(value string) (map[string]int, error) {
	if value == "" {
		return map[string]int{"keep-all": 1}, nil
	}
	opts, err := schema.ParsePropertyString(vzdumpSchema.Property("prune-backups").FormatProps, value)
	if err != nil {
		return nil, fmt.Errorf("invalid format - %v", err)
	}
	all := opts["keep-all"] == "1"
	delete(opts, "keep-all")
	keep := map[string]int{}
	for k, v := range opts {
		keep[k], _ = strconv.Atoi(v)
	}
	switch {
	case !positive(keep):
		return map[string]int{"keep-all": 1}, nil
	case all:
		return nil, errors.New("invalid format - keep-all cannot be set together with other options.")
	}
	return keep, nil
}

func positive(keep map[string]int) bool {
	for k, n := range keep {
		if k != "keep-all" && n > 0 {
			return true
		}
	}
	return false
}

func keepsAll(keep map[string]int) bool { return keep["keep-all"] > 0 || !positive(keep) }

// retentionText is how vzdump logs the retention: key=value sorted by key.
func retentionText(keep map[string]int) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(keep)) {
		parts = append(parts, fmt.Sprintf("%s=%d", k, keep[k]))
	}
	return strings.Join(parts, ", ")
}

// pruneEntry is one backup of a group: its time and, once marked, keep or remove.
type pruneEntry struct {
	file  string
	ctime time.Time
	mark  string
}

// markPrune is pve-storage's prune_mark_backup_group on one guest's backups; protected ones
// come marked already and are never removed.
func markPrune(group []*pruneEntry, keep map[string]int) {
	if keepsAll(keep) {
		for _, e := range group {
			if e.mark == "" || e.mark == "remove" {
				e.mark = "keep"
			}
		}
		return
	}
	list := slices.Clone(group)
	slices.SortStableFunc(list, func(a, b *pruneEntry) int { return b.ctime.Compare(a.ctime) })
	for _, pk := range pruneKeys {
		n := keep[pk.key]
		if n == 0 {
			continue
		}
		included := map[string]bool{}
		for _, e := range list {
			if e.mark == "keep" {
				included[pk.id(e.ctime)] = true
			}
		}
		added := map[string]bool{}
		for _, e := range list {
			id := pk.id(e.ctime)
			if e.mark != "" || included[id] {
				continue
			}
			if !added[id] {
				if len(added) >= n {
					break
				}
				added[id] = true
				e.mark = "keep"
			} else {
				e.mark = "remove"
			}
		}
	}
	for _, e := range list {
		if e.mark == "" {
			e.mark = "remove"
		}
	}
}

// guestBackups lists the container backups of vmid on the job's storage as prune entries,
// protected ones marked, badly named ones set aside (Plugin.pm prune_backups).
func (s *Server) guestBackups(job *backupJob, vmid int) ([]*pruneEntry, error) {
	st, _ := findStorage(job.storage)
	entries, err := s.backupEntries(job.node, st, strconv.Itoa(vmid))
	if err != nil {
		return nil, err
	}
	var out []*pruneEntry
	for _, e := range entries {
		name := strings.TrimPrefix(e["volid"].(string), st.name+":backup/")
		info, _ := parseArchiveName(name)
		if info.typ != "lxc" {
			continue
		}
		pe := &pruneEntry{file: name, ctime: time.Unix(e["ctime"].(int64), 0)}
		if !info.std {
			pe.mark = "renamed"
		}
		if e["protected"] != nil {
			pe.mark = "protected"
		}
		out = append(out, pe)
	}
	return out, nil
}

// checkBackupLimit refuses a backup that a retention without removal would exceed.
func (s *Server) checkBackupLimit(job *backupJob, vmid int) error {
	if keepsAll(job.keep) || job.remove {
		return nil
	}
	limit := 0
	for k, n := range job.keep {
		if k != "keep-all" {
			limit += n
		}
	}
	backups, err := s.guestBackups(job, vmid)
	if err != nil {
		return err
	}
	count := 0
	for _, b := range backups {
		if b.mark != "protected" {
			count++
		}
	}
	if count >= limit {
		return fmt.Errorf("There is a max backup limit of %d enforced by the target storage or the vzdump parameters. "+
			"Either increase the limit or delete old backups.", limit)
	}
	return nil
}

// pruneBackups removes the guest's backups the retention does not keep.
func (s *Server) pruneBackups(l *guestLog, job *backupJob, vmid int) error {
	l.info("prune older backups with retention: %s", retentionText(job.keep))
	backups, err := s.guestBackups(job, vmid)
	if err != nil {
		return err
	}
	var group []*pruneEntry
	for _, b := range backups {
		if b.mark == "" {
			group = append(group, b)
		}
	}
	markPrune(group, job.keep)
	pruned, failed := 0, false
	dir := s.backupDir(job.node, job.storage)
	for _, b := range group {
		if b.mark != "remove" {
			continue
		}
		pruned++
		volid := job.storage + ":backup/" + b.file
		l.info("removing backup '%s'", volid)
		if err := os.Remove(filepath.Join(dir, b.file)); err != nil {
			l.err("error when removing backup '%s' - %v", volid, err)
			failed = true
			continue
		}
		_ = os.Remove(notesFile(filepath.Join(dir, b.file)))
	}
	if failed {
		return errors.New("error pruning backups - check log")
	}
	extra := ""
	if pruned > 0 {
		extra = " not covered by keep-retention policy"
	}
	l.info("pruned %d backup(s)%s", pruned, extra)
	return nil
}
