package pvesim

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"templatemanager.dev/lxc-template-manager/internal/pvesim/schema"
)

// Container migration between the simulator's nodes, after pve-container's
// src/PVE/API2/LXC.pm (migrate_vm_precondition, migrate_vm) and src/PVE/LXC/Migrate.pm. Every
// storage exists on each node (see storages). The container's config file goes to the target
// node, as PVE moves /etc/pve/nodes/<node>/lxc/<vmid>.conf; its volumes are copied to the
// target's storage first and removed from the source's after, when the backend keeps them per
// node (a Mover), and stay where they are otherwise, as on shared storage.

// Mover is a Backend whose containers' volumes live on their node's storage, as on the local
// storage of PVE nodes. A migration copies them to the target node (storage_migrate in
// Migrate.pm phase1), moves the configuration there, after which Reconfigure or Start with the
// target in ContainerSpec.Node makes the container use the copy, and then frees the source's
// (vdisk_free in phase3).
type Mover interface {
	// CopyVolumes copies the stopped container's volumes to target's storage. When it fails,
	// nothing of the copy is left on the target and the source's volumes are as they were.
	CopyVolumes(ctx context.Context, vmid int, target string) error
	// FreeVolumes removes the container's volumes from node's storage; it refuses the node
	// whose volumes the container uses.
	FreeVolumes(ctx context.Context, vmid int, node string) error
}

// migratePrecondition answers GET …/lxc/{vmid}/migrate: whether the CT runs and which nodes
// it may go to (every other node; no HA affinity rules block one in the simulator).
func (s *Server) migratePrecondition(r *request) (any, error) {
	ct, err := s.target(r)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	err = ct.checkLock()
	s.mu.Unlock()
	if err != nil {
		return nil, err
	}
	running := 0
	if s.running(r.Context(), ct.VMID) {
		running = 1
	}
	allowed := []string{}
	for _, n := range s.nodes {
		if n != ct.Node {
			allowed = append(allowed, n)
		}
	}
	return map[string]any{"running": running, "allowed-nodes": allowed, "not-allowed-nodes": map[string]any{}}, nil
}

// migrateContainer answers POST …/lxc/{vmid}/migrate with a vzmigrate task. A running CT
// needs restart (a restart migration: shutdown, move, start on the target); online
// migration of a running CT is not implemented by PVE either ("implement me" in phase1).
func (s *Server) migrateContainer(r *request) (any, error) {
	target := r.params["target"]
	if target == r.params["node"] {
		return nil, paramErrorf("target", "target is local node.")
	}
	if !s.hasNode(target) {
		// PVE::Cluster::check_node_exists
		return nil, pveError("no such cluster node '%s'", target)
	}
	ct, err := s.target(r)
	if err != nil {
		return nil, err
	}
	running := s.running(r.Context(), ct.VMID)
	restart := r.bool("restart")
	if running && !r.bool("online") && !restart {
		return nil, pveError("can't migrate running container without --online or --restart")
	}
	if ts := r.params["target-storage"]; ts != "" {
		if err := checkStorageMap(ts); err != nil {
			return nil, err
		}
	}
	if s.haManaged(ct.VMID) {
		// An HA-managed CT is handed to HA (migrate_vm: a hamigrate worker running
		// ha-manager migrate ct:<vmid> <target>); only the HA stack itself migrates directly.
		return s.tasks.start(ct.Node, "hamigrate", strconv.Itoa(ct.VMID), r.user, func(ctx context.Context, t *task) error {
			t.logf("Requesting HA migration for CT %d to node %s", ct.VMID, target)
			s.mu.Lock()
			h := s.ha["ct:"+strconv.Itoa(ct.VMID)]
			s.mu.Unlock()
			s.crmMove(h, ct.VMID, target, "migrate")
			return nil
		}), nil
	}
	timeout := timeoutParam(r, 180)
	return s.lockedTask(r, ct, "vzmigrate", false, func(ctx context.Context, t *task) error {
		return s.runMigrate(ctx, t, ct, target, restart, timeout)
	}), nil
}

// checkStorageMap checks a target-storage map as parse_idmap does and that each target
// storage can hold container disks.
func checkStorageMap(m string) error {
	for _, pair := range schema.SplitList(m) {
		sid := pair
		if _, after, ok := strings.Cut(pair, ":"); ok {
			sid = after
		}
		if sid == "1" {
			continue
		}
		st, ok := findStorage(sid)
		if !ok {
			return errNoStorage(sid)
		}
		if !st.has("rootdir") {
			return pveError("storage '%s' does not support container directories", sid)
		}
	}
	return nil
}

// runMigrate is PVE::LXC::Migrate's prepare, phase1, phase3 and final_cleanup for a local
// cluster.
func (s *Server) runMigrate(ctx context.Context, t *task, ct *container, target string, restart bool, timeout time.Duration) error {
	start := time.Now()
	source := ct.Node
	running := s.running(ctx, ct.VMID)
	if running && !restart {
		return fmt.Errorf("can't migrate running container without --online or --restart")
	}
	if running {
		t.logf("shutdown CT %d", ct.VMID)
		// PVE::LXC::vm_stop($vmid, 0, $timeout): a clean shutdown, killed after the timeout.
		if err := s.shutdownLocked(ctx, t, ct, timeout, true); err != nil {
			return err
		}
	}
	// The address is the node's in the cluster status.
	t.logf("starting migration of CT %d to node '%s' (%s)", ct.VMID, target, "127.0.0.1")
	if err := s.setLock(ct, "migrate"); err != nil {
		return err
	}
	vols := s.localVolumes(ct)
	for _, v := range vols {
		t.logf("found local volume '%s' (in current VM config)", v)
	}
	// phase1_cleanup and final_cleanup: the CT stays on the source, running again if it ran.
	abort := func(err error) error {
		t.logf("ERROR: %v", err)
		t.logf("aborting phase 1 - cleanup resources")
		_ = s.setLock(ct, "")
		t.logf("start final cleanup")
		if running {
			t.logf("start container on source node")
			_ = s.startLocked(ctx, t, ct)
		}
		return fmt.Errorf("migration aborted: %v", err)
	}
	if err := s.checkSnapshotsMigrate(t, ct, vols); err != nil {
		return abort(err)
	}
	mover, moves := s.backend.(Mover)
	if moves {
		if err := mover.CopyVolumes(ctx, ct.VMID, target); err != nil {
			return abort(fmt.Errorf("storage migration for '%s' to storage '%s' failed - %v", vols[0], volumeStorage(vols[0]), err))
		}
	}
	for _, v := range vols {
		t.logf("volume '%s' is '%s' on the target", v, v)
	}
	if err := s.moveTo(ctx, ct, target); err != nil {
		if moves {
			// PVE leaves the copy ("found stale volume copy"); the simulator removes it so a
			// later migration finds the target's storage as it was.
			_ = mover.FreeVolumes(ctx, ct.VMID, target)
		}
		return abort(err)
	}
	problems := false
	if moves {
		if err := mover.FreeVolumes(ctx, ct.VMID, source); err != nil {
			for _, v := range vols {
				t.logf("ERROR: removing local copy of '%s' failed - %v", v, err)
			}
			problems = true
		}
	}
	t.logf("start final cleanup")
	if err := s.setLock(ct, ""); err != nil {
		return err
	}
	if running {
		t.logf("start container on target node")
		if err := s.startLocked(ctx, t, ct); err != nil {
			return err
		}
	}
	d := time.Since(start).Round(time.Second)
	took := fmt.Sprintf("%02d:%02d:%02d", int(d.Hours()), int(d.Minutes())%60, int(d.Seconds())%60)
	if problems {
		t.logf("ERROR: migration finished with problems (duration %s)", took)
		return errors.New("migration problems")
	}
	t.logf("migration finished successfully (duration %s)", took)
	s.log.Info("Container migrated", "vmid", ct.VMID, "from", source, "to", target)
	return nil
}

// localVolumes lists the volumes of the container's rootfs and mount points.
func (s *Server) localVolumes(ct *container) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	vols := []string{}
	for _, k := range diskKeys(ct.Conf) {
		if v, err := schema.ParsePropertyString(rootfsFormatFor(k), ct.Conf[k]); err == nil && v["volume"] != "" {
			vols = append(vols, v["volume"])
		}
	}
	return vols
}

// checkSnapshotsMigrate refuses a CT with snapshots on storage whose snapshots cannot move:
// Migrate.pm phase1 dies with "non-migratable snapshot exists" for any but zfspool and btrfs.
func (s *Server) checkSnapshotsMigrate(t *task, ct *container, vols []string) error {
	s.mu.Lock()
	snapshots := len(ct.Snapshots)
	s.mu.Unlock()
	if snapshots == 0 {
		return nil
	}
	refused := false
	for _, v := range vols {
		if st, ok := findStorage(volumeStorage(v)); ok && st.plugin != "zfspool" && st.plugin != "btrfs" {
			t.logf("can't migrate local volume '%s': non-migratable snapshot exists", v)
			refused = true
		}
	}
	if refused {
		return errors.New("can't migrate CT - check log")
	}
	return nil
}

// volumeStorage is the storage id of a volume id (parse_volume_id).
func volumeStorage(volid string) string {
	sid, _, _ := schema.ParseVolumeID(volid)
	return sid
}

// moveTo moves the stopped container's config to target and lets the backend follow.
func (s *Server) moveTo(ctx context.Context, ct *container, target string) error {
	s.mu.Lock()
	old := ct.Node
	ct.Node = target
	err := s.store.saveContainer(ct)
	if err != nil {
		ct.Node = old
	}
	s.mu.Unlock()
	if err != nil {
		return err
	}
	spec, err := s.spec(ct)
	if err == nil {
		err = s.backend.Reconfigure(ctx, spec)
	}
	if err != nil {
		s.mu.Lock()
		ct.Node = old
		_ = s.store.saveContainer(ct)
		s.mu.Unlock()
	}
	return err
}
