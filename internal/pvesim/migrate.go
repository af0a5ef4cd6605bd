package pvesim

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"templatemanager.dev/lxc-template-manager/internal/pvesim/schema"
)

// Container migration between the simulator's nodes, after pve-container's
// src/PVE/API2/LXC.pm (migrate_vm_precondition, migrate_vm) and src/PVE/LXC/Migrate.pm. The
// nodes of one simulator share one host and every storage exists on each of them (see
// storages), so moving a volume keeps its data where it is and moves the container's record:
// its config file goes to the target node, as PVE moves /etc/pve/nodes/<node>/lxc/<vmid>.conf.

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

// runMigrate is PVE::LXC::Migrate's prepare, phase1 and final_cleanup for a local cluster.
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
	s.mu.Lock()
	conf := ct.Conf
	vols := []string{}
	for _, k := range diskKeys(conf) {
		if v, err := schema.ParsePropertyString(rootfsFormatFor(k), conf[k]); err == nil && v["volume"] != "" {
			vols = append(vols, v["volume"])
		}
	}
	s.mu.Unlock()
	for _, v := range vols {
		t.logf("found local volume '%s' (in current VM config)", v)
	}
	for _, v := range vols {
		t.logf("volume '%s' is '%s' on the target", v, v)
	}
	if err := s.moveTo(ctx, ct, target); err != nil {
		_ = s.setLock(ct, "")
		t.logf("start final cleanup")
		if running {
			t.logf("start container on source node")
			_ = s.startLocked(ctx, t, ct)
		}
		return fmt.Errorf("migration aborted: %v", err)
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
	t.logf("migration finished successfully (duration %02d:%02d:%02d)", int(d.Hours()), int(d.Minutes())%60, int(d.Seconds())%60)
	s.log.Info("Container migrated", "vmid", ct.VMID, "from", source, "to", target)
	return nil
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
