package pvesim_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	proxmox "github.com/luthermonson/go-proxmox"

	"templatemanager.dev/lxc-template-manager/internal/pvesim/pvesimtest"
	"templatemanager.dev/lxc-template-manager/internal/testkit"
)

func init() {
	// Task.WaitFor polls at this interval; the simulator's tasks take milliseconds.
	proxmox.DefaultWaitInterval = 20 * time.Millisecond
}

func newClient(sim *pvesimtest.Simulator) *proxmox.Client {
	return proxmox.NewClient(sim.URL, proxmox.WithAPIToken(sim.TokenID, sim.Secret), proxmox.WithHTTPClient(sim.HTTPClient()))
}

func testContext(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// waitOK waits for a task and fails the test unless it ended with exit status OK.
func waitOK(t *testing.T, ctx context.Context, task *proxmox.Task, err error, what string) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if task == nil {
		t.Fatalf("%s: no task", what)
	}
	if err := task.Wait(ctx, 20*time.Millisecond, 5*time.Minute); err != nil {
		t.Fatalf("%s: wait: %v", what, err)
	}
	if task.ExitStatus != "OK" {
		t.Fatalf("%s: task %s ended with %q", what, task.UPID, task.ExitStatus)
	}
}

// rawResponse is an answer read without go-proxmox, status line included.
type rawResponse struct {
	Code   int
	Status string // the reason phrase
	Body   map[string]json.RawMessage
	Raw    []byte
}

func (r rawResponse) errors(t *testing.T) map[string]string {
	t.Helper()
	var errs map[string]string
	if err := json.Unmarshal(r.Body["errors"], &errs); err != nil {
		t.Fatalf("errors of %d %s: %v (%s)", r.Code, r.Status, err, r.Raw)
	}
	return errs
}

func (r rawResponse) data(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body["data"], v); err != nil {
		t.Fatalf("data of %d %s: %v (%s)", r.Code, r.Status, err, r.Raw)
	}
}

// call sends a request with the simulator's token; body is sent as JSON unless it is a string
// (then as a form).
func call(t *testing.T, sim *pvesimtest.Simulator, method, path string, body any) rawResponse {
	t.Helper()
	return callWith(t, sim, method, path, body, func(h http.Header) { h.Set("Authorization", sim.Token()) })
}

func callWith(t *testing.T, sim *pvesimtest.Simulator, method, path string, body any, auth func(http.Header)) rawResponse {
	t.Helper()
	var rd io.Reader
	ct := ""
	switch b := body.(type) {
	case nil:
	case string:
		rd, ct = strings.NewReader(b), "application/x-www-form-urlencoded"
	default:
		data, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd, ct = bytes.NewReader(data), "application/json"
	}
	req, err := http.NewRequest(method, sim.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	if auth != nil {
		auth(req.Header)
	}
	res, err := sim.HTTPClient().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("%s %s: read: %v", method, path, err)
	}
	out := rawResponse{Code: res.StatusCode, Status: strings.TrimPrefix(res.Status, res.Status[:4]), Raw: raw}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &out.Body); err != nil {
			t.Fatalf("%s %s: body is not a JSON object: %v (%q)", method, path, err, raw)
		}
	}
	return out
}

// upid returns the UPID an asynchronous call answered with.
func (r rawResponse) upid(t *testing.T) string {
	t.Helper()
	var upid string
	if r.Code != http.StatusOK {
		t.Fatalf("%d %s %s", r.Code, r.Status, r.Raw)
	}
	r.data(t, &upid)
	if !strings.HasPrefix(upid, "UPID:") {
		t.Fatalf("not a UPID: %s", r.Raw)
	}
	return upid
}

// taskStatus reads a task's status.
func taskStatus(t *testing.T, sim *pvesimtest.Simulator, node, upid string) (status, exit string) {
	t.Helper()
	var s struct {
		Status     string `json:"status"`
		ExitStatus string `json:"exitstatus"`
	}
	call(t, sim, "GET", "/nodes/"+node+"/tasks/"+upid+"/status", nil).data(t, &s)
	return s.Status, s.ExitStatus
}

// waitTask waits for the task an asynchronous call started and checks its exit status.
func waitTask(t *testing.T, sim *pvesimtest.Simulator, node string, res rawResponse, want string) string {
	t.Helper()
	upid := res.upid(t)
	if st := testkit.WaitTask(t, testContext(t, time.Minute), rawTasks{t, sim, node}, upid); st.exit != want {
		t.Fatalf("task %s ended with %q, want %q", upid, st.exit, want)
	}
	return upid
}

// rawTasks reads the status of a node's tasks with call, for testkit.WaitTask.
type rawTasks struct {
	t    *testing.T
	sim  *pvesimtest.Simulator
	node string
}

func (r rawTasks) TaskStatus(_ context.Context, upid string) (rawTask, error) {
	status, exit := taskStatus(r.t, r.sim, r.node, upid)
	return rawTask{status: status, exit: exit}, nil
}

// rawTask is a task's status and exit status as the API answers them.
type rawTask struct{ status, exit string }

func (s rawTask) Done() bool { return s.status == "stopped" }

func (s rawTask) Err() error {
	if !s.Done() || s.exit == "OK" {
		return nil
	}
	return errors.New(s.exit)
}

func itoa(i int) string { return strconv.Itoa(i) }

// nodeOf is a go-proxmox node of the simulator.
func nodeOf(t *testing.T, sim *pvesimtest.Simulator, name string) *proxmox.Node {
	t.Helper()
	node, err := newClient(sim).Node(testContext(t, time.Minute), name)
	if err != nil {
		t.Fatalf("node %s: %v", name, err)
	}
	return node
}
