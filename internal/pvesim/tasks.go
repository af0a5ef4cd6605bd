package pvesim

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// taskRecord is a task as PVE keeps it: the UPID's fields, the state and the log.
type taskRecord struct {
	UPID       string   `json:"upid"`
	Node       string   `json:"node"`
	PID        uint32   `json:"pid"`
	PStart     uint32   `json:"pstart"`
	StartTime  int64    `json:"starttime"`
	Type       string   `json:"type"`
	ID         string   `json:"id"`
	User       string   `json:"user"`
	Status     string   `json:"status"` // running or stopped
	ExitStatus string   `json:"exitstatus,omitempty"`
	EndTime    int64    `json:"endtime,omitempty"`
	Log        []string `json:"log"`
}

type task struct {
	rec    *taskRecord
	cancel context.CancelFunc
	done   chan struct{}
	// deadline is the earliest end the configured duration allows.
	deadline time.Time
	tm       *taskManager
	// warnings counts the WARN lines logged; guarded by tm.mu.
	warnings int
}

// taskManager runs tasks in goroutines and answers for them as pvedaemon's workers would.
type taskManager struct {
	s       *Server
	mu      sync.Mutex
	tasks   map[string]*task
	order   []*task // by start
	wg      sync.WaitGroup
	nextPID uint32
	pstart  uint32
}

// maxTasks bounds the history kept per simulator; older finished tasks are forgotten.
const maxTasks = 2000

func newTaskManager(s *Server) *taskManager {
	return &taskManager{
		s:       s,
		tasks:   map[string]*task{},
		nextPID: 0x1000 + rand.Uint32N(0x8000),
		pstart:  0x1000000 + rand.Uint32N(0x1000000),
	}
}

func (tm *taskManager) load() error {
	recs, err := tm.s.store.loadTasks()
	if err != nil {
		return err
	}
	slices.SortFunc(recs, func(a, b *taskRecord) int {
		if a.StartTime != b.StartTime {
			return int(a.StartTime - b.StartTime)
		}
		return strings.Compare(a.UPID, b.UPID)
	})
	for _, rec := range recs {
		if rec.Status != "stopped" {
			// Its worker died with the previous simulator, without a final log line.
			rec.Status, rec.ExitStatus, rec.EndTime = "stopped", "unexpected status", rec.StartTime
			_ = tm.s.store.saveTask(rec)
		}
		done := make(chan struct{})
		close(done)
		t := &task{rec: rec, done: done, cancel: func() {}, tm: tm}
		tm.tasks[rec.UPID] = t
		tm.order = append(tm.order, t)
		tm.nextPID = max(tm.nextPID, rec.PID+1)
	}
	return nil
}

// upid encodes a UPID exactly as PVE::UPID does, trailing colon included.
func upid(node string, pid, pstart uint32, start int64, typ, id, user string) string {
	return fmt.Sprintf("UPID:%s:%08X:%08X:%08X:%s:%s:%s:", node, pid, pstart, start, typ, id, user)
}

var upidRE = regexp.MustCompile(`^UPID:([a-zA-Z0-9]([a-zA-Z0-9\-]*[a-zA-Z0-9])?):([0-9A-Fa-f]{8}):([0-9A-Fa-f]{8,9}):([0-9A-Fa-f]{8}):([^:\s/]+):([^:\s/]*):([^:\s/]+):$`)

// work is a task body; its error becomes the task's exit status.
type work func(ctx context.Context, t *task) error

// start runs w as a task of type typ for object id and returns the UPID at once.
func (tm *taskManager) start(node, typ, id, user string, w work) string {
	now := time.Now()
	tm.mu.Lock()
	pid := tm.nextPID
	tm.nextPID++
	rec := &taskRecord{
		UPID: upid(node, pid, tm.pstart, now.Unix(), typ, id, user), Node: node, PID: pid, PStart: tm.pstart,
		StartTime: now.Unix(), Type: typ, ID: id, User: user, Status: "running",
	}
	ctx, cancel := context.WithCancel(context.Background())
	t := &task{rec: rec, cancel: cancel, done: make(chan struct{}), deadline: now.Add(tm.s.opts.Tasks.of(typ)), tm: tm}
	tm.tasks[rec.UPID] = t
	tm.order = append(tm.order, t)
	tm.pruneLocked()
	tm.wg.Add(1)
	_ = tm.s.store.saveTask(rec)
	tm.mu.Unlock()

	tm.s.metrics.taskStarted(typ)
	tm.s.log.Debug("Task started", "upid", rec.UPID)
	go func() {
		defer tm.wg.Done()
		defer close(t.done)
		defer cancel()
		err := t.run(ctx, w)
		t.finish(err)
	}()
	return rec.UPID
}

func (t *task) run(ctx context.Context, w work) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("internal error: %v", p)
		}
	}()
	if err := w(ctx, t); err != nil {
		return err
	}
	if msg, ok := t.tm.s.faults.taskWarning(t.rec.Type); ok {
		t.warn("%s", msg)
	}
	return t.pad(ctx)
}

// warn logs a warning, as PVE's log_warn does: the task still succeeds, and its exit status
// counts the warnings.
func (t *task) warn(format string, a ...any) {
	t.logf("WARN: "+format, a...)
	t.tm.mu.Lock()
	t.warnings++
	t.tm.mu.Unlock()
}

// pad waits until the task has taken its configured duration.
func (t *task) pad(ctx context.Context) error {
	d := time.Until(t.deadline)
	if d <= 0 {
		return nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return nil
	case <-ctx.Done():
		return errInterrupted
	}
}

var errInterrupted = errors.New("received interrupt")

// logf appends a line to the task log.
func (t *task) logf(format string, a ...any) {
	line := fmt.Sprintf(format, a...)
	t.tm.mu.Lock()
	t.rec.Log = append(t.rec.Log, strings.Split(strings.TrimRight(line, "\n"), "\n")...)
	t.tm.mu.Unlock()
}

// fault returns the failure the fault injector wants this task to have, if any.
func (t *task) fault() error {
	if msg, ok := t.tm.s.faults.taskFailure(t.rec.Type); ok {
		return errors.New(msg)
	}
	return nil
}

func (t *task) finish(err error) {
	tm := t.tm
	tm.mu.Lock()
	rec := t.rec
	rec.Status = "stopped"
	rec.EndTime = time.Now().Unix()
	if errors.Is(err, context.Canceled) {
		err = errInterrupted
	}
	if err != nil {
		msg := strings.TrimSpace(err.Error())
		if i := strings.LastIndexByte(msg, '\n'); i >= 0 {
			// The exit status is read from the last log line.
			rec.Log = append(rec.Log, strings.Split(msg[:i], "\n")...)
			msg = strings.TrimSpace(msg[i+1:])
		}
		rec.ExitStatus = msg
		rec.Log = append(rec.Log, "TASK ERROR: "+msg)
	} else if t.warnings > 0 {
		rec.ExitStatus = fmt.Sprintf("WARNINGS: %d", t.warnings)
		rec.Log = append(rec.Log, "TASK "+rec.ExitStatus)
	} else {
		rec.ExitStatus = "OK"
		rec.Log = append(rec.Log, "TASK OK")
	}
	_ = tm.s.store.saveTask(rec)
	tm.mu.Unlock()
	tm.s.metrics.taskFinished(rec.Type, err == nil)
	tm.s.log.Debug("Task finished", "upid", rec.UPID, "exitstatus", rec.ExitStatus)
}

func (tm *taskManager) pruneLocked() {
	for len(tm.order) > maxTasks {
		i := slices.IndexFunc(tm.order, func(t *task) bool { return t.rec.Status == "stopped" })
		if i < 0 {
			return
		}
		old := tm.order[i]
		tm.order = slices.Delete(tm.order, i, i+1)
		delete(tm.tasks, old.rec.UPID)
		tm.s.store.removeTask(old.rec.UPID)
	}
}

// get returns a copy of a task's record.
func (tm *taskManager) get(upid string) (*taskRecord, bool) {
	tm.mu.Lock()
	defer tm.mu.Unlock()
	t, ok := tm.tasks[upid]
	if !ok {
		return nil, false
	}
	rec := *t.rec
	rec.Log = slices.Clone(t.rec.Log)
	return &rec, true
}

// waitDone waits up to d for a task to finish and returns its record if it did.
func (tm *taskManager) waitDone(upid string, d time.Duration) (*taskRecord, bool) {
	tm.mu.Lock()
	t, ok := tm.tasks[upid]
	tm.mu.Unlock()
	if !ok {
		return nil, false
	}
	select {
	case <-t.done:
		return tm.get(upid)
	case <-time.After(d):
		return nil, false
	}
}

func (tm *taskManager) stop(upid string) bool {
	tm.mu.Lock()
	t, ok := tm.tasks[upid]
	tm.mu.Unlock()
	if ok {
		t.cancel()
	}
	return ok
}

// list returns copies of the records, newest first.
func (tm *taskManager) list(keep func(*taskRecord) bool) []*taskRecord {
	tm.mu.Lock()
	defer tm.mu.Unlock()
	var out []*taskRecord
	for i := len(tm.order) - 1; i >= 0; i-- {
		rec := *tm.order[i].rec
		rec.Log = nil
		if keep(&rec) {
			out = append(out, &rec)
		}
	}
	return out
}

func (tm *taskManager) wait(ctx context.Context) error {
	done := make(chan struct{})
	go func() { tm.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (tm *taskManager) cancelAll() {
	tm.mu.Lock()
	defer tm.mu.Unlock()
	for _, t := range tm.tasks {
		t.cancel()
	}
}

// Task handlers.

func (s *Server) taskFromParams(r *request) (*taskRecord, error) {
	if !s.hasNode(r.params["node"]) {
		return nil, errNoNode(r.params["node"])
	}
	id := r.params["upid"]
	if !upidRE.MatchString(id) {
		return nil, paramErrorf("upid", "unable to parse worker upid '%s'", id)
	}
	rec, ok := s.tasks.get(id)
	if !ok {
		return nil, paramErrorf("upid", "no such task")
	}
	return rec, nil
}

func (s *Server) taskStatus(r *request) (any, error) {
	rec, err := s.taskFromParams(r)
	if err != nil {
		return nil, err
	}
	user, token := taskUser(rec.User)
	st := map[string]any{
		"upid": rec.UPID, "node": rec.Node, "pid": rec.PID, "pstart": rec.PStart, "starttime": rec.StartTime,
		"type": rec.Type, "id": rec.ID, "user": user, "status": rec.Status,
	}
	if token != "" {
		st["tokenid"] = token
	}
	if rec.Status == "stopped" {
		st["exitstatus"] = rec.ExitStatus
	}
	return st, nil
}

func (s *Server) taskLog(r *request) (any, error) {
	rec, err := s.taskFromParams(r)
	if err != nil {
		return nil, err
	}
	start, limit := 0, 50
	if v, err := strconv.Atoi(r.params["start"]); err == nil {
		start = v
	}
	if v, err := strconv.Atoi(r.params["limit"]); err == nil {
		limit = v
	}
	lines := []map[string]any{}
	for i := start; i < len(rec.Log) && i < start+limit; i++ {
		lines = append(lines, map[string]any{"n": i + 1, "t": rec.Log[i]})
	}
	return envelope{Data: lines, Total: len(rec.Log)}, nil
}

func (s *Server) stopTask(r *request) (any, error) {
	rec, err := s.taskFromParams(r)
	if err != nil {
		return nil, err
	}
	s.tasks.stop(rec.UPID)
	return nil, nil
}

func (s *Server) taskIndex(r *request) (any, error) {
	if _, err := s.taskFromParams(r); err != nil {
		return nil, err
	}
	return []map[string]string{{"subdir": "log"}, {"subdir": "status"}}, nil
}

// taskEntry is one task of a task list.
func taskEntry(rec *taskRecord) map[string]any {
	e := map[string]any{
		"upid": rec.UPID, "node": rec.Node, "pid": rec.PID, "pstart": rec.PStart, "starttime": rec.StartTime,
		"type": rec.Type, "id": rec.ID, "user": rec.User,
	}
	if rec.Status == "stopped" {
		e["endtime"] = rec.EndTime
		e["status"] = rec.ExitStatus
	}
	return e
}

func (s *Server) listTasks(r *request) (any, error) {
	node := r.params["node"]
	if !s.hasNode(node) {
		return nil, errNoNode(node)
	}
	source := r.params["source"]
	if source == "" {
		source = "archive"
	}
	since, _ := strconv.ParseInt(r.params["since"], 10, 64)
	until, _ := strconv.ParseInt(r.params["until"], 10, 64)
	statusFilter := map[string]bool{}
	for _, st := range strings.FieldsFunc(strings.ToLower(r.params["statusfilter"]), func(c rune) bool { return c == ',' || c == ';' || c == ' ' }) {
		statusFilter[st] = true
	}
	recs := s.tasks.list(func(t *taskRecord) bool {
		switch {
		case t.Node != node:
		case source == "archive" && t.Status != "stopped":
		case source == "active" && t.Status == "stopped":
		case r.has("vmid") && t.ID != r.params["vmid"]:
		case r.params["typefilter"] != "" && t.Type != r.params["typefilter"]:
		case r.params["userfilter"] != "" && !strings.Contains(t.User, r.params["userfilter"]):
		case r.bool("errors") && (t.Status != "stopped" || t.ExitStatus == "OK"):
		case since > 0 && t.StartTime < since:
		case until > 0 && t.StartTime > until:
		case len(statusFilter) > 0 && !statusFilter[taskStatusClass(t)]:
		default:
			return true
		}
		return false
	})
	start, limit := 0, 50
	if v, err := strconv.Atoi(r.params["start"]); err == nil {
		start = v
	}
	if v, err := strconv.Atoi(r.params["limit"]); err == nil {
		limit = v
	}
	out := []map[string]any{}
	for i := start; i < len(recs) && len(out) < limit; i++ {
		out = append(out, taskEntry(recs[i]))
	}
	return envelope{Data: out, Total: len(recs)}, nil
}

func taskStatusClass(t *taskRecord) string {
	switch {
	case t.Status != "stopped":
		return "unknown"
	case t.ExitStatus == "OK":
		return "ok"
	case strings.HasPrefix(t.ExitStatus, "WARNINGS"):
		return "warning"
	}
	return "error"
}

func (s *Server) clusterTasks(r *request) (any, error) {
	out := []map[string]any{}
	for _, rec := range s.tasks.list(func(*taskRecord) bool { return true }) {
		if len(out) >= 50 && rec.Status == "stopped" {
			continue
		}
		out = append(out, taskEntry(rec))
	}
	return out, nil
}
