package pvesim

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Backups live in the dump directory of a storage with backup content, one per node, since
// local storages are not shared. Next to an archive, <archive>.notes holds its notes and
// <archive>.protected marks it protected (pve-storage Plugin.pm, DirPlugin.pm).

func (s *Server) backupDir(node, storage string) string {
	return filepath.Join(s.opts.StateDir, "storage", node, storage, "dump")
}

func protectedFile(archive string) string { return archive + ".protected" }
func notesFile(archive string) string     { return archive + ".notes" }

// backupEntries lists a storage's backups as list_volumes does, optionally those of one VMID.
func (s *Server) backupEntries(node string, st storageDef, vmid string) ([]map[string]any, error) {
	dir := s.backupDir(node, st.name)
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var owner *regexp.Regexp
	if vmid != "" {
		// Only the VMID between dashes counts, as get_subdir_files matches it.
		owner = regexp.MustCompile(`\S+-` + regexp.QuoteMeta(vmid) + `-\S+`)
	}
	var out []map[string]any
	for _, e := range entries {
		name := e.Name()
		m := backupFileRE.FindStringSubmatch(name)
		if e.IsDir() || m == nil || (owner != nil && !owner.MatchString(name)) {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			continue
		}
		out = append(out, backupEntry(st.name, filepath.Join(dir, name), fi, vmid))
	}
	return out, nil
}

var ownerInNameRE = regexp.MustCompile(`-([1-9][0-9]{2,8})-[^/]+$`)

func backupEntry(sid, file string, fi fs.FileInfo, vmid string) map[string]any {
	name := filepath.Base(file)
	info, _ := parseArchiveName(name)
	e := map[string]any{
		"volid": sid + ":backup/" + name, "content": "backup", "format": info.format, "size": fi.Size(),
		"subtype": "unknown", "ctime": fileCtime(fi),
	}
	if info.typ != "" {
		e["subtype"] = info.typ
	}
	if info.std {
		e["ctime"] = info.ctime.Unix()
	}
	if vmid != "" {
		e["vmid"], _ = strconv.Atoi(vmid)
	} else if m := ownerInNameRE.FindStringSubmatch(name); m != nil {
		e["vmid"], _ = strconv.Atoi(m[1])
	}
	if notes, ok := firstFileLine(notesFile(file)); ok {
		e["notes"] = notes
	}
	if _, err := os.Stat(protectedFile(file)); err == nil {
		e["protected"] = 1
	}
	return e
}

func fileCtime(fi fs.FileInfo) int64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return st.Ctim.Sec
	}
	return fi.ModTime().Unix()
}

func firstFileLine(file string) (string, bool) {
	f, err := os.Open(file)
	if err != nil {
		return "", false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	if !sc.Scan() {
		return "", true
	}
	return sc.Text(), true
}

// backupVolumeInfo is GET …/content/{volume} for a backup: pve-storage's info reports a
// backup's format as raw, like parse_volname does, and its notes and protection.
func (s *Server) backupVolumeInfo(node, volid, file string) (map[string]any, error) {
	fi, err := os.Stat(file)
	if err != nil || !fi.Mode().IsRegular() {
		return nil, pveError("volume_size_info on '%s' failed - no format", volid)
	}
	out := map[string]any{"path": file, "size": fi.Size(), "used": fi.Size(), "format": "raw", "protected": 0}
	if data, err := os.ReadFile(notesFile(file)); err == nil {
		out["notes"] = string(data)
	}
	if _, err := os.Stat(protectedFile(file)); err == nil {
		out["protected"] = 1
	}
	return out, nil
}

// volumeOf resolves the volume of a content request as real_volume_id in pve-storage's
// API2/Storage/Content.pm does: a full volume id must name the path's storage.
func volumeOf(storage, volume string) (volid, sid, name string, err error) {
	if !strings.Contains(volume, ":") {
		if storage == "" {
			return "", "", "", paramErrorf("volume", "no storage specified - incomplete volume ID")
		}
		return storage + ":" + volume, storage, volume, nil
	}
	sid, name, ok := strings.Cut(volume, ":")
	if !ok || sid == "" || name == "" {
		return "", "", "", paramErrorf("volume", "unable to parse volume ID '%s'", volume)
	}
	if storage != "" && sid != storage {
		return "", "", "", paramErrorf("volume", "storage ID mismatch (%s != %s)", sid, storage)
	}
	return volume, sid, name, nil
}

// volumeType is parse_volname's volume type and owner for the storages pvesim has.
func volumeType(st storageDef, name string) (vtype string, owner int, err error) {
	if st.plugin != "dir" {
		if m := lvmVolumeRE.FindStringSubmatch(name); m != nil {
			owner, _ = strconv.Atoi(m[3])
			return "images", owner, nil
		}
		return "", 0, fmt.Errorf("unable to parse lvm volume name '%s'", name)
	}
	if m := dirVolumeRE.FindStringSubmatch(name); m != nil {
		owner, _ = strconv.Atoi(m[1])
		return "images", owner, nil
	}
	if file, ok := strings.CutPrefix(name, "backup/"); ok {
		if !backupFileRE.MatchString(file) {
			return "", 0, fmt.Errorf("unable to parse directory volume name '%s'", name)
		}
		if m := stdOwnerRE.FindStringSubmatch(file); m != nil {
			owner, _ = strconv.Atoi(m[1])
		}
		return "backup", owner, nil
	}
	if file, ok := strings.CutPrefix(name, "vztmpl/"); ok && !strings.Contains(file, "/") && vztmplRE.MatchString(file) {
		return "vztmpl", 0, nil
	}
	if m := otherContentRE.FindStringSubmatch(name); m != nil {
		return m[1], 0, nil
	}
	return "", 0, fmt.Errorf("unable to parse directory volume name '%s'", name)
}

var stdOwnerRE = regexp.MustCompile(`^vzdump-(?:openvz|lxc|qemu)-(\d+)-`)

// deleteVolume is DELETE /nodes/{node}/storage/{storage}/content/{volume}: an imgdel task
// (pve-storage API2/Storage/Content.pm delete). The simulator deletes backups only; the
// other volumes belong to containers or to the template directory.
func (s *Server) deleteVolume(r *request) (any, error) {
	node := r.params["node"]
	if !s.hasNode(node) {
		return nil, errNoNode(node)
	}
	volid, sid, name, err := volumeOf(r.params["storage"], r.params["volume"])
	if err != nil {
		return nil, err
	}
	st, ok := findStorage(sid)
	if !ok {
		return nil, errNoStorage(sid)
	}
	vtype, owner, err := volumeType(st, name)
	if err != nil {
		return nil, pveError("%v", err)
	}
	if vtype != "backup" {
		return nil, pveError("pvesim deletes backups only, not %s volumes", vtype)
	}
	file := filepath.Join(s.backupDir(node, sid), strings.TrimPrefix(name, "backup/"))
	id := sid
	if owner > 0 {
		id = fmt.Sprintf("%d@%s", owner, sid)
	}
	upid := s.tasks.start(node, "imgdel", id, r.user, func(ctx context.Context, t *task) error {
		if err := t.fault(); err != nil {
			return err
		}
		return s.removeBackup(t, volid, name, sid, file)
	})
	if d, err := strconv.Atoi(r.params["delay"]); err == nil {
		// With delay, PVE waits that long for the task and answers null when it succeeded.
		if rec, done := s.tasks.waitDone(upid, time.Duration(d)*time.Second); done {
			if rec.ExitStatus != "OK" && !strings.HasPrefix(rec.ExitStatus, "WARNINGS: ") {
				return nil, pveError("%s", rec.ExitStatus)
			}
			return nil, nil
		}
	}
	return upid, nil
}

// removeBackup is free_image and archive_auxiliaries_remove for a backup. A missing archive
// only earns a line in the log (a plain warn, which the task does not count): deleting it
// succeeds.
func (s *Server) removeBackup(t *task, volid, name, sid, file string) error {
	if _, err := os.Stat(protectedFile(file)); err == nil {
		return fmt.Errorf("cannot remove protected volume '%s' on '%s'", name, sid)
	}
	err := os.Remove(file)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		t.logf("disk image '%s' does not exist", file)
	case err != nil:
		return fmt.Errorf("unlink '%s' failed - %v", file, err)
	}
	t.logf("Removed volume '%s'", volid)
	_ = os.Remove(notesFile(file))
	if info, ok := parseArchiveName(filepath.Base(file)); ok && info.std {
		_ = os.Remove(strings.TrimSuffix(file, "."+info.format) + ".log")
	}
	return nil
}
