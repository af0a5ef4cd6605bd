package pvesim

import (
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"maps"
	"net/http"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"templatemanager.dev/lxc-template-manager/internal/pvesim/schema"
)

// HA rules, after pve-ha-manager's src/PVE/API2/HA/Rules.pm, src/PVE/HA/Rules.pm and its
// NodeAffinity and ResourceAffinity plugins: the rules configuration (/etc/pve/ha/rules.cfg),
// its API, and the node affinity the CRM's select_service_node honours (Manager.pm). A
// resource-affinity rule is kept and checked for its own feasibility, but the simulator's CRM
// does not place resources by it.

// haRule is one section of rules.cfg. Conf holds the options in their encoded form: resources
// sorted, nodes sorted as node[:priority] (a priority of 0 is left out, as
// encode_plugin_value writes it).
type haRule struct {
	ID    string            `json:"rule"`
	Type  string            `json:"type"`
	Order int               `json:"order"`
	Conf  map[string]string `json:"config"`
}

// ruleOptions are the options each rule type takes besides its type (the plugins' options).
var ruleOptions = map[string][]string{
	"node-affinity":     {"resources", "nodes", "strict", "disable", "comment"},
	"resource-affinity": {"resources", "affinity", "disable", "comment"},
}

// ruleRequired are the options check_config needs on create.
var ruleRequired = map[string][]string{
	"node-affinity":     {"resources", "nodes"},
	"resource-affinity": {"resources", "affinity"},
}

var haResourceIDRE = regexp.MustCompile(`^[a-z]+:\S+$`)

var haNodeRE = regexp.MustCompile(`^([a-zA-Z0-9]([a-zA-Z0-9\-]*[a-zA-Z0-9])?)(:(\d+))?$`)

// decodeNodes is decode_plugin_value for nodes: node → priority (parse_node_priority; a node
// without one has priority 0, a later entry of the same node wins).
func decodeNodes(value string) map[string]int {
	out := map[string]int{}
	for _, item := range schema.SplitList(value) {
		m := haNodeRE.FindStringSubmatch(item)
		if m == nil {
			continue
		}
		pri, _ := strconv.Atoi(m[4])
		out[m[1]] = pri
	}
	return out
}

// encodeNodes is encode_plugin_value for nodes.
func encodeNodes(nodes map[string]int) string {
	var out []string
	for _, n := range slices.Sorted(maps.Keys(nodes)) {
		if p := nodes[n]; p != 0 {
			out = append(out, n+":"+strconv.Itoa(p))
		} else {
			out = append(out, n)
		}
	}
	return strings.Join(out, ",")
}

// decodeResources is decode_value for resources: the set of valid resource ids.
func decodeResources(value string) map[string]bool {
	out := map[string]bool{}
	for _, sid := range schema.SplitList(value) {
		if haResourceIDRE.MatchString(sid) {
			out[sid] = true
		}
	}
	return out
}

func encodeResources(res map[string]bool) string {
	return strings.Join(slices.Sorted(maps.Keys(res)), ",")
}

// checkRuleConfig is the plugin's check_config: only the type's options, booleans kept as 0/1,
// values in their encoded form; on create the required options must be there.
func checkRuleConfig(typ string, params map[string]string, create bool) (map[string]string, error) {
	out := map[string]string{}
	for k, v := range params {
		if !slices.Contains(ruleOptions[typ], k) {
			return nil, pveError("unexpected property '%s'", k)
		}
		switch k {
		case "resources":
			v = encodeResources(decodeResources(v))
		case "nodes":
			v = encodeNodes(decodeNodes(v))
		}
		out[k] = v
	}
	if create {
		for _, k := range ruleRequired[typ] {
			if _, ok := out[k]; !ok {
				return nil, pveError("missing value for required option '%s'", k)
			}
		}
	}
	return out, nil
}

// haRulesDigestLocked is the digest of rules.cfg; the caller holds s.mu.
func (s *Server) haRulesDigestLocked() string {
	h := sha1.New()
	for _, id := range s.sortedRulesLocked() {
		r := s.haRules[id]
		fmt.Fprintf(h, "%s: %s\n", r.Type, id)
		for _, k := range slices.Sorted(maps.Keys(r.Conf)) {
			fmt.Fprintf(h, "\t%s %s\n", k, r.Conf[k])
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}

// sortedRulesLocked are the rule ids in the order of rules.cfg (foreach_rule with sorted).
func (s *Server) sortedRulesLocked() []string {
	ids := slices.Collect(maps.Keys(s.haRules))
	slices.SortFunc(ids, func(a, b string) int {
		if d := s.haRules[a].Order - s.haRules[b].Order; d != 0 {
			return d
		}
		return strings.Compare(a, b)
	})
	return ids
}

// nextRuleOrderLocked is get_next_ordinal: one past the lowest ordinal in use (sic).
func (s *Server) nextRuleOrderLocked() int {
	lowest := 0
	for _, r := range s.haRules {
		if lowest == 0 || r.Order < lowest {
			lowest = r.Order
		}
	}
	return lowest + 1
}

// ruleErrorsLocked is check_feasibility: per rule, per option, the reasons it cannot hold.
func (s *Server) ruleErrorsLocked(rules map[string]*haRule) map[string]map[string][]string {
	errs := map[string]map[string][]string{}
	add := func(id, opt, msg string) {
		if errs[id] == nil {
			errs[id] = map[string][]string{}
		}
		errs[id][opt] = append(errs[id][opt], msg)
	}
	// NodeAffinity check_single_resource_reference: a resource in one enabled rule at most.
	users := map[string][]string{}
	for id, r := range rules {
		if r.Type != "node-affinity" || r.disabled() {
			continue
		}
		for sid := range decodeResources(r.Conf["resources"]) {
			users[sid] = append(users[sid], id)
		}
	}
	for _, sid := range slices.Sorted(maps.Keys(users)) {
		if ids := users[sid]; len(ids) > 1 {
			for _, id := range ids {
				add(id, "resources", fmt.Sprintf("resource '%s' is already used in another node affinity rule", sid))
			}
		}
	}
	// ResourceAffinity check_resource_affinity_resources_count and the node count check.
	for id, r := range rules {
		if r.Type != "resource-affinity" || r.disabled() {
			continue
		}
		n := len(decodeResources(r.Conf["resources"]))
		if n < 2 {
			add(id, "resources", "rule is ineffective as there are less than two resources")
		} else if r.Conf["affinity"] == "negative" && n > len(s.nodes) {
			add(id, "resources", "rule defines more resources than available nodes")
		}
	}
	return errs
}

func (r *haRule) disabled() bool { _, ok := r.Conf["disable"]; return ok }

// haRuleEntryLocked is get_api_ha_rule.
func (s *Server) haRuleEntryLocked(r *haRule, errs map[string][]string) map[string]any {
	e := map[string]any{"rule": r.ID, "type": r.Type, "digest": s.haRulesDigestLocked(), "order": r.Order}
	for k, v := range r.Conf {
		switch k {
		case "strict", "disable":
			n, _ := strconv.Atoi(v)
			e[k] = n
		default:
			e[k] = v
		}
	}
	if len(errs) > 0 {
		joined := map[string]string{}
		for k, v := range errs {
			joined[k] = strings.Join(v, ", ")
		}
		e["errors"] = joined
	}
	return e
}

func (s *Server) listHARules(r *request) (any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	errs := s.ruleErrorsLocked(s.haRules)
	out := []map[string]any{}
	for _, id := range s.sortedRulesLocked() {
		rule := s.haRules[id]
		if t := r.params["type"]; t != "" && rule.Type != t {
			continue
		}
		if sid := r.params["resource"]; sid != "" && !decodeResources(rule.Conf["resources"])[sid] {
			continue
		}
		out = append(out, s.haRuleEntryLocked(rule, errs[id]))
	}
	return out, nil
}

func (s *Server) readHARule(r *request) (any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := r.params["rule"]
	rule, ok := s.haRules[id]
	if !ok {
		return nil, pveError("no such ha rule '%s'", id)
	}
	return s.haRuleEntryLocked(rule, s.ruleErrorsLocked(s.haRules)[id]), nil
}

// checkRuleRefsLocked is assert_valid_resources_param and assert_valid_nodes_param.
func (s *Server) checkRuleRefsLocked(conf map[string]string) error {
	if v, ok := conf["resources"]; ok {
		res := decodeResources(v)
		if len(res) == 0 {
			return pveError("no resources were specified")
		}
		var unmanaged []string
		for _, sid := range slices.Sorted(maps.Keys(res)) {
			if _, ok := s.ha[sid]; !ok {
				unmanaged = append(unmanaged, sid)
			}
		}
		if len(unmanaged) > 0 {
			return pveError("cannot use unmanaged resource(s) %s.", strings.Join(unmanaged, ", "))
		}
	}
	if v, ok := conf["nodes"]; ok {
		nodes := decodeNodes(v)
		if len(nodes) == 0 {
			return pveError("no nodes were specified")
		}
		var missing []string
		for _, n := range slices.Sorted(maps.Keys(nodes)) {
			if !slices.Contains(s.nodes, n) {
				missing = append(missing, n)
			}
		}
		if len(missing) > 0 {
			return pveError("cannot use non-existent node(s) %s.", strings.Join(missing, ", "))
		}
	}
	return nil
}

// assertFeasibleLocked is assert_feasibility: the rule written must have no errors.
func (s *Server) assertFeasibleLocked(rules map[string]*haRule, id string) error {
	errs := s.ruleErrorsLocked(rules)[id]
	if len(errs) == 0 {
		return nil
	}
	joined := map[string]string{}
	for k, v := range errs {
		joined[k] = strings.Join(v, ", ")
	}
	return &apiError{Code: http.StatusBadRequest, Message: fmt.Sprintf("Rule '%s' is invalid.", id), Errors: joined}
}

func (s *Server) createHARule(r *request) (any, error) {
	typ, id := r.params["type"], r.params["rule"]
	params := optionParams(r, "type", "rule")
	if params["disable"] == "0" {
		delete(params, "disable")
	}
	conf, err := checkRuleConfig(typ, params, true)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	if _, ok := s.haRules[id]; ok {
		s.mu.Unlock()
		return nil, pveError("HA rule '%s' already defined", id)
	}
	if err := s.checkRuleRefsLocked(conf); err != nil {
		s.mu.Unlock()
		return nil, err
	}
	next := maps.Clone(s.haRules)
	next[id] = &haRule{ID: id, Type: typ, Order: s.nextRuleOrderLocked(), Conf: conf}
	if err := s.assertFeasibleLocked(next, id); err != nil {
		s.mu.Unlock()
		return nil, err
	}
	if err := s.store.saveHARules(next); err != nil {
		s.mu.Unlock()
		return nil, err
	}
	s.haRules = next
	s.mu.Unlock()
	s.crmPlaceAll()
	return nil, nil
}

func (s *Server) updateHARule(r *request) (any, error) {
	id := r.params["rule"]
	deletes := schema.SplitList(r.params["delete"])
	params := optionParams(r, "type", "rule", "delete", "digest")
	if params["disable"] == "0" {
		delete(params, "disable")
	}
	s.mu.Lock()
	defer func() {
		s.mu.Unlock()
		s.crmPlaceAll()
	}()
	if err := checkDigest(s.haRulesDigestLocked(), r.params["digest"]); err != nil {
		return nil, err
	}
	old, ok := s.haRules[id]
	if !ok {
		return nil, pveError("HA rule '%s' does not exist", id)
	}
	conf, err := checkRuleConfig(old.Type, params, false)
	if err != nil {
		return nil, err
	}
	if err := s.checkRuleRefsLocked(conf); err != nil {
		return nil, err
	}
	rule := &haRule{ID: id, Type: old.Type, Order: old.Order, Conf: maps.Clone(old.Conf)}
	// SectionConfig delete_from_config: only optional options of the type, not also set.
	for _, k := range deletes {
		if _, ok := conf[k]; ok {
			return nil, pveError("cannot set and delete property '%s' at the same time!", k)
		}
		if !slices.Contains(ruleOptions[old.Type], k) {
			return nil, pveError("unexpected property '%s'", k)
		}
		if slices.Contains(ruleRequired[old.Type], k) {
			return nil, pveError("cannot delete required option '%s'", k)
		}
		delete(rule.Conf, k)
	}
	maps.Copy(rule.Conf, conf)
	next := maps.Clone(s.haRules)
	next[id] = rule
	if err := s.assertFeasibleLocked(next, id); err != nil {
		return nil, err
	}
	if err := s.store.saveHARules(next); err != nil {
		return nil, err
	}
	s.haRules = next
	return nil, nil
}

// deleteHARule deletes the rule; Rules.pm does not complain about one that does not exist.
func (s *Server) deleteHARule(r *request) (any, error) {
	s.mu.Lock()
	next := maps.Clone(s.haRules)
	delete(next, r.params["rule"])
	err := s.store.saveHARules(next)
	if err == nil {
		s.haRules = next
	}
	s.mu.Unlock()
	return nil, err
}

// purgeFromRulesLocked is delete_service_from_config's purge: the resource leaves every rule,
// and a rule left without resources is deleted. The caller holds s.mu.
func (s *Server) purgeFromRulesLocked(sid string) error {
	next := map[string]*haRule{}
	for id, r := range s.haRules {
		res := decodeResources(r.Conf["resources"])
		if res[sid] {
			delete(res, sid)
			if len(res) == 0 {
				continue
			}
			r = &haRule{ID: r.ID, Type: r.Type, Order: r.Order, Conf: maps.Clone(r.Conf)}
			r.Conf["resources"] = encodeResources(res)
		}
		next[id] = r
	}
	if err := s.store.saveHARules(next); err != nil {
		return err
	}
	s.haRules = next
	return nil
}

// nodeAffinityLocked is the compiled node affinity of sid (NodeAffinity plugin_compile and
// get_node_affinity) over the online nodes: the nodes it may run on and those it should run
// on. ok is false when no enabled node-affinity rule names it.
func (s *Server) nodeAffinityLocked(sid string) (allowed, preferred map[string]bool, ok bool) {
	var rule *haRule
	for _, id := range s.sortedRulesLocked() {
		r := s.haRules[id]
		if r.Type == "node-affinity" && !r.disabled() && decodeResources(r.Conf["resources"])[sid] {
			rule = r
		}
	}
	if rule == nil {
		return nil, nil, false
	}
	nodes := decodeNodes(rule.Conf["nodes"])
	if rule.Conf["strict"] != "1" {
		for _, n := range s.nodes {
			if _, ok := nodes[n]; !ok {
				nodes[n] = -1
			}
		}
	}
	allowed, preferred = map[string]bool{}, map[string]bool{}
	best := 0
	for n, pri := range nodes {
		if !s.hasNode(n) || s.maintenance[n] {
			continue // offline
		}
		allowed[n] = true
		switch {
		case len(preferred) == 0 || pri > best:
			preferred, best = map[string]bool{n: true}, pri
		case pri == best:
			preferred[n] = true
		}
	}
	return allowed, preferred, true
}

// placeLocked is select_service_node for a started service as next_state_started asks for it
// (node preference none): the node the resource should run on, "" when it stays where it is.
// Among equally preferred nodes the one with the fewest HA services wins, then the name (the
// basic scheduler's count of services per node).
func (s *Server) placeLocked(h *haResource, current string) string {
	allowed, preferred, ok := s.nodeAffinityLocked(h.SID)
	if !ok || len(preferred) == 0 {
		return ""
	}
	if h.Conf["failback"] == "0" && allowed[current] {
		return ""
	}
	if preferred[current] {
		return ""
	}
	count := map[string]int{}
	for _, o := range s.ha {
		if ct := s.containers[o.vmid()]; ct != nil && o != h {
			count[ct.Node]++
		}
	}
	nodes := slices.Collect(maps.Keys(preferred))
	slices.SortFunc(nodes, func(a, b string) int {
		if d := count[a] - count[b]; d != 0 {
			return d
		}
		return strings.Compare(a, b)
	})
	return nodes[0]
}

// crmPlace is the CRM's next_state_started: a started resource on a node its node affinity
// does not prefer is relocated (a CT cannot migrate online) to the node select_service_node
// picks. A resource being moved, stopped or not managed is left as it is.
func (s *Server) crmPlace(h *haResource) {
	s.mu.Lock()
	ct := s.containers[h.vmid()]
	var target string
	if ct != nil && h.managed() && h.requested() == "started" && h.Service == "started" {
		target = s.placeLocked(h, ct.Node)
	}
	s.mu.Unlock()
	if target != "" {
		s.crmMove(h, ct.VMID, target, "relocate")
	}
}

// crmPlaceAll runs crmPlace over every HA resource, as the CRM's next round does after the
// rules changed.
func (s *Server) crmPlaceAll() {
	s.mu.Lock()
	all := slices.Collect(maps.Values(s.ha))
	s.mu.Unlock()
	for _, h := range all {
		s.crmPlace(h)
	}
}

func (st *store) haRulesFile() string { return filepath.Join(st.dir, "ha-rules.json") }

// saveHARules writes the HA rules; the caller holds the server's lock.
func (st *store) saveHARules(rules map[string]*haRule) error {
	return saveList(st.haRulesFile(), rules)
}

func (st *store) loadHARules() (map[string]*haRule, error) {
	return loadList(st.haRulesFile(), "HA rules", func(v *haRule) string { return v.ID })
}
