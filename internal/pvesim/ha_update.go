package pvesim

import (
	"slices"

	"templatemanager.dev/lxc-template-manager/internal/pvesim/schema"
)

// updateHA is PUT /cluster/ha/resources/{sid} (Resources.pm update): options are set or
// deleted against the resources.cfg digest, and the CRM brings the CT to a changed state.
func (s *Server) updateHA(r *request) (any, error) {
	sid, _, _, err := s.parseSID(r.params["sid"])
	if err != nil {
		return nil, err
	}
	if r.has("group") {
		return nil, pveError("invalid parameter 'group': ha groups have been migrated to rules")
	}
	deletes := schema.SplitList(r.params["delete"])
	set := optionParams(r, "sid", "delete", "digest")
	for _, k := range deletes {
		if _, ok := set[k]; ok {
			return nil, pveError("update and delete of '%s' in one call", k)
		}
		if !slices.Contains([]string{"comment", "state", "max_restart", "max_relocate", "failback"}, k) {
			return nil, pveError("invalid parameter 'delete': unknown option '%s'", k)
		}
	}
	s.mu.Lock()
	h, ok := s.ha[sid]
	if err == nil && r.has("digest") {
		err = checkDigest(s.haDigestLocked(), r.params["digest"])
	}
	if err == nil && !ok {
		err = pveError("no such resource '%s'", sid)
	}
	if err != nil {
		s.mu.Unlock()
		return nil, err
	}
	before := h.requested()
	for _, k := range deletes {
		delete(h.Conf, k)
	}
	for k, v := range set {
		h.Conf[k] = v
	}
	err = s.store.saveHA(s.ha)
	after := h.requested()
	s.mu.Unlock()
	if err != nil {
		return nil, err
	}
	if before != after {
		s.crmSettle(h, h.vmid())
	}
	// A changed failback may send it to its preferred node.
	s.crmPlace(h)
	return nil, nil
}
