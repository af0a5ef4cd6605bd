package pvesim

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Fault kinds.
const (
	FaultError   = "error"   // answer with an HTTP error instead of serving the request
	FaultLatency = "latency" // delay the answer
	FaultLock    = "lock"    // hold the container's config lock, so the request meets contention
	FaultDrop    = "drop"    // close the connection without an answer
	FaultTask    = "task"    // let a task fail
	// FaultWarn lets a task do its work and end with a warning, as Proxmox VE tasks often do
	// (exit status "WARNINGS: n", which PVE counts as success).
	FaultWarn = "warn"
	// FaultApply lets applying a pending option at a container's start fail (Option selects
	// it; "" or "*" for any). As pve-container's vmconfig_apply_pending (src/PVE/LXC/Config.pm)
	// does when applying an entry dies — a new mpN volume the storage cannot allocate, an IPAM
	// without a free address for a netN — the entry stays in [pve:pending], the start warns
	// "unable to apply pending change OPT : MSG" and goes on with the rest.
	FaultApply = "apply"
)

// FaultRule injects one kind of fault into matching requests or tasks.
type FaultRule struct {
	ID   int    `json:"id,omitempty"`
	Kind string `json:"kind"`
	// Endpoint selects requests: "METHOD /pattern" (e.g. "POST /nodes/{node}/lxc"), "/pattern"
	// for any method, or "" / "*" for every API request. Not used by task faults.
	Endpoint string `json:"endpoint,omitempty"`
	// Task selects task faults by task type (vzcreate, vzstart, …); "" or "*" for all.
	Task string `json:"task,omitempty"`
	// Option selects apply faults by pending option (mp0, net1, …); "" or "*" for all.
	Option string `json:"option,omitempty"`
	// Rate is the probability that a matching request is hit; 0 means always.
	Rate float64 `json:"rate,omitempty"`
	// Count stops the rule after that many hits; 0 means no limit.
	Count int `json:"count,omitempty"`
	// Delay is the added latency, or how long a lock fault holds the lock.
	Delay Duration `json:"delay,omitempty"`
	// Status and Message shape an error fault (default 500 Internal Server Error) or the
	// exit status of a failed task.
	Status  int    `json:"status,omitempty"`
	Message string `json:"message,omitempty"`
	// Hits counts how often the rule fired.
	Hits int `json:"hits"`
}

// Duration is a time.Duration written as "150ms" in JSON.
type Duration time.Duration

func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		var n int64
		if err := json.Unmarshal(b, &n); err != nil {
			return fmt.Errorf("duration: %s", b)
		}
		*d = Duration(time.Duration(n) * time.Millisecond)
		return nil
	}
	v, err := time.ParseDuration(s)
	*d = Duration(v)
	return err
}

func (f *FaultRule) validate() error {
	switch f.Kind {
	case FaultError, FaultLatency, FaultLock, FaultDrop:
		if f.Task != "" {
			return fmt.Errorf("%s fault takes an endpoint, not a task", f.Kind)
		}
	case FaultTask, FaultWarn:
		if f.Endpoint != "" {
			return fmt.Errorf("%s fault takes a task type, not an endpoint", f.Kind)
		}
	case FaultApply:
		if f.Endpoint != "" || f.Task != "" {
			return fmt.Errorf("%s fault takes a pending option, not an endpoint or a task type", f.Kind)
		}
	default:
		return fmt.Errorf("unknown fault kind %q (want error, latency, lock, drop, task or warn)", f.Kind)
	}
	if f.Rate < 0 || f.Rate > 1 {
		return fmt.Errorf("rate %v is not between 0 and 1", f.Rate)
	}
	if f.Kind == FaultLatency && f.Delay <= 0 {
		return fmt.Errorf("latency fault needs a delay")
	}
	if f.Status != 0 && (f.Status < 400 || f.Status > 599) {
		return fmt.Errorf("status %d is not an error status", f.Status)
	}
	return nil
}

// ParseFaultRule reads the command-line form KIND[,key=value…], e.g.
// "error,endpoint=POST /nodes/{node}/lxc,rate=0.1,status=503" or "task,task=vzcreate,count=1".
func ParseFaultRule(s string) (FaultRule, error) {
	parts := strings.Split(s, ",")
	f := FaultRule{Kind: strings.TrimSpace(parts[0])}
	for _, p := range parts[1:] {
		k, v, ok := strings.Cut(p, "=")
		if !ok {
			return f, fmt.Errorf("fault %q: %q is not key=value", s, p)
		}
		var err error
		switch strings.TrimSpace(k) {
		case "endpoint":
			f.Endpoint = strings.TrimSpace(v)
		case "task":
			f.Task = strings.TrimSpace(v)
		case "option":
			f.Option = strings.TrimSpace(v)
		case "rate":
			f.Rate, err = strconv.ParseFloat(v, 64)
		case "count":
			f.Count, err = strconv.Atoi(v)
		case "delay":
			var d time.Duration
			d, err = time.ParseDuration(v)
			f.Delay = Duration(d)
		case "status":
			f.Status, err = strconv.Atoi(v)
		case "message":
			f.Message = v
		default:
			err = fmt.Errorf("unknown key %q", k)
		}
		if err != nil {
			return f, fmt.Errorf("fault %q: %w", s, err)
		}
	}
	return f, f.validate()
}

type faultInjector struct {
	mu     sync.Mutex
	rules  []*FaultRule
	nextID int
	hits   map[string]int // by kind
}

func newFaultInjector(rules []FaultRule) *faultInjector {
	fi := &faultInjector{hits: map[string]int{}}
	for _, r := range rules {
		_, _ = fi.add(r)
	}
	return fi
}

func (fi *faultInjector) add(r FaultRule) (FaultRule, error) {
	if err := r.validate(); err != nil {
		return r, err
	}
	fi.mu.Lock()
	defer fi.mu.Unlock()
	fi.nextID++
	r.ID, r.Hits = fi.nextID, 0
	fi.rules = append(fi.rules, &r)
	return r, nil
}

func (fi *faultInjector) remove(id int) bool {
	fi.mu.Lock()
	defer fi.mu.Unlock()
	for i, r := range fi.rules {
		if r.ID == id {
			fi.rules = append(fi.rules[:i], fi.rules[i+1:]...)
			return true
		}
	}
	return false
}

func (fi *faultInjector) clear() {
	fi.mu.Lock()
	defer fi.mu.Unlock()
	fi.rules = nil
}

func (fi *faultInjector) list() []FaultRule {
	fi.mu.Lock()
	defer fi.mu.Unlock()
	out := make([]FaultRule, len(fi.rules))
	for i, r := range fi.rules {
		out[i] = *r
	}
	return out
}

func (fi *faultInjector) injected() map[string]int {
	fi.mu.Lock()
	defer fi.mu.Unlock()
	out := make(map[string]int, len(fi.hits))
	for k, v := range fi.hits {
		out[k] = v
	}
	return out
}

func endpointMatches(sel, method, pattern string) bool {
	sel = strings.TrimSpace(sel)
	if sel == "" || sel == "*" {
		return true
	}
	if m, p, ok := strings.Cut(sel, " "); ok {
		return strings.EqualFold(m, method) && strings.TrimSpace(p) == pattern
	}
	return sel == pattern
}

// fire decides whether a rule hits now and counts it; the caller holds fi.mu.
func (fi *faultInjector) fireLocked(r *FaultRule) bool {
	if r.Count > 0 && r.Hits >= r.Count {
		return false
	}
	if r.Rate > 0 && r.Rate < 1 && rand.Float64() >= r.Rate {
		return false
	}
	r.Hits++
	fi.hits[r.Kind]++
	return true
}

// requestFault is what the injector decided for one request.
type requestFault struct {
	drop     bool
	err      *apiError
	lock     bool
	lockHold time.Duration
}

// before applies latency faults (by sleeping) and returns any other fault for the request.
func (fi *faultInjector) before(ctx context.Context, method, pattern string) *requestFault {
	var delay time.Duration
	var res *requestFault
	fi.mu.Lock()
	for _, r := range fi.rules {
		if r.Kind == FaultTask || r.Kind == FaultWarn || r.Kind == FaultApply || !endpointMatches(r.Endpoint, method, pattern) {
			continue
		}
		if (r.Kind != FaultLatency && res != nil) || !fi.fireLocked(r) {
			continue
		}
		switch r.Kind {
		case FaultLatency:
			delay += time.Duration(r.Delay)
		case FaultDrop:
			res = &requestFault{drop: true}
		case FaultError:
			code := r.Status
			if code == 0 {
				code = http.StatusInternalServerError
			}
			msg := r.Message
			if msg == "" {
				msg = http.StatusText(code)
			}
			res = &requestFault{err: &apiError{Code: code, Message: msg}}
		case FaultLock:
			res = &requestFault{lock: true, lockHold: time.Duration(r.Delay)}
		}
	}
	fi.mu.Unlock()
	if delay > 0 {
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
		}
	}
	return res
}

// taskFailure reports whether a task of type typ must fail, and with which exit status.
func (fi *faultInjector) taskFailure(typ string) (string, bool) {
	return fi.taskFault(FaultTask, typ, "injected task failure")
}

// taskWarning reports whether a task of type typ must end with a warning, and which.
func (fi *faultInjector) taskWarning(typ string) (string, bool) {
	return fi.taskFault(FaultWarn, typ, "injected warning")
}

func (fi *faultInjector) taskFault(kind, typ, fallback string) (string, bool) {
	fi.mu.Lock()
	defer fi.mu.Unlock()
	for _, r := range fi.rules {
		if r.Kind != kind || (r.Task != "" && r.Task != "*" && r.Task != typ) {
			continue
		}
		if fi.fireLocked(r) {
			if r.Message != "" {
				return r.Message, true
			}
			return fallback, true
		}
	}
	return "", false
}

// applyFailure reports whether applying pending option opt at a start must fail, and why.
func (fi *faultInjector) applyFailure(opt string) (string, bool) {
	fi.mu.Lock()
	defer fi.mu.Unlock()
	for _, r := range fi.rules {
		if r.Kind != FaultApply || (r.Option != "" && r.Option != "*" && r.Option != opt) {
			continue
		}
		if fi.fireLocked(r) {
			if r.Message != "" {
				return r.Message, true
			}
			return "injected failure", true
		}
	}
	return "", false
}

// InjectFault adds a fault rule and returns it with its id.
func (s *Server) InjectFault(r FaultRule) (FaultRule, error) { return s.faults.add(r) }

// RemoveFault removes one rule.
func (s *Server) RemoveFault(id int) bool { return s.faults.remove(id) }

// ClearFaults removes every fault rule.
func (s *Server) ClearFaults() { s.faults.clear() }

// Faults lists the rules with their hit counts.
func (s *Server) Faults() []FaultRule { return s.faults.list() }

// holdConfigLock takes a container's config lock for a while on behalf of nobody, so the
// request that follows meets the contention PVE shows when a backup or another task holds it.
// Without a delay the lock is held past the lock timeout, so the request fails.
func (s *Server) holdConfigLock(vmidText string, hold time.Duration) {
	vmid, err := strconv.Atoi(vmidText)
	if err != nil {
		return
	}
	s.mu.Lock()
	ct := s.containers[vmid]
	s.mu.Unlock()
	if ct == nil {
		return
	}
	if hold <= 0 {
		hold = s.opts.LockTimeout + s.opts.LockTimeout/2
	}
	select {
	case ct.flock <- struct{}{}:
	default:
		return // already contended
	}
	time.AfterFunc(hold, ct.unlock)
}
