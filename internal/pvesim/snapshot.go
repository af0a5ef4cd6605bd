package pvesim

import (
	"context"
	"fmt"
	"maps"
	"strconv"
	"time"

	"templatemanager.dev/lxc-template-manager/internal/pvesim/schema"
)

func (ct *container) snapshot(name string) *snapshot {
	for _, sn := range ct.Snapshots {
		if sn.Name == name {
			return sn
		}
	}
	return nil
}

func (s *Server) cloneContainer(r *request) (any, error) {
	src, err := s.target(r)
	if err != nil {
		return nil, err
	}
	newid, _ := strconv.Atoi(r.params["newid"])
	snapname := r.params["snapname"]
	if t := r.params["target"]; t != "" && t != src.Node {
		if !s.hasNode(t) {
			return nil, errNoNode(t)
		}
		return nil, pveError("can't clone CT to node '%s' (CT uses local storage)", t)
	}
	s.mu.Lock()
	srcConf := maps.Clone(src.Conf)
	lockErr := src.checkLock()
	var snap *snapshot
	if snapname != "" {
		snap = src.snapshot(snapname)
	}
	s.mu.Unlock()
	if lockErr != nil {
		return nil, lockErr
	}
	if snapname != "" && snap == nil {
		return nil, pveError("snapshot '%s' does not exist", snapname)
	}
	if snap != nil {
		srcConf = maps.Clone(snap.Conf)
	}
	template := srcConf["template"] == "1"
	full := template == false
	if r.has("full") {
		full = r.bool("full")
	}
	if !full {
		if r.has("storage") {
			return nil, pveError("parameter 'storage' not allowed for linked clones")
		}
		if !template {
			mp, _ := schema.ParsePropertyString(rootfsFormat, srcConf["rootfs"])
			return nil, pveError("Linked clone feature for '%s' is not available", mp["volume"])
		}
	}
	if full && snap == nil && s.running(r.Context(), src.VMID) {
		return nil, pveError("Full clone of a running container is only possible from a snapshot")
	}
	pool := r.params["pool"]
	if err := s.checkPool(pool); err != nil {
		return nil, err
	}
	storage := r.params["storage"]
	if storage != "" {
		if err := checkDiskStorage(storage); err != nil {
			return nil, err
		}
	}

	conf := map[string]string{}
	for k, v := range srcConf {
		switch {
		case k == "lock" || k == "parent" || k == "template" || k == "snaptime":
		case indexed(k, "net"):
			net, err := schema.ParsePropertyString(netFormat, v)
			if err != nil {
				return nil, pveError("%v", err)
			}
			net["hwaddr"] = randomMAC()
			conf[k] = schema.PrintPropertyString(netFormat, net)
		default:
			conf[k] = v
		}
	}
	for _, k := range diskKeys(conf) {
		mp, err := schema.ParsePropertyString(rootfsFormatFor(k), conf[k])
		if err != nil || mountType(mp["volume"]) != "volume" {
			continue
		}
		vol, ok := parseDiskVolume(mp["volume"])
		if !ok {
			return nil, pveError("unable to parse volume ID '%s'", mp["volume"])
		}
		st := vol.storage
		if storage != "" {
			st, _ = findStorage(storage)
		}
		size := int64(1) // the new volume keeps the kind: a subvolume or an image
		if vol.format == "subvol" {
			size = 0
		}
		mp["volume"] = newDiskVolume(st, newid, vol.diskNo, size)
		conf[k] = schema.PrintPropertyString(rootfsFormatFor(k), mp)
	}
	if h := r.params["hostname"]; h != "" {
		conf["hostname"] = h
	}
	if d, ok := r.params["description"]; ok {
		conf["description"] = d
	}

	s.mu.Lock()
	if err := s.checkVMIDUnusedLocked(newid); err != nil {
		s.mu.Unlock()
		return nil, err
	}
	if err := src.checkLock(); err != nil {
		s.mu.Unlock()
		return nil, err
	}
	dst := newContainer(newid, src.Node)
	dst.Conf["lock"] = "create"
	dst.OSTemplate, dst.SSHKeys = src.OSTemplate, src.SSHKeys
	dst.Firewall = src.Firewall.clone() // clone_vmfw_conf
	s.containers[newid] = dst
	src.Conf["lock"] = "disk"
	err = s.store.saveContainer(dst)
	if err == nil {
		err = s.store.saveContainer(src)
	}
	s.mu.Unlock()
	if err != nil {
		return nil, err
	}
	s.log.Info("Cloning container", "vmid", src.VMID, "newid", newid, "user", r.user)
	return s.tasks.start(src.Node, "vzclone", strconv.Itoa(src.VMID), r.user, func(ctx context.Context, t *task) error {
		defer func() { _ = s.setLock(src, "") }()
		if err := dst.lock(ctx, s.opts.LockTimeout); err != nil {
			s.forget(dst)
			return err
		}
		defer dst.unlock()
		if err := t.fault(); err != nil {
			s.forget(dst)
			return fmt.Errorf("clone failed: %v", err)
		}
		spec, err := s.specFor(dst, conf)
		if err != nil {
			s.forget(dst)
			return fmt.Errorf("clone failed: %v", err)
		}
		t.logf("create full clone of mountpoint rootfs (%s)", srcConf["rootfs"])
		if c, ok := s.backend.(Cloner); ok {
			err = c.Clone(ctx, src.VMID, spec)
		} else {
			err = s.backend.Create(ctx, spec)
		}
		if err == nil {
			err = t.pad(ctx)
		}
		if err != nil {
			dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
			_ = s.backend.Destroy(dctx, newid)
			cancel()
			s.forget(dst)
			return fmt.Errorf("clone failed: %v", err)
		}
		s.mu.Lock()
		dst.Conf = conf
		err = s.store.saveContainer(dst)
		s.mu.Unlock()
		if err == nil {
			// clone_vm adds the new guest to the pool once its config is written.
			err = s.addToPool(pool, newid)
		}
		return err
	}), nil
}

func (s *Server) convertToTemplate(r *request) (any, error) {
	ct, err := s.target(r)
	if err != nil {
		return nil, err
	}
	if err := ct.lock(r.Context(), s.opts.LockTimeout); err != nil {
		return nil, err
	}
	defer ct.unlock()
	running := s.running(r.Context(), ct.VMID)
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case ct.checkLock() != nil:
		return nil, ct.checkLock()
	case len(ct.Snapshots) > 0:
		return nil, pveError("unable to create template, because CT contains snapshots")
	case ct.Conf["template"] == "1":
		return nil, pveError("you can't convert a template to a template")
	case running:
		return nil, pveError("you can't convert a CT to template if the CT is running")
	}
	ct.Conf["template"] = "1"
	for _, k := range diskKeys(ct.Conf) {
		ct.Conf[k] = baseVolumeRE.ReplaceAllString(ct.Conf[k], "${1}base-${2}-disk-")
	}
	return nil, s.store.saveContainer(ct)
}

func (s *Server) listSnapshots(r *request) (any, error) {
	ct, err := s.target(r)
	if err != nil {
		return nil, err
	}
	running := s.running(r.Context(), ct.VMID)
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []map[string]any{}
	for _, sn := range ct.Snapshots {
		e := map[string]any{"name": sn.Name, "description": sn.Description, "snaptime": sn.SnapTime}
		if sn.Parent != "" {
			e["parent"] = sn.Parent
		}
		out = append(out, e)
	}
	current := map[string]any{"name": "current", "description": "You are here!", "digest": ct.digest(), "running": 0}
	if running {
		current["running"] = 1
	}
	if p := ct.Conf["parent"]; p != "" {
		current["parent"] = p
	}
	return append(out, current), nil
}

func (s *Server) snapshotTask(r *request, typ string, op func(ctx context.Context, t *task, ct *container) error) (any, error) {
	ct, err := s.target(r)
	if err != nil {
		return nil, err
	}
	return s.lockedTask(r, ct, typ, false, func(ctx context.Context, t *task) error {
		return op(ctx, t, ct)
	}), nil
}

func (s *Server) createSnapshot(r *request) (any, error) {
	name := r.params["snapname"]
	if name == "current" || name == "vzdump" {
		return nil, pveError("unable to use snapshot name '%s' (reserved name)", name)
	}
	desc := r.params["description"]
	return s.snapshotTask(r, "vzsnapshot", func(ctx context.Context, t *task, ct *container) error {
		// pve-guest-common AbstractConfig.pm __snapshot_prepare, in its order.
		s.mu.Lock()
		template := ct.Conf["template"] == "1"
		exists := ct.snapshot(name) != nil
		capable := hasFeature("snapshot", ct.Conf, false, false)
		s.mu.Unlock()
		switch {
		case template:
			return fmt.Errorf("you can't take a snapshot if it's a template")
		case exists:
			return fmt.Errorf("snapshot name '%s' already used", name)
		case !capable:
			return fmt.Errorf("snapshot feature is not available")
		}
		if err := s.setLock(ct, "snapshot"); err != nil {
			return err
		}
		defer func() { _ = s.setLock(ct, "") }()
		running := s.running(ctx, ct.VMID)
		if sn, ok := s.backend.(Snapshotter); ok {
			if err := sn.Snapshot(ctx, ct.VMID, name); err != nil {
				return err
			}
		}
		if err := t.pad(ctx); err != nil {
			return err
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		conf := maps.Clone(ct.Conf)
		delete(conf, "lock")
		delete(conf, "parent")
		ct.Snapshots = append(ct.Snapshots, &snapshot{Name: name, Description: desc, SnapTime: time.Now().Unix(),
			Parent: ct.Conf["parent"], Conf: conf, Running: running})
		ct.Conf["parent"] = name
		return s.store.saveContainer(ct)
	})
}

func (s *Server) deleteSnapshot(r *request) (any, error) {
	name := r.params["snapname"]
	return s.snapshotTask(r, "vzdelsnapshot", func(ctx context.Context, t *task, ct *container) error {
		s.mu.Lock()
		sn := ct.snapshot(name)
		s.mu.Unlock()
		if sn == nil {
			return fmt.Errorf("snapshot '%s' does not exist", name)
		}
		if b, ok := s.backend.(Snapshotter); ok {
			if err := b.DeleteSnapshot(ctx, ct.VMID, name); err != nil {
				return err
			}
		}
		if err := t.pad(ctx); err != nil {
			return err
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		ct.dropSnapshot(sn)
		return s.store.saveContainer(ct)
	})
}

// dropSnapshot removes a snapshot from the config; its children and the current state take
// its parent. The caller holds s.mu.
func (ct *container) dropSnapshot(sn *snapshot) {
	kept := ct.Snapshots[:0]
	for _, o := range ct.Snapshots {
		if o.Name == sn.Name {
			continue
		}
		if o.Parent == sn.Name {
			o.Parent = sn.Parent
		}
		kept = append(kept, o)
	}
	ct.Snapshots = kept
	if ct.Conf["parent"] == sn.Name {
		if sn.Parent == "" {
			delete(ct.Conf, "parent")
		} else {
			ct.Conf["parent"] = sn.Parent
		}
	}
}

func (s *Server) rollbackSnapshot(r *request) (any, error) {
	name, start := r.params["snapname"], r.bool("start")
	return s.snapshotTask(r, "vzrollback", func(ctx context.Context, t *task, ct *container) error {
		s.mu.Lock()
		sn := ct.snapshot(name)
		s.mu.Unlock()
		if sn == nil {
			return fmt.Errorf("snapshot '%s' does not exist", name)
		}
		if s.running(ctx, ct.VMID) {
			if err := s.backend.Stop(ctx, ct.VMID); err != nil {
				return err
			}
			if err := s.stopped(ct); err != nil {
				return err
			}
		}
		if err := s.setLock(ct, "rollback"); err != nil {
			return err
		}
		if b, ok := s.backend.(Snapshotter); ok {
			if err := b.Rollback(ctx, ct.VMID, name); err != nil {
				return err
			}
		}
		if err := t.pad(ctx); err != nil {
			return err
		}
		s.mu.Lock()
		ct.Conf = maps.Clone(sn.Conf)
		ct.Conf["parent"] = name
		err := s.store.saveContainer(ct)
		s.mu.Unlock()
		if err != nil {
			return err
		}
		spec, err := s.spec(ct)
		if err != nil {
			return err
		}
		if err := s.backend.Reconfigure(ctx, spec); err != nil {
			return err
		}
		if start {
			return s.startLocked(ctx, t, ct)
		}
		return nil
	})
}

func (s *Server) snapshotIndex(r *request) (any, error) {
	if _, err := s.namedSnapshot(r); err != nil {
		return nil, err
	}
	return []map[string]string{{"rel": "child", "href": "rollback"}, {"rel": "child", "href": "config"}}, nil
}

func (s *Server) namedSnapshot(r *request) (*container, error) {
	ct, err := s.target(r)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if ct.snapshot(r.params["snapname"]) == nil {
		return nil, pveError("snapshot '%s' does not exist", r.params["snapname"])
	}
	return ct, nil
}

func (s *Server) snapshotConfig(r *request) (any, error) {
	ct, err := s.namedSnapshot(r)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sn := ct.snapshot(r.params["snapname"])
	out := configJSON(sn.Conf)
	out["snaptime"] = sn.SnapTime
	if sn.Description != "" {
		out["description"] = sn.Description
	}
	if sn.Parent != "" {
		out["parent"] = sn.Parent
	}
	return out, nil
}

func (s *Server) updateSnapshotConfig(r *request) (any, error) {
	ct, err := s.namedSnapshot(r)
	if err != nil {
		return nil, err
	}
	if !r.has("description") {
		return nil, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ct.snapshot(r.params["snapname"]).Description = r.params["description"]
	return nil, s.store.saveContainer(ct)
}
