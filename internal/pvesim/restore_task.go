package pvesim

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"time"

	"templatemanager.dev/lxc-template-manager/internal/pvesim/schema"
)

// runRestore is the vzrestore worker (pve-container API2/LXC.pm create_vm and LXC/Create.pm):
// the backed-up config, new volumes on the default storage unless rootfs and mount points
// are given, the old container's volumes gone, the archive extracted, and the backed-up
// config under the given options.
func (s *Server) runRestore(ctx context.Context, t *task, job *restoreJob) error {
	ct := job.ct
	if err := ct.lock(ctx, s.opts.LockTimeout); err != nil {
		return s.abortRestore(ctx, job, false, false, err)
	}
	defer ct.unlock()
	if err := t.fault(); err != nil {
		return s.abortRestore(ctx, job, false, false, err)
	}
	if job.existing && s.running(ctx, ct.VMID) {
		return s.abortRestore(ctx, job, false, false, errors.New("can't overwrite running container"))
	}
	if !fileExists(job.archive) {
		return s.abortRestore(ctx, job, false, false, fmt.Errorf("can't find file '%s'", job.volid))
	}
	t.logf("recovering backed-up configuration from '%s'", job.volid)
	raw, err := archiveConfig(ctx, job.archive)
	if err != nil {
		return s.abortRestore(ctx, job, false, false, err)
	}
	orig, err := parsePctConf(raw)
	if err != nil {
		return s.abortRestore(ctx, job, false, false, err)
	}
	conf := maps.Clone(job.given)
	if job.unpriv == "" && orig["unprivileged"] != "" {
		conf["unprivileged"] = orig["unprivileged"]
	}
	disks, delayed, err := restoreDisks(job, orig)
	if err != nil {
		return s.abortRestore(ctx, job, false, false, err)
	}
	// From here on the container is changed: a failure removes its config.
	s.mu.Lock()
	oldConf := maps.Clone(ct.Conf)
	s.mu.Unlock()
	if err := allocateRestoreDisks(ct.VMID, disks, oldConf, conf); err != nil {
		return s.abortRestore(ctx, job, true, false, err)
	}
	if job.existing {
		if err := s.backend.Destroy(ctx, ct.VMID); err != nil {
			return s.abortRestore(ctx, job, true, false, err)
		}
	}
	// The merged config is what the backend sets the container up with.
	warnings := mergeBackupConfig(conf, orig, !job.root, job.unique)
	if conf["hostname"] == "" {
		conf["hostname"] = fmt.Sprintf("CT%d", ct.VMID)
	}
	if conf["memory"] == "" {
		conf["memory"] = "512"
	}
	if _, ok := conf["swap"]; !ok {
		conf["swap"] = "512"
	}
	maps.Copy(conf, delayed)
	if orig["template"] == "1" {
		t.logf("Convert restored container to template...")
		for _, k := range diskKeys(conf) {
			conf[k] = baseVolumeRE.ReplaceAllString(conf[k], "${1}base-${2}-disk-")
		}
		conf["template"] = "1"
	}
	t.logf("restoring '%s' now..", job.volid)
	t.logf("extracting archive '%s'", job.archive)
	if err := s.restoreFiles(ctx, ct, conf, job.archive); err != nil {
		return s.abortRestore(ctx, job, true, true, err)
	}
	t.logf("merging backed-up and given configuration..")
	for _, w := range warnings {
		t.logf("%s", w)
	}
	if err := t.pad(ctx); err != nil {
		return s.abortRestore(ctx, job, true, true, err)
	}
	s.mu.Lock()
	ct.Conf, ct.Pending, ct.Snapshots, ct.StartedAt = conf, nil, nil, time.Time{}
	err = s.store.saveContainer(ct)
	s.mu.Unlock()
	if err != nil {
		return err
	}
	s.log.Info("Container restored", "vmid", ct.VMID, "archive", job.volid)
	if job.start {
		return s.startLocked(ctx, t, ct)
	}
	return nil
}

// restoreFiles hands the archive to the backend for the container of conf.
func (s *Server) restoreFiles(ctx context.Context, ct *container, conf map[string]string, archive string) error {
	arch, ok := s.backend.(Archiver)
	if !ok {
		return fmt.Errorf("the %s backend cannot restore backups", s.backend.Name())
	}
	spec, err := s.specFor(ct, conf)
	if err != nil {
		return err
	}
	return readArchive(ctx, archive, func(r io.Reader) error { return arch.Restore(ctx, spec, r) })
}

// restoreDisks are the volumes to create: those given, or those of the backup with their
// size on the default storage. Bind and device mount points of the backup come back after
// the extraction, as delayed.
func restoreDisks(job *restoreJob, orig map[string]string) (disks, delayed map[string]string, err error) {
	disks, delayed = map[string]string{}, map[string]string{}
	if len(job.disks) > 0 {
		for _, k := range job.disks {
			disks[k] = job.given[k]
		}
		return disks, delayed, nil
	}
	for _, k := range diskKeys(orig) {
		format := rootfsFormatFor(k)
		mp, err := schema.ParsePropertyString(format, orig[k])
		if err != nil {
			return nil, nil, err
		}
		if t := mountType(mp["volume"]); t != "volume" {
			switch {
			case k == "rootfs":
				return nil, nil, fmt.Errorf("restoring rootfs to %s mount is only possible by specifying -rootfs manually!", t)
			case !job.root:
				return nil, nil, fmt.Errorf("restoring '%s' to %s mount is only possible for root", k, t)
			}
			delayed[k] = orig[k]
			continue
		}
		size, ok := schema.ParseSize(mp["size"])
		if !ok {
			return nil, nil, fmt.Errorf("unable to detect disk size - please specify %s (size)", k)
		}
		delete(mp, "size")
		mp["volume"] = job.storage + ":" + strconv.FormatFloat(float64(size)/(1<<30), 'f', -1, 64)
		disks[k] = schema.PrintPropertyString(format, mp)
	}
	if disks["rootfs"] == "" {
		return nil, nil, errors.New("rootfs configuration could not be recovered, please check and specify manually!")
	}
	return disks, delayed, nil
}

// allocateRestoreDisks is create_disks: each new volume takes the lowest disk number free on
// its storage, the old container's volumes still counting (they go only afterwards).
func allocateRestoreDisks(vmid int, disks, oldConf, conf map[string]string) error {
	used := map[string]bool{}
	for _, k := range diskKeys(oldConf) {
		if mp, err := schema.ParsePropertyString(rootfsFormatFor(k), oldConf[k]); err == nil {
			if v, ok := parseDiskVolume(mp["volume"]); ok {
				used[v.storage.name+"/"+strconv.Itoa(v.diskNo)] = true
			}
		}
	}
	keys := slices.Sorted(maps.Keys(disks))
	if i := slices.Index(keys, "rootfs"); i > 0 {
		keys = append([]string{"rootfs"}, slices.Delete(keys, i, i+1)...)
	}
	for _, k := range keys {
		v := disks[k]
		m := newDiskRE.FindStringSubmatch(volumeOfMount(k, v))
		if m == nil {
			conf[k] = v // an existing volume, bind or device mount
			continue
		}
		n := 0
		for used[m[2]+"/"+strconv.Itoa(n)] {
			n++
		}
		used[m[2]+"/"+strconv.Itoa(n)] = true
		alloc, err := allocateDisk(vmid, n, k, v)
		if err != nil {
			return err
		}
		conf[k] = alloc
	}
	return nil
}

func volumeOfMount(key, value string) string {
	mp, err := schema.ParsePropertyString(rootfsFormatFor(key), value)
	if err != nil {
		return ""
	}
	return mp["volume"]
}

// mergeBackupConfig is sanitize_and_merge_config: the backed-up options fill in what the call
// did not give, except volumes, templates and the unprivileged flag; unique gives every
// interface a new MAC address.
func mergeBackupConfig(conf, orig map[string]string, restricted, unique bool) (warnings []string) {
	for _, k := range slices.Sorted(maps.Keys(orig)) {
		switch {
		case k == "rootfs" || k == "unprivileged" || k == "parent" || k == "template" ||
			indexed(k, "mp") || indexed(k, "unused"):
			continue
		case k == "features" && restricted && conf["unprivileged"] != "1" && orig["unprivileged"] == "1":
			warnings = append(warnings, "changing from unprivileged to privileged, skipping features")
			continue
		case unique && indexed(k, "net"):
			if net, err := schema.ParsePropertyString(netFormat, orig[k]); err == nil {
				net["hwaddr"] = randomMAC()
				conf[k] = schema.PrintPropertyString(netFormat, net)
				continue
			}
		}
		if _, given := conf[k]; !given {
			conf[k] = orig[k]
		}
	}
	return warnings
}

// abortRestore undoes a failed restore as create_vm does: volumes made go, and so does the
// config once the container was changed; before that only the create lock goes.
func (s *Server) abortRestore(ctx context.Context, job *restoreJob, changed, restored bool, cause error) error {
	ct := job.ct
	if restored {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		if err := s.backend.Destroy(dctx, ct.VMID); err != nil {
			s.log.Warn("Cleanup after failed restore", "vmid", ct.VMID, "error", err)
		}
		cancel()
	}
	if changed || !job.existing {
		s.forget(ct)
	} else if err := s.setLock(ct, ""); err != nil {
		s.log.Warn("Remove create lock", "vmid", ct.VMID, "error", err)
	}
	return fmt.Errorf("unable to restore CT %d - %v", ct.VMID, cause)
}
