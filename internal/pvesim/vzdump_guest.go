package pvesim

import (
	"context"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"templatemanager.dev/lxc-template-manager/internal/pvesim/schema"
)

// guestLog writes a guest's lines to the task log and, timestamped, to the log file vzdump
// leaves next to the archive.
type guestLog struct {
	t     *task
	lines []string
}

func (l *guestLog) info(format string, a ...any) { l.add("INFO:", format, a...) }
func (l *guestLog) err(format string, a ...any)  { l.add("ERROR:", format, a...) }

func (l *guestLog) add(level, format string, a ...any) {
	msg := fmt.Sprintf(format, a...)
	for _, line := range strings.Split(strings.TrimRight(msg, "\n"), "\n") {
		l.t.logf("%s %s", level, line)
		l.lines = append(l.lines, time.Now().Format("2006-01-02 15:04:05")+" "+level+" "+line)
	}
}

// backupGuest is exec_backup_task for a container (pve-manager PVE/VZDump.pm with pve-container
// PVE/VZDump/LXC.pm). A guest that is not running is always backed up in stop mode; snapshot
// mode falls back to suspend mode when a volume cannot be snapshotted.
func (s *Server) backupGuest(ctx context.Context, t *task, job *backupJob, vmid int) error {
	start := time.Now()
	l := &guestLog{t: t}
	dir := s.backupDir(job.node, job.storage)
	name := archiveName(vmid, start, job.compress)
	ct, err := s.lookup(job.node, vmid)
	if err != nil {
		err = fmt.Errorf("unable to find VM '%d'", vmid)
	} else {
		err = s.backupContainer(ctx, l, job, ct, filepath.Join(dir, name))
	}
	if err != nil {
		l.err("Backup of VM %d failed - %v", vmid, err)
		t.logf("INFO: Failed at %s", time.Now().Format("2006-01-02 15:04:05"))
	} else {
		d := time.Since(start)
		l.info("Finished Backup of VM %d (%02d:%02d:%02d)", vmid, int(d.Hours()), int(d.Minutes())%60, int(d.Seconds())%60)
		t.logf("INFO: Backup finished at %s", time.Now().Format("2006-01-02 15:04:05"))
	}
	if len(l.lines) > 0 && ct != nil {
		logFile := filepath.Join(dir, strings.TrimSuffix(name, filepath.Ext(name)))
		logFile = strings.TrimSuffix(logFile, ".tar") + ".log"
		_ = os.WriteFile(logFile, []byte(strings.Join(l.lines, "\n")+"\n"), 0o644)
	}
	return err
}

func (s *Server) backupContainer(ctx context.Context, l *guestLog, job *backupJob, ct *container, target string) error {
	vmid := ct.VMID
	arch, ok := s.backend.(Archiver)
	if !ok {
		return fmt.Errorf("the %s backend cannot write backups", s.backend.Name())
	}
	if job.mode == "stop" && s.haStarted(vmid) {
		return fmt.Errorf("Cannot execute a backup with stop mode on a HA managed and enabled Service. Use snapshot mode or disable the Service.")
	}
	if err := s.checkBackupLimit(job, vmid); err != nil {
		return err
	}
	l.info("Starting Backup of VM %d (lxc)", vmid)
	l.t.logf("INFO: Backup started at %s", time.Now().Format("2006-01-02 15:04:05"))
	running := s.running(ctx, vmid)
	l.info("status = %s", map[bool]string{true: "running", false: "stopped"}[running])
	if err := s.lockForBackup(ctx, ct); err != nil {
		return err
	}
	// Clean-up runs in vzdump's order: the lock, the snapshot, then the guest comes back.
	var dropSnapshot, restart bool
	var stoppedAt time.Time
	defer func() {
		if err := s.setLock(ct, ""); err != nil {
			s.log.Warn("Remove backup lock", "vmid", vmid, "error", err)
		}
		if dropSnapshot {
			l.info("cleanup temporary 'vzdump' snapshot")
			s.dropVzdumpSnapshot(ct)
		}
		if restart && !s.running(ctx, vmid) {
			l.info("restarting vm")
			if err := s.startLocked(context.WithoutCancel(ctx), l.t, ct); err != nil {
				l.t.logf("%v", err)
				return
			}
			l.info("guest is online again after %s seconds", secondsSince(stoppedAt))
		}
	}()

	conf := s.confOf(ct)
	mode := job.mode
	if !running {
		mode = "stop"
	}
	if mode == "snapshot" {
		s.logVolumes(l, vmid, conf)
		if !hasFeature("snapshot", conf, false, true) {
			l.info("mode failure - some volumes do not support snapshots")
			l.info("trying 'suspend' mode instead")
			mode = "suspend"
		}
	}
	l.info("backup mode: %s", mode)
	if job.bwlimit != "" {
		l.info("bandwidth limit: %s KiB/s", job.bwlimit)
	}
	l.info("ionice priority: %s", job.ionice)
	freeze := false
	switch mode {
	case "stop":
		s.logVolumes(l, vmid, conf)
		if running {
			l.info("stopping virtual guest")
			stoppedAt = time.Now()
			if err := s.shutdownLocked(ctx, l.t, ct, time.Duration(job.stopwait)*time.Minute, true); err != nil {
				return err
			}
			restart = true
		}
	case "suspend":
		// PVE copies the guest with rsync and freezes it for the final pass only; the
		// simulator freezes it while the archive is written, which reads the same files.
		s.logVolumes(l, vmid, conf)
		l.info("suspending guest")
		stoppedAt, freeze = time.Now(), true
	case "snapshot":
		if s.hasVzdumpSnapshot(ct) {
			l.info("found old vzdump snapshot (force removal)")
			s.dropVzdumpSnapshot(ct)
		}
		l.info("create storage snapshot 'vzdump'")
		if err := s.addVzdumpSnapshot(ct, running); err != nil {
			return err
		}
		dropSnapshot = true
		// The storage snapshot stands for a frozen view; the simulator freezes the guest
		// while it reads the files instead.
		freeze = true
	}
	if err := s.writeBackup(ctx, l, arch, ct, target, job.compress, ArchiveOptions{Freeze: freeze, Exclude: job.exclude}); err != nil {
		return err
	}
	if mode == "suspend" {
		l.info("resuming guest")
		l.info("guest is online again after %s seconds", secondsSince(stoppedAt))
	}
	return s.finishBackup(l, job, ct, target)
}

// writeBackup is assemble and archive: pct.conf from the config as it is now (without lock,
// snapshots and pending changes), then the archive, written to a .dat file renamed when done.
func (s *Server) writeBackup(ctx context.Context, l *guestLog, arch Archiver, ct *container, target, compress string, opts ArchiveOptions) error {
	conf := s.confOf(ct)
	delete(conf, "lock")
	delete(conf, "parent")
	opts.PctConf = pctConfText(conf)
	tmp := strings.TrimSuffix(target, filepath.Ext(target)) + ".dat"
	cmd, _ := compressor(compress)
	l.info("creating vzdump archive '%s'", target)
	err := writeArchive(ctx, tmp, cmd, func(w io.Writer) error { return arch.Archive(ctx, ct.VMID, opts, w) })
	if err == nil {
		// The task's configured duration passes while the archive is written and the guest
		// locked, as a real archive's time does.
		err = l.t.pad(ctx)
	}
	if err == nil {
		err = os.Rename(tmp, target)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return err
	}
	if fi, err := os.Stat(target); err == nil {
		l.info("archive file size: %s", formatSize(fi.Size()))
	}
	return nil
}

// finishBackup adds notes and protection, then prunes the guest's older backups.
func (s *Server) finishBackup(l *guestLog, job *backupJob, ct *container, target string) error {
	if job.notes != "" {
		l.info("adding notes to backup")
		hostname := s.confOf(ct)["hostname"]
		if hostname == "" {
			hostname = fmt.Sprintf("CT%d", ct.VMID)
		}
		notes := notesFor(job.notes, map[string]string{"cluster": s.clusterName(), "guestname": hostname,
			"node": job.node, "vmid": strconv.Itoa(ct.VMID)})
		if notes != "" {
			if err := os.WriteFile(notesFile(target), []byte(notes), 0o644); err != nil {
				l.add("WARN:", "unable to add notes - %v", err)
			}
		}
	}
	if job.protect {
		l.info("marking backup as protected")
		if err := os.WriteFile(protectedFile(target), nil, 0o644); err != nil {
			return fmt.Errorf("unable to set protected flag - %v", err)
		}
	}
	if job.remove {
		return s.pruneBackups(l, job, ct.VMID)
	}
	return nil
}

func (s *Server) confOf(ct *container) map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(ct.Conf)
}

// logVolumes is what prepare logs: the name, then each volume in or out of the backup.
func (s *Server) logVolumes(l *guestLog, vmid int, conf map[string]string) {
	if h := conf["hostname"]; h != "" {
		l.info("CT Name: %s", h)
	}
	for _, k := range diskKeys(conf) {
		mp, err := schema.ParsePropertyString(rootfsFormatFor(k), conf[k])
		if err != nil {
			continue
		}
		path := mp["mp"]
		if k == "rootfs" {
			path = "/"
		}
		switch {
		case backupEnabled(k, mp):
			l.info("including mount point %s ('%s') in backup", k, path)
		case mountType(mp["volume"]) != "volume":
			l.info("excluding %s mount point %s ('%s') from backup (not a volume)", mountType(mp["volume"]), k, path)
		default:
			l.info("excluding volume mount point %s ('%s') from backup (disabled)", k, path)
		}
	}
}

// lockForBackup is lock_vm: set_lock checks for another lock under the config lock.
func (s *Server) lockForBackup(ctx context.Context, ct *container) error {
	if err := ct.lock(ctx, s.opts.LockTimeout); err != nil {
		return err
	}
	defer ct.unlock()
	s.mu.Lock()
	err := ct.checkLock()
	s.mu.Unlock()
	if err != nil {
		return err
	}
	return s.setLock(ct, "backup")
}

func (s *Server) haStarted(vmid int) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	h, ok := s.ha["ct:"+strconv.Itoa(vmid)]
	return ok && h.requested() == "started"
}

func secondsSince(t time.Time) string {
	d := int(time.Since(t).Seconds())
	if d < 1 {
		return "<1"
	}
	return strconv.Itoa(d)
}

// formatSize is vzdump's format_size.
func formatSize(size int64) string {
	kb, mb, gb := float64(size)/1024, float64(size)/(1024*1024), float64(size)/(1024*1024*1024)
	switch {
	case kb < 1024:
		return fmt.Sprintf("%dKB", int64(kb))
	case mb < 1024:
		return fmt.Sprintf("%dMB", int64(mb))
	}
	return fmt.Sprintf("%.2fGB", gb)
}
