package testkit

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// recorder is a testing.TB that records failures instead of failing, to test the helpers'
// verdicts.
type recorder struct {
	testing.TB
	mu     sync.Mutex
	errors []string
	fatal  bool
}

func (r *recorder) Helper() {}
func (r *recorder) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errors = append(r.errors, fmt.Sprintf(format, args...))
}
func (r *recorder) Fatal(args ...any) {
	r.mu.Lock()
	r.errors = append(r.errors, fmt.Sprint(args...))
	r.fatal = true
	r.mu.Unlock()
	panic(r)
}
func (r *recorder) Fatalf(format string, args ...any) { r.Fatal(fmt.Sprintf(format, args...)) }

// run calls f with the recorder, stopping where f fails fatally.
func (r *recorder) run(f func()) {
	defer func() {
		if v := recover(); v != nil && v != r {
			panic(v)
		}
	}()
	f()
}

func TestListenHandsOverAnOpenListener(t *testing.T) {
	l := Listen(t)
	if _, err := net.Dial("tcp", l.Addr().String()); err != nil {
		t.Fatalf("dialing the listener: %v", err)
	}
}

func TestReservedPortsAreUniqueFreeAndOutsideTheEphemeralRange(t *testing.T) {
	lo, hi, err := reservableRange()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int]bool{}
	for range 50 {
		p := ReservePort(t)
		if seen[p] {
			t.Fatalf("port %d reserved twice", p)
		}
		seen[p] = true
		if p < lo || p > hi {
			t.Fatalf("port %d outside %d-%d", p, lo, hi)
		}
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err != nil {
			t.Fatalf("the reserved port %d cannot be bound: %v", p, err)
		}
		l.Close()
	}
	// The kernel's port-0 binds stay out of the reserved range.
	for range 200 {
		l := Listen(t)
		if p := l.Addr().(*net.TCPAddr).Port; p >= lo && p <= hi {
			t.Fatalf("the kernel gave out %d, inside the reserved range %d-%d", p, lo, hi)
		}
		l.Close()
	}
}

const holdPortEnv = "TESTKIT_HOLD_PORT"

// TestReservationsExcludeOtherProcesses holds a port in a child process and reserves many in
// this one: none may be the child's.
func TestReservationsExcludeOtherProcesses(t *testing.T) {
	if os.Getenv(holdPortEnv) != "" {
		port, _, err := ReserveProcessPort()
		if err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
		fmt.Println(port)
		time.Sleep(time.Minute) // killed by the parent
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestReservationsExcludeOtherProcesses$")
	cmd.Env = append(os.Environ(), holdPortEnv+"=1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	var line string
	if _, err := fmt.Fscanln(out, &line); err != nil {
		t.Fatal(err)
	}
	held, err := strconv.Atoi(line)
	if err != nil {
		t.Fatalf("child: %s", line)
	}
	lo, hi, _ := reservableRange()
	for range min(512, (hi-lo)/4) {
		port, release, err := ReserveProcessPort()
		if err != nil {
			t.Fatal(err)
		}
		defer release()
		if port == held {
			t.Fatalf("port %d reserved while another process holds it", port)
		}
	}
}

func TestReportedAddressReadsWhatTheProcessSays(t *testing.T) {
	var mu sync.Mutex
	text := "starting\n"
	go func() {
		time.Sleep(30 * time.Millisecond)
		mu.Lock()
		text += `level=INFO msg="Serving Proxmox VE API" url=https://127.0.0.1:40123/api2/json` + "\n"
		mu.Unlock()
	}()
	addr := ReportedAddress(t, 5*time.Second, regexp.MustCompile(`url=https://(\S+)/api2/json`), func() ([]byte, error) {
		mu.Lock()
		defer mu.Unlock()
		return []byte(text), nil
	})
	if addr != "127.0.0.1:40123" {
		t.Errorf("address %q", addr)
	}
}

func TestEventually(t *testing.T) {
	calls := 0
	Eventually(t, 5*time.Second, func() error {
		if calls++; calls < 3 {
			return errors.New("not yet")
		}
		return nil
	})
	if calls != 3 {
		t.Errorf("%d calls", calls)
	}

	r := &recorder{TB: t}
	r.run(func() { Eventually(r, 50*time.Millisecond, func() error { return errors.New("never") }) })
	if !r.fatal || len(r.errors) != 1 || r.errors[0] != "after 50ms: never" {
		t.Errorf("a check that never passes: %q", r.errors)
	}

	r = &recorder{TB: t}
	start, calls := time.Now(), 0
	r.run(func() {
		Eventually(r, time.Minute, func() error { calls++; return Permanent(errors.New("the process exited")) })
	})
	if calls != 1 || time.Since(start) > 5*time.Second || len(r.errors) != 1 || r.errors[0] != "the process exited" {
		t.Errorf("a permanent error: %d calls, %q", calls, r.errors)
	}
}

type fakeUPID string

type fakeTask struct {
	running bool
	exit    string
}

func (s fakeTask) Done() bool { return !s.running }
func (s fakeTask) Err() error {
	if s.running || s.exit == "OK" {
		return nil
	}
	return errors.New(s.exit)
}

// fakeTasks answers a task's status: an error first, then running, then stopped with exit.
type fakeTasks struct {
	reads int
	exit  string
}

func (f *fakeTasks) TaskStatus(_ context.Context, upid fakeUPID) (fakeTask, error) {
	f.reads++
	switch {
	case f.reads == 1:
		return fakeTask{}, errors.New("connection reset")
	case f.reads < 4:
		return fakeTask{running: true}, nil
	}
	return fakeTask{exit: f.exit}, nil
}

func TestWaitTask(t *testing.T) {
	ok := &fakeTasks{exit: "OK"}
	if st := WaitTaskOK(t, context.Background(), ok, "UPID:ok"); st.exit != "OK" || ok.reads != 4 {
		t.Errorf("status %+v after %d reads", st, ok.reads)
	}
	failed := &fakeTasks{exit: "command 'lxc-start' failed"}
	if st := WaitTask(t, context.Background(), failed, "UPID:failed"); st.exit != failed.exit {
		t.Errorf("status %+v", st)
	}

	r := &recorder{TB: t}
	r.run(func() { WaitTaskOK(r, context.Background(), &fakeTasks{exit: "no space left"}, "UPID:x") })
	if len(r.errors) != 1 || !strings.Contains(r.errors[0], "no space left") {
		t.Errorf("a failed task: %q", r.errors)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := AwaitTask(ctx, stuck{}, "UPID:stuck"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("a task that never stops: %v", err)
	}
}

type stuck struct{}

func (stuck) TaskStatus(context.Context, fakeUPID) (fakeTask, error) {
	return fakeTask{running: true}, nil
}

func TestCheckCondition(t *testing.T) {
	conds := []metav1.Condition{
		{Type: "Ready", Status: metav1.ConditionFalse, Reason: "VMIDConflict", Message: "VMID 150 belongs to a foreign container"},
		{Type: "Stalled", Status: metav1.ConditionTrue, Reason: "VMIDConflict"},
	}
	for _, tc := range []struct {
		typ    string
		status metav1.ConditionStatus
		reason string
		want   string
	}{
		{"Ready", metav1.ConditionFalse, "VMIDConflict", ""},
		{"Ready", metav1.ConditionFalse, "", ""},
		{"Ready", metav1.ConditionTrue, "", "Ready is False/VMIDConflict (VMID 150 belongs to a foreign container), want True/"},
		{"Stalled", metav1.ConditionTrue, "Unreachable", "Stalled is True/VMIDConflict (), want True/Unreachable"},
		{"Reconciling", metav1.ConditionTrue, "", "no Reconciling condition (conditions: [Ready=False Stalled=True])"},
	} {
		err := CheckCondition(conds, tc.typ, tc.status, tc.reason)
		if got := fmt.Sprint(err); (tc.want == "" && err != nil) || (tc.want != "" && got != tc.want) {
			t.Errorf("%s %s %s: %v, want %q", tc.typ, tc.status, tc.reason, err, tc.want)
		}
	}
}

func TestAssertNoSecrets(t *testing.T) {
	r := &recorder{TB: t}
	AssertNoSecrets(r, map[string]string{"status JSON": `{"phase":"Ready"}`, "log": "Created container"},
		map[string]string{"root password": "hunter22hunter22"})
	if len(r.errors) != 0 {
		t.Errorf("clean forms: %q", r.errors)
	}
	r = &recorder{TB: t}
	AssertNoSecrets(r, map[string]string{"status JSON": `{"message":"password hunter22hunter22"}`, "log": ""},
		map[string]string{"root password": "hunter22hunter22", "token": ""})
	want := []string{
		"secret scan: log is empty, so the scan of it proves nothing",
		"the root password appears in status JSON",
		"secret scan: the token to look for is empty",
	}
	if fmt.Sprint(r.errors) != fmt.Sprint(want) {
		t.Errorf("errors %q, want %q", r.errors, want)
	}
	// A value JSON escapes is found in JSON too.
	r = &recorder{TB: t}
	AssertNoSecrets(r, map[string]string{"status JSON": `{"message":"x\u003cy\"z"}`}, map[string]string{"token": `x<y"z`})
	if len(r.errors) != 1 || r.errors[0] != "the token appears in status JSON" {
		t.Errorf("an escaped value: %q", r.errors)
	}
}

func TestTranscriptKeepsWhatCameSinceTheMark(t *testing.T) {
	tr := Transcript{Max: 1000}
	fmt.Fprintln(&tr, "before")
	mark := tr.Mark()
	fmt.Fprintln(&tr, "during")
	if got := tr.Since(mark); got != "during\n" {
		t.Errorf("since the mark: %q", got)
	}
	big := strings.Repeat("x", 400)
	for range 3 {
		fmt.Fprint(&tr, big)
	}
	if got := tr.Since(0); len(got) > 1000 || !strings.HasSuffix(got, big) {
		t.Errorf("after more than the maximum: %d bytes kept", len(got))
	}
}
