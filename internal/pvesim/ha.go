package pvesim

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"maps"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// HA resources, after pve-ha-manager's src/PVE/API2/HA/Resources.pm and src/PVE/HA/Config.pm:
// the resources configuration (/etc/pve/ha/resources.cfg) and a cluster resource manager that
// carries out migrate and relocate commands at once. A container is the only resource type the
// simulator has; for a CT, HA's migrate is a relocation too (src/PVE/HA/Resources/PVECT.pm:
// "we cannot migrate CT (yet) online, only relocate"): the CT is shut down, moved and started
// on the target when its requested state is started.

// haResource is one section of resources.cfg and the CRM's service state of it.
type haResource struct {
	SID  string            `json:"sid"`
	Conf map[string]string `json:"config"` // state, comment, max_restart, max_relocate, failback
	// Service is the service state of the manager status: started, stopped, migrate, relocate.
	Service string `json:"service"`
}

func (h *haResource) requested() string {
	switch st := h.Conf["state"]; st {
	case "", "enabled":
		return "started"
	default:
		return st
	}
}

// managed is service_check_ha_state without a state: an ignored resource behaves as if HA did
// not manage it.
func (h *haResource) managed() bool { return h != nil && h.Conf["state"] != "ignored" }

var sidRE = regexp.MustCompile(`^(\S+):(\S+)$`)

// parseSID is PVE::HA::Config::parse_sid: a bare VMID names the guest with that ID.
func (s *Server) parseSID(raw string) (sid, typ, name string, err error) {
	if raw != "" && strings.Trim(raw, "0123456789") == "" {
		vmid, _ := strconv.Atoi(raw)
		s.mu.Lock()
		_, ok := s.containers[vmid]
		s.mu.Unlock()
		if !ok {
			return "", "", "", pveError("unable to detect SID from VMID - VM/CT %s does not exist", raw)
		}
		return "ct:" + raw, "ct", raw, nil
	}
	if m := sidRE.FindStringSubmatch(raw); m != nil {
		return raw, m[1], m[2], nil
	}
	return "", "", "", pveError("unable to parse service id '%s'", raw)
}

// haDigest is the digest of resources.cfg; the caller holds s.mu.
func (s *Server) haDigestLocked() string {
	h := sha1.New()
	for _, sid := range slices.Sorted(maps.Keys(s.ha)) {
		fmt.Fprintf(h, "%s\n", sid)
		for _, k := range slices.Sorted(maps.Keys(s.ha[sid].Conf)) {
			fmt.Fprintf(h, "\t%s %s\n", k, s.ha[sid].Conf[k])
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}

// haEntry is api_copy_config: the section's options with sid, type and the digest.
func (s *Server) haEntryLocked(h *haResource) map[string]any {
	e := map[string]any{"sid": h.SID, "type": strings.SplitN(h.SID, ":", 2)[0], "digest": s.haDigestLocked()}
	for k, v := range h.Conf {
		if n, err := strconv.Atoi(v); err == nil && k != "comment" && k != "state" {
			e[k] = n
		} else {
			e[k] = v
		}
	}
	return e
}

func (s *Server) listHA(r *request) (any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []map[string]any{}
	for _, sid := range slices.Sorted(maps.Keys(s.ha)) {
		e := s.haEntryLocked(s.ha[sid])
		if t := r.params["type"]; t != "" && e["type"] != t {
			continue
		}
		out = append(out, e)
	}
	return out, nil
}

func (s *Server) readHA(r *request) (any, error) {
	sid, _, _, err := s.parseSID(r.params["sid"])
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	h, ok := s.ha[sid]
	if !ok {
		return nil, pveError("no such resource '%s'", sid)
	}
	return s.haEntryLocked(h), nil
}

// createHA adds a resource; the CRM then brings the CT to the requested state.
func (s *Server) createHA(r *request) (any, error) {
	sid, typ, name, err := s.parseSID(r.params["sid"])
	if err != nil {
		return nil, err
	}
	if t := r.params["type"]; t != "" && t != typ {
		return nil, pveError("types does not match")
	}
	if r.has("group") {
		// A PVE 9 cluster has its groups migrated to rules.
		return nil, pveError("invalid parameter 'group': ha groups have been migrated to rules")
	}
	vmid, err := s.haContainer(typ, name)
	if err != nil {
		return nil, err
	}
	conf := optionParams(r, "sid", "type")
	s.mu.Lock()
	if _, ok := s.ha[sid]; ok {
		s.mu.Unlock()
		return nil, pveError("resource ID '%s' already defined", sid)
	}
	h := &haResource{SID: sid, Conf: conf, Service: "request_start"}
	s.ha[sid] = h
	err = s.store.saveHA(s.ha)
	s.mu.Unlock()
	if err != nil {
		return nil, err
	}
	s.crmSettle(h, vmid)
	return nil, nil
}

// haContainer checks the resource's name as the PVECT plugin's verify_name and exists do.
func (s *Server) haContainer(typ, name string) (int, error) {
	switch typ {
	case "ct":
	case "vm":
		// The simulator has no VMs (PVEVM's exists).
		return 0, pveError("resource 'vm:%s' does not exist in cluster", name)
	default:
		return 0, pveError("unknown section type '%s'", typ)
	}
	vmid, err := strconv.Atoi(name)
	if err != nil || vmid < 10 || strings.HasPrefix(name, "0") {
		return 0, pveError("invalid VMID")
	}
	s.mu.Lock()
	_, ok := s.containers[vmid]
	s.mu.Unlock()
	if !ok {
		return 0, pveError("resource 'ct:%d' does not exist in cluster", vmid)
	}
	return vmid, nil
}

func (s *Server) deleteHA(r *request) (any, error) {
	sid, _, _, err := s.parseSID(r.params["sid"])
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.ha[sid]; !ok {
		return nil, pveError("cannot delete service '%s', not HA managed!", sid)
	}
	delete(s.ha, sid)
	if err := s.store.saveHA(s.ha); err != nil {
		return nil, err
	}
	// purge defaults to 1: the resource also leaves the rules that name it.
	if r.params["purge"] != "0" {
		return nil, s.purgeFromRulesLocked(sid)
	}
	return nil, nil
}

func (s *Server) migrateHA(r *request) (any, error)  { return s.moveHA(r, "migrate") }
func (s *Server) relocateHA(r *request) (any, error) { return s.moveHA(r, "relocate") }

// moveHA queues a migrate or relocate CRM command and answers what PVE 9 answers.
func (s *Server) moveHA(r *request, cmd string) (any, error) {
	sid, _, name, err := s.parseSID(r.params["sid"])
	if err != nil {
		return nil, err
	}
	target := r.params["node"]
	s.mu.Lock()
	h := s.ha[sid]
	s.mu.Unlock()
	if !h.managed() {
		return nil, pveError("resource '%s' is not HA managed", sid)
	}
	vmid, _ := strconv.Atoi(name)
	s.crmMove(h, vmid, target, cmd)
	return map[string]any{"sid": sid, "requested-node": target}, nil
}

// haManaged is vm_is_ha_managed for a CT.
func (s *Server) haManaged(vmid int) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ha["ct:"+strconv.Itoa(vmid)].managed()
}

// haTask runs op as a task of the HA stack (root@pam) on the CT's node, holding its config lock.
func (s *Server) haTask(ct *container, typ string, op func(ctx context.Context, t *task) error) {
	s.tasks.start(ct.Node, typ, strconv.Itoa(ct.VMID), "root@pam", func(ctx context.Context, t *task) error {
		if err := ct.lock(ctx, s.opts.LockTimeout); err != nil {
			return err
		}
		defer ct.unlock()
		return op(ctx, t)
	})
}

func (s *Server) setService(h *haResource, state string) {
	s.mu.Lock()
	h.Service = state
	s.mu.Unlock()
}

// crmSettle is the CRM acting on a new resource: a CT whose requested state is started is
// started, one that should be stopped is stopped.
func (s *Server) crmSettle(h *haResource, vmid int) {
	s.mu.Lock()
	ct := s.containers[vmid]
	want := h.requested()
	s.mu.Unlock()
	if ct == nil || !h.managed() {
		return
	}
	running := s.running(context.Background(), vmid)
	switch {
	case want == "started" && !running:
		s.haTask(ct, "vzstart", func(ctx context.Context, t *task) error {
			err := s.startLocked(ctx, t, ct)
			s.setService(h, "started")
			// next_state_started: now running, it goes where its node affinity wants it.
			s.crmPlace(h)
			return err
		})
	case want != "started" && running:
		s.haTask(ct, "vzshutdown", func(ctx context.Context, t *task) error {
			err := s.shutdownLocked(ctx, t, ct, 60*time.Second, true)
			s.setService(h, "stopped")
			return err
		})
	case want == "started":
		s.setService(h, "started")
		s.crmPlace(h)
	default:
		s.setService(h, "stopped")
	}
}

// crmMove carries out a migrate or relocate command: the service state shows the command
// until the CT runs (or rests) on the target. A command for the node the CT is on, or for a
// node the cluster does not have, is ignored as the CRM ignores it.
func (s *Server) crmMove(h *haResource, vmid int, target, cmd string) {
	s.mu.Lock()
	ct := s.containers[vmid]
	s.mu.Unlock()
	if ct == nil || ct.Node == target || !s.hasNode(target) {
		return
	}
	s.setService(h, cmd)
	s.haTask(ct, "vzmigrate", func(ctx context.Context, t *task) error {
		err := s.runMigrate(ctx, t, ct, target, true, 180*time.Second)
		if h.requested() == "started" && !s.running(ctx, ct.VMID) {
			if serr := s.startLocked(ctx, t, ct); err == nil {
				err = serr
			}
		}
		state := "started"
		if h.requested() != "started" {
			state = "stopped"
		}
		s.setService(h, state)
		return err
	})
}

func (st *store) haFile() string { return filepath.Join(st.dir, "ha-resources.json") }

// saveHA writes the HA resources; the caller holds the server's lock.
func (st *store) saveHA(ha map[string]*haResource) error { return saveList(st.haFile(), ha) }

func (st *store) loadHA() (map[string]*haResource, error) {
	return loadList(st.haFile(), "HA resources", func(v *haResource) string { return v.SID })
}

// haConfigured is service_is_configured for a CT: in resources.cfg, whatever its state.
func (s *Server) haConfigured(vmid int) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.ha["ct:"+strconv.Itoa(vmid)]
	return ok
}

// dropHA is delete_service_from_config for a CT destroyed with purge, which also takes it out
// of the rules.
func (s *Server) dropHA(vmid int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	sid := "ct:" + strconv.Itoa(vmid)
	delete(s.ha, sid)
	if err := s.store.saveHA(s.ha); err != nil {
		return err
	}
	return s.purgeFromRulesLocked(sid)
}
