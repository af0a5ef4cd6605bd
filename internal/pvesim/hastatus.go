package pvesim

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"
)

// The HA manager's status and node maintenance, after pve-ha-manager's
// src/PVE/API2/HA/Status.pm (GET /cluster/ha/status/current) and src/PVE/HA/Manager.pm (the
// enable-node-maintenance and disable-node-maintenance commands that `ha-manager crm-command
// node-maintenance enable|disable <node>` queues for the CRM). The simulator's CRM and LRMs act
// at once: a node in maintenance shows in its LRM's entry as "maintenance mode" as soon as it
// is asked for. The HA resources of such a node are not moved away, as the real CRM would.
//
// The CRM is active while there are HA resources or a node in maintenance (CRM.pm
// can_get_active); a cluster where neither is has no manager status, so only the quorum and
// fencing entries show, as on a cluster that never used HA.

// SetNodeMaintenance puts node into maintenance mode or takes it out, as `ha-manager
// crm-command node-maintenance enable|disable <node>` does (CLI/ha_manager.pm
// node-maintenance-set). The request survives a restart, as the manager status does.
func (s *Server) SetNodeMaintenance(node string, on bool) error {
	if !s.hasNode(node) {
		// PVE::Cluster::check_node_exists
		return pveError("no such cluster node '%s'", node)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if on == s.maintenance[node] {
		return nil
	}
	next := maps.Clone(s.maintenance)
	if on {
		next[node] = true
	} else {
		delete(next, node)
	}
	if err := s.store.saveMaintenance(next); err != nil {
		return err
	}
	s.maintenance = next
	s.log.Info("Node maintenance changed", "node", node, "maintenance", on)
	return nil
}

// crmActiveLocked says whether the CRM has a manager status to show; the caller holds s.mu.
func (s *Server) crmActiveLocked() bool { return len(s.ha) > 0 || len(s.maintenance) > 0 }

// nodeHAState is the CRM's node status (online, maintenance) that /cluster/resources shows
// as a node's hastate (pve-manager API2/Cluster.pm); empty while the CRM has none.
func (s *Server) nodeHAState(node string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case !s.crmActiveLocked():
		return ""
	case s.maintenance[node]:
		return "maintenance"
	}
	return "online"
}

// haStatus answers GET /cluster/ha/status/current.
func (s *Server) haStatus(*request) (any, error) {
	local := s.nodes[0]
	out := []map[string]any{{"id": "quorum", "type": "quorum", "node": local, "status": "OK", "quorate": 1}}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.crmActiveLocked() {
		return append(out, map[string]any{"id": "fencing", "type": "fencing", "node": local,
			"status": "standby (CRM watchdog standby)", "armed-state": "standby"}), nil
	}
	now := time.Now()
	stamp := now.Format(time.ANSIC) // Perl's scalar localtime
	out = append(out,
		map[string]any{"id": "master", "type": "master", "node": local,
			"status": fmt.Sprintf("%s (active, %s)", local, stamp), "timestamp": now.Unix()},
		map[string]any{"id": "fencing", "type": "fencing", "node": local,
			"status": "armed (CRM watchdog active)", "armed-state": "armed"})
	for _, n := range slices.Sorted(slices.Values(s.nodes)) {
		out = append(out, map[string]any{"id": "lrm:" + n, "type": "lrm", "node": n,
			"status": fmt.Sprintf("%s (%s, %s)", n, s.lrmStateLocked(n), stamp), "timestamp": now.Unix()})
	}
	for _, sid := range slices.Sorted(maps.Keys(s.ha)) {
		out = append(out, s.serviceStatusLocked(s.ha[sid]))
	}
	return out, nil
}

// lrmStateLocked is the LRM's state and watchdog as Status.pm words them: an LRM with active
// services holds its agent lock and watchdog, an LRM without is idle and on standby.
func (s *Server) lrmStateLocked(node string) string {
	busy := false
	for _, h := range s.ha {
		if ct := s.containers[h.vmid()]; ct != nil && ct.Node == node && activeService(h.Service) {
			busy = true
		}
	}
	state, watchdog := "idle", "watchdog standby"
	if busy {
		state, watchdog = "active", "watchdog active"
	}
	if s.maintenance[node] {
		state = "maintenance mode"
	}
	return state + ", " + watchdog
}

// activeService is count_active_services' test of a service state (HA/Tools.pm).
func activeService(state string) bool {
	switch state {
	case "", "stopped", "freeze", "error", "request_start":
		return false
	}
	return true
}

// serviceStatusLocked is Status.pm's entry of one HA resource.
func (s *Server) serviceStatusLocked(h *haResource) map[string]any {
	node := "---"
	if ct := s.containers[h.vmid()]; ct != nil {
		node = ct.Node
	}
	state := verboseServiceState(h)
	e := map[string]any{
		"id": "service:" + h.SID, "type": "service", "sid": h.SID, "node": node,
		"crm_state": h.Service, "state": state, "status": fmt.Sprintf("%s (%s, %s)", h.SID, node, state),
		"request_state": h.requested(),
	}
	for _, k := range []string{"max_restart", "max_relocate", "failback"} {
		if n, err := strconv.Atoi(h.Conf[k]); err == nil {
			e[k] = n
		}
	}
	if c, ok := h.Conf["comment"]; ok {
		e["comment"] = c
	}
	return e
}

// verboseServiceState is HA/Tools.pm's get_verbose_service_state for a configured service.
func verboseServiceState(h *haResource) string {
	req, cur := h.requested(), h.Service
	switch {
	case req == "ignored":
		return "ignored"
	case cur == "":
		return "queued"
	case cur == "stopped" && req == "started":
		return "starting"
	case cur == "stopped" && req == "disabled":
		return "disabled"
	case cur == "started" && (req == "stopped" || req == "disabled"):
		return "stopping"
	}
	return cur
}

// vmid is the VMID of a ct:<vmid> resource, 0 for any other.
func (h *haResource) vmid() int {
	if len(h.SID) < 4 || h.SID[:3] != "ct:" {
		return 0
	}
	n, _ := strconv.Atoi(h.SID[3:])
	return n
}

func (st *store) maintenanceFile() string { return filepath.Join(st.dir, "ha-maintenance.json") }

// saveMaintenance writes the nodes in maintenance; the caller holds the server's lock.
func (st *store) saveMaintenance(nodes map[string]bool) error {
	data, err := json.Marshal(slices.Sorted(maps.Keys(nodes)))
	if err != nil {
		return err
	}
	return writeFileAtomic(st.maintenanceFile(), data, 0o600)
}

func (st *store) loadMaintenance() (map[string]bool, error) {
	out := map[string]bool{}
	data, err := os.ReadFile(st.maintenanceFile())
	if errors.Is(err, fs.ErrNotExist) {
		return out, nil
	}
	if err != nil {
		return nil, err
	}
	var nodes []string
	if err := json.Unmarshal(data, &nodes); err != nil {
		return nil, fmt.Errorf("load node maintenance: %w", err)
	}
	for _, n := range nodes {
		out[n] = true
	}
	return out, nil
}
