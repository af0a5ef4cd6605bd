package pvesim

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// adminPrefix is where the simulator's own endpoints live, outside the Proxmox API:
//
//	GET    /_pvesim/faults          the fault rules with their hit counts
//	POST   /_pvesim/faults          add a rule (a JSON FaultRule, or an array of them)
//	DELETE /_pvesim/faults          remove all rules
//	DELETE /_pvesim/faults/{id}     remove one rule
//	GET    /_pvesim/counters        request, task and fault counters as JSON
//	POST   /_pvesim/counters/reset  zero the JSON counters
//	POST   /_pvesim/leases/{vmid}/{net}  give a DHCP interface another address (a lease that moved)
//	POST   /_pvesim/maintenance/{node}   put a node into HA maintenance mode (ha-manager
//	                                     crm-command node-maintenance enable <node>)
//	DELETE /_pvesim/maintenance/{node}   take it out again (… node-maintenance disable <node>)
//
// Reads are open like /metrics; changes need an API token or ticket of the simulator.
const adminPrefix = "/_pvesim/"

func (s *Server) serveAdmin(w http.ResponseWriter, r *http.Request) {
	path := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, adminPrefix), "/")
	if r.Method != http.MethodGet {
		if _, _, err := s.auth.authenticate(r); err != nil {
			writeError(w, r, err)
			return
		}
	}
	switch {
	case path == "faults" && r.Method == http.MethodGet:
		writeJSON(w, http.StatusOK, s.Faults())
	case path == "faults" && r.Method == http.MethodPost:
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		var rules []FaultRule
		if trimmed := strings.TrimSpace(string(body)); strings.HasPrefix(trimmed, "[") {
			err = json.Unmarshal(body, &rules)
		} else {
			var one FaultRule
			err = json.Unmarshal(body, &one)
			rules = []FaultRule{one}
		}
		if err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		added := make([]FaultRule, 0, len(rules))
		for _, rule := range rules {
			a, err := s.InjectFault(rule)
			if err != nil {
				writeJSON(w, http.StatusBadRequest, map[string]any{"error": err.Error(), "added": added})
				return
			}
			added = append(added, a)
		}
		s.log.Info("Faults added", "count", len(added))
		writeJSON(w, http.StatusOK, added)
	case path == "faults" && r.Method == http.MethodDelete:
		s.ClearFaults()
		s.log.Info("Faults cleared")
		writeJSON(w, http.StatusOK, []FaultRule{})
	case strings.HasPrefix(path, "faults/") && r.Method == http.MethodDelete:
		id, err := strconv.Atoi(strings.TrimPrefix(path, "faults/"))
		if err != nil || !s.RemoveFault(id) {
			writeJSON(w, http.StatusNotFound, map[string]string{"error": "no such fault rule"})
			return
		}
		writeJSON(w, http.StatusOK, s.Faults())
	case strings.HasPrefix(path, "leases/") && r.Method == http.MethodPost:
		var vmid, net int
		if _, err := fmt.Sscanf(strings.TrimPrefix(path, "leases/"), "%d/%d", &vmid, &net); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "want /_pvesim/leases/{vmid}/{net}"})
			return
		}
		p, err := s.RenewLease(r.Context(), vmid, net)
		if err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"lease": p.String()})
	case strings.HasPrefix(path, "maintenance/") && (r.Method == http.MethodPost || r.Method == http.MethodDelete):
		node := strings.TrimPrefix(path, "maintenance/")
		if err := s.SetNodeMaintenance(node, r.Method == http.MethodPost); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"node": node, "maintenance": r.Method == http.MethodPost})
	case path == "counters" && r.Method == http.MethodGet:
		writeJSON(w, http.StatusOK, s.Counters())
	case path == "counters/reset" && r.Method == http.MethodPost:
		s.ResetCounters()
		writeJSON(w, http.StatusOK, s.Counters())
	default:
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "no such endpoint"})
	}
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	body, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_, _ = w.Write(append(body, '\n'))
}
