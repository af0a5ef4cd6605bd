package pvesim

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"templatemanager.dev/lxc-template-manager/internal/pvesim/schema"
)

const apiPrefix = "/api2/json"

// route is one API method on one path pattern of the official schema.
type route struct {
	method  string
	pattern string
	segs    []string
	schema  *schema.Method
	handle  func(*request) (any, error)
	// public routes need no authentication (ticket login).
	public bool
}

// request is what a handler sees: the authenticated user and the validated parameters.
type request struct {
	*http.Request
	route *route
	// params holds the checked parameters as strings (booleans as 1/0), path variables included.
	params map[string]string
	user   string // user@realm, or user@realm!token for API tokens
	token  bool
}

func (r *request) has(name string) bool { _, ok := r.params[name]; return ok }

func (r *request) bool(name string) bool { return r.params[name] == "1" }

func (s *Server) handle(method, pattern string, h func(*request) (any, error)) route {
	sc := schema.Lookup(method, pattern)
	if sc == nil {
		panic(fmt.Sprintf("pvesim: no schema for %s %s", method, pattern))
	}
	return route{method: method, pattern: pattern, segs: strings.Split(strings.Trim(pattern, "/"), "/"), schema: sc, handle: h}
}

func (s *Server) apiRoutes() []route {
	ticket := s.handle("POST", "/access/ticket", s.createTicket)
	ticket.public = true
	return []route{
		ticket,
		s.handle("GET", "/version", s.version),
		s.handle("GET", "/nodes", s.listNodes),
		s.handle("GET", "/nodes/{node}/status", s.nodeStatus),
		s.handle("GET", "/nodes/{node}/network", s.listNetworks),
		s.handle("GET", "/nodes/{node}/network/{iface}", s.network),
		s.handle("GET", "/cluster/status", s.clusterStatus),
		s.handle("GET", "/cluster/nextid", s.nextID),
		s.handle("GET", "/cluster/resources", s.clusterResources),
		s.handle("GET", "/cluster/tasks", s.clusterTasks),
		s.handle("GET", "/cluster/ha/resources", s.listHA),
		s.handle("POST", "/cluster/ha/resources", s.createHA),
		s.handle("GET", "/cluster/ha/resources/{sid}", s.readHA),
		s.handle("PUT", "/cluster/ha/resources/{sid}", s.updateHA),
		s.handle("DELETE", "/cluster/ha/resources/{sid}", s.deleteHA),
		s.handle("POST", "/cluster/ha/resources/{sid}/migrate", s.migrateHA),
		s.handle("POST", "/cluster/ha/resources/{sid}/relocate", s.relocateHA),
		s.handle("GET", "/cluster/ha/rules", s.listHARules),
		s.handle("POST", "/cluster/ha/rules", s.createHARule),
		s.handle("GET", "/cluster/ha/rules/{rule}", s.readHARule),
		s.handle("PUT", "/cluster/ha/rules/{rule}", s.updateHARule),
		s.handle("DELETE", "/cluster/ha/rules/{rule}", s.deleteHARule),
		s.handle("GET", "/cluster/ha/status/current", s.haStatus),
		s.handle("GET", "/pools", s.listPools),
		s.handle("POST", "/pools", s.createPool),
		s.handle("PUT", "/pools", s.updatePool),
		s.handle("DELETE", "/pools", s.deletePool),
		s.handle("GET", "/pools/{poolid}", s.readPool),
		s.handle("PUT", "/pools/{poolid}", s.updatePool),
		s.handle("DELETE", "/pools/{poolid}", s.deletePool),
		s.handle("GET", "/nodes/{node}/lxc", s.listContainers),
		s.handle("POST", "/nodes/{node}/lxc", s.createContainer),
		s.handle("GET", "/nodes/{node}/lxc/{vmid}", s.containerIndex),
		s.handle("DELETE", "/nodes/{node}/lxc/{vmid}", s.destroyContainer),
		s.handle("GET", "/nodes/{node}/lxc/{vmid}/config", s.getConfig),
		s.handle("PUT", "/nodes/{node}/lxc/{vmid}/config", s.updateConfig),
		s.handle("GET", "/nodes/{node}/lxc/{vmid}/pending", s.pendingList),
		s.handle("PUT", "/nodes/{node}/lxc/{vmid}/resize", s.resizeContainer),
		s.handle("GET", "/nodes/{node}/lxc/{vmid}/status/current", s.currentStatus),
		s.handle("POST", "/nodes/{node}/lxc/{vmid}/status/start", s.startContainer),
		s.handle("POST", "/nodes/{node}/lxc/{vmid}/status/stop", s.stopContainer),
		s.handle("POST", "/nodes/{node}/lxc/{vmid}/status/shutdown", s.shutdownContainer),
		s.handle("POST", "/nodes/{node}/lxc/{vmid}/status/reboot", s.rebootContainer),
		s.handle("GET", "/nodes/{node}/lxc/{vmid}/interfaces", s.interfaces),
		s.handle("POST", "/nodes/{node}/lxc/{vmid}/clone", s.cloneContainer),
		s.handle("POST", "/nodes/{node}/lxc/{vmid}/template", s.convertToTemplate),
		s.handle("GET", "/nodes/{node}/lxc/{vmid}/migrate", s.migratePrecondition),
		s.handle("POST", "/nodes/{node}/lxc/{vmid}/migrate", s.migrateContainer),
		s.handle("GET", "/nodes/{node}/lxc/{vmid}/snapshot", s.listSnapshots),
		s.handle("POST", "/nodes/{node}/lxc/{vmid}/snapshot", s.createSnapshot),
		s.handle("GET", "/nodes/{node}/lxc/{vmid}/snapshot/{snapname}", s.snapshotIndex),
		s.handle("DELETE", "/nodes/{node}/lxc/{vmid}/snapshot/{snapname}", s.deleteSnapshot),
		s.handle("GET", "/nodes/{node}/lxc/{vmid}/snapshot/{snapname}/config", s.snapshotConfig),
		s.handle("PUT", "/nodes/{node}/lxc/{vmid}/snapshot/{snapname}/config", s.updateSnapshotConfig),
		s.handle("POST", "/nodes/{node}/lxc/{vmid}/snapshot/{snapname}/rollback", s.rollbackSnapshot),
		s.handle("GET", "/nodes/{node}/lxc/{vmid}/feature", s.featureCheck),
		s.handle("GET", "/nodes/{node}/lxc/{vmid}/firewall/options", s.firewallOptions),
		s.handle("PUT", "/nodes/{node}/lxc/{vmid}/firewall/options", s.setFirewallOptions),
		s.handle("GET", "/nodes/{node}/lxc/{vmid}/firewall/rules", s.firewallRules),
		s.handle("POST", "/nodes/{node}/lxc/{vmid}/firewall/rules", s.createFirewallRule),
		s.handle("GET", "/nodes/{node}/lxc/{vmid}/firewall/rules/{pos}", s.firewallRule),
		s.handle("PUT", "/nodes/{node}/lxc/{vmid}/firewall/rules/{pos}", s.updateFirewallRule),
		s.handle("DELETE", "/nodes/{node}/lxc/{vmid}/firewall/rules/{pos}", s.deleteFirewallRule),
		s.handle("POST", "/nodes/{node}/vzdump", s.vzdump),
		s.handle("GET", "/nodes/{node}/tasks", s.listTasks),
		s.handle("GET", "/nodes/{node}/tasks/{upid}", s.taskIndex),
		s.handle("DELETE", "/nodes/{node}/tasks/{upid}", s.stopTask),
		s.handle("GET", "/nodes/{node}/tasks/{upid}/status", s.taskStatus),
		s.handle("GET", "/nodes/{node}/tasks/{upid}/log", s.taskLog),
		s.handle("GET", "/nodes/{node}/storage", s.listStorages),
		s.handle("GET", "/nodes/{node}/storage/{storage}/status", s.storageStatus),
		s.handle("GET", "/nodes/{node}/storage/{storage}/content", s.storageContent),
		s.handle("GET", "/nodes/{node}/storage/{storage}/content/{volume}", s.storageVolume),
		s.handle("DELETE", "/nodes/{node}/storage/{storage}/content/{volume}", s.deleteVolume),
		s.handle("POST", "/nodes/{node}/storage/{storage}/download-url", s.downloadURL),
		s.handle("POST", "/nodes/{node}/storage/{storage}/oci-registry-pull", s.ociRegistryPull),
		s.handle("GET", "/nodes/{node}/aplinfo", s.aplinfo),
		s.handle("POST", "/nodes/{node}/aplinfo", s.downloadAppliance),
	}
}

// match finds the route of a path below /api2/json and its path variables.
func (s *Server) match(method, path string) (*route, map[string]string) {
	segs := strings.Split(strings.Trim(path, "/"), "/")
	for i := range s.routes {
		rt := &s.routes[i]
		if rt.method != method {
			continue
		}
		segs := segs
		// A volume id (local:vztmpl/x.tar.zst) arrives unescaped and spans segments.
		if n := len(rt.segs); rt.segs[n-1] == "{volume}" && len(segs) > n {
			segs = append(slices.Clone(segs[:n-1]), strings.Join(segs[n-1:], "/"))
		}
		if len(rt.segs) != len(segs) {
			continue
		}
		vars := map[string]string{}
		ok := true
		for j, seg := range rt.segs {
			if strings.HasPrefix(seg, "{") {
				v, err := url.PathUnescape(segs[j])
				if err != nil || v == "" {
					ok = false
					break
				}
				vars[strings.Trim(seg, "{}")] = v
				continue
			}
			if seg != segs[j] {
				ok = false
				break
			}
		}
		if ok {
			return rt, vars
		}
	}
	return nil, nil
}

// ServeHTTP serves the API below /api2/json, the metrics and the simulator's admin endpoints.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.URL.Path == "/metrics":
		s.metrics.handler().ServeHTTP(w, r)
		return
	case strings.HasPrefix(r.URL.Path, adminPrefix):
		s.serveAdmin(w, r)
		return
	}
	start := time.Now()
	pattern, a := s.serveAPI(r)
	body, a := a.encode()
	// Counted before the answer goes out, so a client reading the counters after its
	// request always finds it.
	s.metrics.observe(r.Method, pattern, a.code(), time.Since(start))
	switch {
	case a.drop:
		dropConnection(w)
	case a.err != nil:
		writeError(w, r, a.err)
	default:
		writeBody(w, body)
	}
}

// answer is what a request gets: data, an error, or a dropped connection.
type answer struct {
	data any
	err  *apiError
	drop bool
}

// encode renders the success body, turning an encoding failure into an error answer.
func (a answer) encode() ([]byte, answer) {
	if a.drop || a.err != nil {
		return nil, a
	}
	env, ok := a.data.(envelope)
	if !ok {
		env = envelope{Data: a.data}
	}
	body, err := json.Marshal(env)
	if err != nil {
		return nil, answer{err: pveError("unable to encode answer: %v", err)}
	}
	return body, a
}

func (a answer) code() int {
	switch {
	case a.drop:
		return codeDropped
	case a.err != nil:
		if strings.ContainsAny(firstLine(a.err.Message), "\r") {
			return http.StatusBadRequest
		}
		return a.err.Code
	}
	return http.StatusOK
}

func (s *Server) serveAPI(r *http.Request) (pattern string, a answer) {
	rel, ok := strings.CutPrefix(r.URL.Path, apiPrefix)
	if !ok || (rel != "" && !strings.HasPrefix(rel, "/")) {
		return "unmatched", answer{err: &apiError{Code: http.StatusNotImplemented, Message: "no such uri"}}
	}
	user, token, authErr := s.auth.authenticate(r)
	rt, vars := s.match(r.Method, rel)
	pattern = "unmatched"
	if rt != nil {
		pattern = rt.pattern
	}
	if authErr != nil && (rt == nil || !rt.public) {
		if d := s.opts.UnauthorizedDelay; d > 0 {
			select {
			case <-time.After(d):
			case <-r.Context().Done():
			}
		}
		return pattern, answer{err: authErr}
	}
	if rt == nil {
		return pattern, answer{err: &apiError{Code: http.StatusNotImplemented,
			Message: fmt.Sprintf("Method '%s %s' not implemented", r.Method, rel)}}
	}
	if f := s.faults.before(r.Context(), r.Method, rt.pattern); f != nil {
		switch {
		case f.drop:
			return pattern, answer{drop: true}
		case f.err != nil:
			return pattern, answer{err: f.err}
		case f.lock:
			s.holdConfigLock(vars["vmid"], f.lockHold)
		}
	}
	raw, perr := readParams(r)
	if perr != nil {
		return pattern, answer{err: perr}
	}
	for k, v := range vars {
		if old, ok := raw[k]; ok {
			if sv, _ := schema.Scalar(old); sv != v {
				return pattern, answer{err: paramErrorf(k, "duplicate parameter (already defined in URI) with conflicting values!")}
			}
		}
		raw[k] = v
	}
	if errs := rt.schema.Validate(raw); errs != nil {
		return pattern, answer{err: paramError(errs)}
	}
	req := &request{Request: r, route: rt, params: normalise(raw), user: user, token: token}
	data, err := rt.handle(req)
	if err != nil {
		var ae *apiError
		if !errors.As(err, &ae) {
			ae = pveError("%s", err.Error())
		}
		if ae.Code != http.StatusBadRequest {
			s.log.Debug("Request failed", "method", r.Method, "path", rel, "code", ae.Code, "error", ae.Message)
		}
		return pattern, answer{err: ae}
	}
	return pattern, answer{data: data}
}

// readParams merges the body (JSON or form) and the query string, as pveproxy does.
func readParams(r *http.Request) (map[string]any, *apiError) {
	params := map[string]any{}
	if r.Method == http.MethodPost || r.Method == http.MethodPut {
		body, err := io.ReadAll(io.LimitReader(r.Body, 8<<20))
		if err != nil {
			return nil, pveError("unable to read request body: %v", err)
		}
		ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
		switch {
		case len(bytes.TrimSpace(body)) == 0:
		case ct == "application/json":
			dec := json.NewDecoder(bytes.NewReader(body))
			dec.UseNumber()
			var obj map[string]any
			if err := dec.Decode(&obj); err != nil {
				return nil, &apiError{Code: http.StatusBadRequest, Message: fmt.Sprintf("malformed JSON string: %v", err)}
			}
			for k, v := range obj {
				params[k] = v
			}
		default:
			form, err := url.ParseQuery(string(body))
			if err != nil {
				return nil, &apiError{Code: http.StatusBadRequest, Message: fmt.Sprintf("unable to parse form: %v", err)}
			}
			mergeValues(params, form)
		}
	} else if r.ContentLength > 0 {
		return nil, &apiError{Code: http.StatusNotImplemented, Message: fmt.Sprintf("Unexpected content for method '%s'", r.Method)}
	}
	mergeValues(params, r.URL.Query())
	delete(params, "_dc")
	return params, nil
}

func mergeValues(dst map[string]any, vals url.Values) {
	for k, vs := range vals {
		if len(vs) == 1 {
			dst[k] = vs[0]
			continue
		}
		arr := make([]any, len(vs))
		for i, v := range vs {
			arr[i] = v
		}
		dst[k] = arr
	}
}

// normalise turns checked parameters into strings; booleans become 1 or 0.
func normalise(raw map[string]any) map[string]string {
	out := make(map[string]string, len(raw))
	for k, v := range raw {
		if v == nil {
			continue
		}
		s, _ := schema.Scalar(v)
		out[k] = s
	}
	return out
}
