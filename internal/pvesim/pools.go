package pvesim

import (
	"maps"
	"path/filepath"
	"slices"
	"strconv"

	"templatemanager.dev/lxc-template-manager/internal/pvesim/schema"
)

// Resource pools, after pve-manager's PVE/API2/Pool.pm (PVE 8.1+: the poolid moved into the
// query of /pools; the /pools/{poolid} paths remain, deprecated) and the pools of
// pve-access-control's user.cfg. A guest belongs to one pool at most. The simulator lets every
// user do everything, so Pool.Allocate and the modify-permission check on each guest pass.

// pool is one pool of user.cfg: its comment and its guests (pvesim has no storage members).
type pool struct {
	ID      string       `json:"poolid"`
	Comment string       `json:"comment,omitempty"`
	VMs     map[int]bool `json:"vms"`
}

// poolOfLocked is $usercfg->{vms}->{$vmid}: the pool the guest belongs to, "" for none.
func (s *Server) poolOfLocked(vmid int) string {
	for id, p := range s.pools {
		if p.VMs[vmid] {
			return id
		}
	}
	return ""
}

// poolMembers is read_pool's members: the guests that still exist (a destroyed guest's
// entry is skipped, as get_vmlist no longer lists it).
func (s *Server) poolMembers(r *request, p *pool) []map[string]any {
	out := []map[string]any{}
	if t := r.params["type"]; t != "" && t != "lxc" {
		return out
	}
	for _, vmid := range slices.Sorted(maps.Keys(p.VMs)) {
		s.mu.Lock()
		ct := s.containers[vmid]
		s.mu.Unlock()
		if ct != nil {
			out = append(out, s.resourceEntry(r.Context(), ct))
		}
	}
	return out
}

// listPools is GET /pools: every pool, or with poolid the one pool with its members.
func (s *Server) listPools(r *request) (any, error) {
	s.mu.Lock()
	var list []*pool
	for _, id := range slices.Sorted(maps.Keys(s.pools)) {
		if want := r.params["poolid"]; want == "" || want == id {
			list = append(list, s.pools[id])
		}
	}
	s.mu.Unlock()
	if id := r.params["poolid"]; id != "" && len(list) == 0 {
		return nil, pveError("pool '%s' does not exist", id)
	}
	out := []map[string]any{}
	for _, p := range list {
		e := map[string]any{"poolid": p.ID}
		if p.Comment != "" {
			e["comment"] = p.Comment
		}
		if r.has("poolid") {
			e["members"] = s.poolMembers(r, p)
		}
		out = append(out, e)
	}
	return out, nil
}

// readPool is the deprecated GET /pools/{poolid}.
func (s *Server) readPool(r *request) (any, error) {
	s.mu.Lock()
	p := s.pools[r.params["poolid"]]
	s.mu.Unlock()
	if p == nil {
		return nil, pveError("pool '%s' does not exist", r.params["poolid"])
	}
	out := map[string]any{"members": s.poolMembers(r, p)}
	if p.Comment != "" {
		out["comment"] = p.Comment
	}
	return out, nil
}

func (s *Server) createPool(r *request) (any, error) {
	id := r.params["poolid"]
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pools[id] != nil {
		return nil, pveError("create pool failed: pool '%s' already exists", id)
	}
	s.pools[id] = &pool{ID: id, Comment: r.params["comment"], VMs: map[int]bool{}}
	return nil, s.store.savePools(s.pools)
}

// updatePool is PUT /pools (and /pools/{poolid}): the comment, and guests added or, with
// delete=1, removed; allow-move takes a guest from the pool it is in.
func (s *Server) updatePool(r *request) (any, error) {
	id := r.params["poolid"]
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.pools[id]
	if p == nil {
		return nil, pveError("update pools failed: pool '%s' does not exist", id)
	}
	if r.has("comment") {
		p.Comment = r.params["comment"]
	}
	for _, v := range schema.SplitList(r.params["vms"]) {
		vmid, _ := strconv.Atoi(v)
		if err := s.changeMemberLocked(p, vmid, r.bool("delete"), r.bool("allow-move")); err != nil {
			return nil, err
		}
	}
	return nil, s.store.savePools(s.pools)
}

func (s *Server) changeMemberLocked(p *pool, vmid int, remove, move bool) error {
	if remove {
		if !p.VMs[vmid] {
			return pveError("update pools failed: VM %d is not a pool member", vmid)
		}
		delete(p.VMs, vmid)
		return nil
	}
	if s.containers[vmid] == nil {
		return pveError("update pools failed: VM %d does not exist", vmid)
	}
	if p.VMs[vmid] {
		return pveError("update pools failed: VM %d is already a pool member", vmid)
	}
	if have := s.poolOfLocked(vmid); have != "" {
		if !move {
			return pveError("update pools failed: VM %d belongs already to pool '%s'", vmid, have)
		}
		delete(s.pools[have].VMs, vmid)
	}
	p.VMs[vmid] = true
	return nil
}

// deletePool refuses a pool with guests that still exist.
func (s *Server) deletePool(r *request) (any, error) {
	id := r.params["poolid"]
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.pools[id]
	if p == nil {
		return nil, pveError("delete pool failed: pool '%s' does not exist", id)
	}
	for _, vmid := range slices.Sorted(maps.Keys(p.VMs)) {
		if s.containers[vmid] != nil {
			return nil, pveError("delete pool failed: pool '%s' is not empty (contains VM %d)", id, vmid)
		}
	}
	delete(s.pools, id)
	return nil, s.store.savePools(s.pools)
}

// checkPool is the pool parameter of a create or restore: the pool must exist
// (PVE::API2::LXC create checks it before anything is made).
func (s *Server) checkPool(id string) error {
	if id == "" {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pools[id] == nil {
		return pveError("pool '%s' does not exist", id)
	}
	return nil
}

// addToPool puts a just-created guest into the pool (add_vm_to_pool).
func (s *Server) addToPool(id string, vmid int) error {
	if id == "" {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.pools[id]
	if p == nil {
		return pveError("pool '%s' does not exist", id)
	}
	if have := s.poolOfLocked(vmid); have != "" {
		delete(s.pools[have].VMs, vmid)
	}
	p.VMs[vmid] = true
	return s.store.savePools(s.pools)
}

func (st *store) poolsFile() string { return filepath.Join(st.dir, "pools.json") }

// savePools writes the pools; the caller holds the server's lock.
func (st *store) savePools(pools map[string]*pool) error { return saveList(st.poolsFile(), pools) }

func (st *store) loadPools() (map[string]*pool, error) {
	return loadList(st.poolsFile(), "pools", func(v *pool) string { return v.ID })
}
