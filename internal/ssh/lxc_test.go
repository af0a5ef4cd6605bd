package ssh_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"

	"templatemanager.dev/lxc-template-manager/internal/pvesim/lxc/lxctest"
	"templatemanager.dev/lxc-template-manager/internal/ssh"
)

// These tests run against a real LXC container booted by pvesim's lxc backend: Debian with
// systemd and OpenSSH, as the controller meets it. They need root and the lxc packages.

func lxcContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func quickDialer() *ssh.Dialer {
	return &ssh.Dialer{Retry: ssh.Backoff{Attempts: 6, Initial: 500 * time.Millisecond, Factor: 2}}
}

func dialCT(t *testing.T, ct *lxctest.CT, pin string) *ssh.Client {
	t.Helper()
	c, err := quickDialer().Dial(lxcContext(t), ssh.Target{Address: ct.SSHAddr(), Signer: ct.Signer, HostKey: pin})
	if err != nil {
		t.Fatalf("dial container: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// countRetries returns a context whose logger counts Dial's retries.
func countRetries(ctx context.Context) (context.Context, func() int) {
	var mu sync.Mutex
	n := 0
	log := funcr.New(func(_, args string) {
		if strings.Contains(args, "Retrying SSH dial") {
			mu.Lock()
			n++
			mu.Unlock()
		}
	}, funcr.Options{Verbosity: 1})
	return logr.NewContext(ctx, log), func() int { mu.Lock(); defer mu.Unlock(); return n }
}

func TestContainerDialRetriesWhileSSHDStarts(t *testing.T) {
	t.Parallel()
	ct := lxctest.Container(t)
	ct.StopSSH(t)
	started := ct.StartSSHAfter(3 * time.Second)
	ctx, retries := countRetries(lxcContext(t))
	begin := time.Now()
	c, err := quickDialer().Dial(ctx, ssh.Target{Address: ct.SSHAddr(), Signer: ct.Signer})
	if err := <-started; err != nil {
		t.Fatal(err)
	}
	if err != nil {
		t.Fatalf("dial while sshd starts: %v", err)
	}
	defer c.Close()
	if retries() < 2 {
		t.Errorf("dial retried %d times; sshd was down for 3 s, so at least 2 retries (0.5 s, 1 s) were due", retries())
	}
	if time.Since(begin) < 2500*time.Millisecond {
		t.Errorf("connected after %v, before sshd started", time.Since(begin))
	}
	if want := ssh.Fingerprint(ct.HostKey(t)); c.HostKey() != want {
		t.Errorf("first contact recorded %s, the container's ed25519 key is %s", c.HostKey(), want)
	}
	res, err := c.Exec(ctx, ssh.Command{Line: "hostname; id -un"})
	if err != nil || string(res.Stdout) != ct.Spec.Hostname+"\nroot\n" {
		t.Fatalf("exec: %q, %v", res.Stdout, err)
	}
}

func TestContainerChangedHostKeyRefused(t *testing.T) {
	t.Parallel()
	ct := lxctest.Container(t)
	first := dialCT(t, ct, "")
	pin := first.HostKey()
	first.Close()
	dialCT(t, ct, pin).Close() // the pinned key is accepted

	ct.RegenerateHostKeys(t)
	ctx, retries := countRetries(lxcContext(t))
	_, err := quickDialer().Dial(ctx, ssh.Target{Address: ct.SSHAddr(), Signer: ct.Signer, HostKey: pin})
	var mismatch *ssh.HostKeyMismatchError
	if !errors.As(err, &mismatch) || !errors.Is(err, ssh.ErrHostKeyMismatch) {
		t.Fatalf("dial after the host key changed: %v, want a host key mismatch", err)
	}
	if mismatch.Expected != pin || mismatch.Seen != ssh.Fingerprint(ct.HostKey(t)) {
		t.Errorf("mismatch expected %s seen %s; pinned %s, now %s", mismatch.Expected, mismatch.Seen, pin, ssh.Fingerprint(ct.HostKey(t)))
	}
	var dialErr *ssh.DialError
	if !errors.As(err, &dialErr) || dialErr.Attempts != 1 || retries() != 0 {
		t.Errorf("a changed host key was retried: %v", err)
	}

	wrongKey := lxctest.NewSigner(t)
	_, err = quickDialer().Dial(lxcContext(t), ssh.Target{Address: ct.SSHAddr(), Signer: wrongKey})
	if !errors.Is(err, ssh.ErrAuthentication) || !errors.As(err, &dialErr) || dialErr.Attempts != 1 {
		t.Errorf("dial with a key the container does not know: %v, want one attempt and ErrAuthentication", err)
	}
}

func TestContainerUploadHonoursModeAndOwner(t *testing.T) {
	t.Parallel()
	ct := lxctest.Container(t)
	c := dialCT(t, ct, "")
	ctx := lxcContext(t)
	ct.Exec(t, "useradd", "--system", "--uid", "990", "--user-group", "appsvc")

	files := []struct {
		file ssh.File
		want string // stat -c '%a %U:%G'
	}{
		{ssh.File{Path: "/etc/config-manager/config.env", Content: []byte("DB_PASSWORD='x y'\n"), Mode: 0o600}, "600 root:root"},
		{ssh.File{Path: "/srv/app/conf/app.yml", Content: []byte("listen: 8080\n"), Mode: 0o640, Owner: "appsvc:appsvc"}, "640 appsvc:appsvc"},
		{ssh.File{Path: "/srv/app/bin/tool", Content: []byte("#!/bin/sh\necho tool ran\n"), Mode: 0o2750, Owner: "root:appsvc"}, "2750 root:appsvc"},
		{ssh.File{Path: "/srv/numeric/data", Content: []byte{0, 1, 2, 255}, Mode: 0o604, Owner: "990:990"}, "604 appsvc:appsvc"},
	}
	for _, f := range files {
		if err := c.Upload(ctx, f.file); err != nil {
			t.Fatalf("upload %s: %v", f.file.Path, err)
		}
		if got := strings.TrimSpace(ct.Exec(t, "stat", "-c", "%a %U:%G", f.file.Path)); got != f.want {
			t.Errorf("%s: %s, want %s", f.file.Path, got, f.want)
		}
		back, err := c.ReadFile(ctx, f.file.Path)
		if err != nil || string(back) != string(f.file.Content) {
			t.Errorf("%s reads back %q, %v", f.file.Path, back, err)
		}
	}
	if out := ct.Exec(t, "/srv/app/bin/tool"); out != "tool ran\n" {
		t.Errorf("uploaded tool printed %q", out)
	}
	// A replaced file is a new inode (renamed into place), and no temporary is left.
	before := ct.Exec(t, "stat", "-c", "%i", "/srv/app/conf/app.yml")
	if err := c.Upload(ctx, ssh.File{Path: "/srv/app/conf/app.yml", Content: []byte("listen: 9090\n"), Mode: 0o640, Owner: "appsvc:appsvc"}); err != nil {
		t.Fatal(err)
	}
	if after := ct.Exec(t, "stat", "-c", "%i", "/srv/app/conf/app.yml"); after == before {
		t.Errorf("file was rewritten in place (inode %s)", after)
	}
	if got := ct.Exec(t, "cat", "/srv/app/conf/app.yml"); got != "listen: 9090\n" {
		t.Errorf("replaced content %q", got)
	}
	if got := ct.Exec(t, "ls", "-A", "/srv/app/conf"); got != "app.yml\n" {
		t.Errorf("directory holds %q", got)
	}
}

// runScript appends to a counter on every start, so double starts show.
const runScript = `#!/bin/sh
echo start >> /root/run-starts
echo "greeting=$GREETING"
echo "multi=$MULTI"
sleep 4
echo "after the session ended"
echo "to stderr" >&2
exit 3
`

func waitForRun(t *testing.T, s ssh.Session, id ssh.RunID) ssh.RunStatus {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		st, err := s.InspectRun(lxcContext(t), id, 10)
		if err != nil {
			t.Fatalf("inspect run: %v", err)
		}
		if st.State != ssh.RunRunning {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("run %s still running after a minute", id)
		}
		time.Sleep(300 * time.Millisecond)
	}
}

func TestContainerDetachedRunSurvivesSession(t *testing.T) {
	t.Parallel()
	ct := lxctest.Container(t)
	ctx := lxcContext(t)
	id := ssh.MakeRunID("script", "setup", "3f2a9c1b")
	spec := ssh.RunSpec{ID: id, Script: []byte(runScript), Env: map[string]string{"GREETING": "it's here", "MULTI": "a b"}}

	first := dialCT(t, ct, "")
	pin := first.HostKey()
	st, err := first.StartRun(ctx, spec)
	if err != nil {
		t.Fatalf("start run: %v", err)
	}
	if st.State != ssh.RunRunning {
		t.Fatalf("state after start = %s (%s), want Running", st.State, st.Detail)
	}
	// The controller's connection ends right away; the run goes on.
	first.Close()

	second := dialCT(t, ct, pin)
	again, err := second.StartRun(ctx, spec)
	if err != nil || again.State != ssh.RunRunning {
		t.Fatalf("second start while running: %+v, %v", again, err)
	}
	if err := second.RemoveRun(ctx, id); !errors.Is(err, ssh.ErrRunActive) {
		t.Errorf("remove while running: %v, want ErrRunActive", err)
	}
	second.Close()

	third := dialCT(t, ct, pin)
	done := waitForRun(t, third, id)
	if done.State != ssh.RunFinished || done.ExitCode != 3 {
		t.Fatalf("run ended as %+v, want Finished with exit code 3", done)
	}
	wantTail := "greeting=it's here\nmulti=a b\nafter the session ended\nto stderr"
	if done.OutputTail != wantTail {
		t.Errorf("output tail = %q, want %q", done.OutputTail, wantTail)
	}
	if done.StartedAt.IsZero() || done.FinishedAt.Sub(done.StartedAt) < 3*time.Second {
		t.Errorf("started %v, finished %v: the 4 s script's times are not recorded", done.StartedAt, done.FinishedAt)
	}
	if starts := ct.Exec(t, "cat", "/root/run-starts"); starts != "start\n" {
		t.Errorf("script started %d times, want once", strings.Count(starts, "start"))
	}
	// The environment reached the container as a private file, not on a command line, and the
	// file is gone once the run loaded it.
	if out := ct.Exec(t, "sh", "-c", "test -e "+id.Dir()+"/env && echo present || echo gone"); strings.TrimSpace(out) != "gone" {
		t.Errorf("the run's env file is %s after the run", strings.TrimSpace(out))
	}
	if out := ct.Exec(t, "systemctl", "show", "--property=LoadState", "--value", id.Unit()); strings.TrimSpace(out) != "not-found" {
		t.Errorf("finished unit still loaded: %s", out)
	}

	// A finished run is reported, not run again.
	st, err = third.StartRun(ctx, spec)
	if err != nil || st.State != ssh.RunFinished || st.ExitCode != 3 {
		t.Fatalf("start of a finished run: %+v, %v", st, err)
	}
	if starts := ct.Exec(t, "cat", "/root/run-starts"); starts != "start\n" {
		t.Errorf("a finished run was started again")
	}
	// Removed, it is unknown, and may run again.
	if err := third.RemoveRun(ctx, id); err != nil {
		t.Fatal(err)
	}
	if st, err := third.InspectRun(ctx, id, 5); err != nil || st.State != ssh.RunUnknown {
		t.Fatalf("removed run: %+v, %v", st, err)
	}
	quick := ssh.RunSpec{ID: id, Script: []byte("echo start >> /root/run-starts\necho rerun\n")}
	if _, err := third.StartRun(ctx, quick); err != nil {
		t.Fatal(err)
	}
	if st := waitForRun(t, third, id); st.State != ssh.RunFinished || st.ExitCode != 0 || st.OutputTail != "rerun" {
		t.Fatalf("rerun ended as %+v", st)
	}
}

func TestContainerRunTimeoutAndLostRun(t *testing.T) {
	t.Parallel()
	ct := lxctest.Container(t)
	c := dialCT(t, ct, "")
	ctx := lxcContext(t)

	timed := ssh.RunSpec{ID: "timed", Script: []byte("echo waiting\nsleep 60\n"), Timeout: 2 * time.Second}
	if _, err := c.StartRun(ctx, timed); err != nil {
		t.Fatal(err)
	}
	st := waitForRun(t, c, timed.ID)
	if st.State != ssh.RunFinished || st.ExitCode != ssh.TimeoutExitCode || st.OutputTail != "waiting" {
		t.Fatalf("timed out run: %+v", st)
	}
	if d := st.FinishedAt.Sub(st.StartedAt); d > 10*time.Second {
		t.Errorf("timed out run took %v", d)
	}

	// A run whose unit dies without recording an exit code (as after a container restart) is
	// Unknown, and starting it again runs it.
	lost := ssh.RunSpec{ID: "lost", Script: []byte("echo attempt >> /root/lost-attempts\nsleep 60\n")}
	if st, err := c.StartRun(ctx, lost); err != nil || st.State != ssh.RunRunning {
		t.Fatalf("start: %+v, %v", st, err)
	}
	ct.Exec(t, "systemctl", "kill", "--signal=KILL", lost.ID.Unit())
	deadline := time.Now().Add(30 * time.Second)
	for {
		st, err := c.InspectRun(ctx, lost.ID, 5)
		if err != nil {
			t.Fatal(err)
		}
		if st.State == ssh.RunUnknown {
			if st.Detail == "" || st.StartedAt.IsZero() {
				t.Errorf("lost run: %+v, want a detail and its start time", st)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("killed run still %s", st.State)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if st, err := c.StartRun(ctx, lost); err != nil || st.State != ssh.RunRunning {
		t.Fatalf("restart of a lost run: %+v, %v", st, err)
	}
	if got := ct.Exec(t, "cat", "/root/lost-attempts"); got != "attempt\nattempt\n" {
		t.Errorf("attempts = %q, want two", got)
	}
	ct.Exec(t, "systemctl", "stop", lost.ID.Unit())
}

func TestContainerExecStream(t *testing.T) {
	t.Parallel()
	ct := lxctest.Container(t)
	c := dialCT(t, ct, "")
	var lines []string
	res, err := c.ExecStream(lxcContext(t), ssh.Command{Line: "for i in 1 2 3; do echo $i; done; ls /nonexistent"}, func(l ssh.Line) {
		lines = append(lines, fmt.Sprintf("%s:%s", l.Stream, l.Text))
	})
	if err != nil || res.ExitCode != 2 {
		t.Fatalf("stream: %+v, %v", res, err)
	}
	// Each stream keeps its order; how the two interleave is up to the scheduler.
	var stdout, stderr []string
	for _, l := range lines {
		if rest, ok := strings.CutPrefix(l, "stdout:"); ok {
			stdout = append(stdout, rest)
		} else {
			stderr = append(stderr, l)
		}
	}
	if !slices.Equal(stdout, []string{"1", "2", "3"}) || len(stderr) != 1 || !strings.HasPrefix(stderr[0], "stderr:ls: cannot access") {
		t.Fatalf("lines = %q", lines)
	}
}

func TestContainerConcurrentStartsRunOnce(t *testing.T) {
	t.Parallel()
	ct := lxctest.Container(t)
	pin := dialCT(t, ct, "").HostKey()
	ctx := lxcContext(t)
	// Short scripts make the race tight: a late start may come after the first run ended.
	for round, sleep := range []string{"1", "0"} {
		id := ssh.RunID(fmt.Sprintf("race-%d", round))
		spec := ssh.RunSpec{ID: id, Script: []byte("echo start >> /root/" + string(id) + "\nsleep " + sleep + "\n")}
		sessions := make([]*ssh.Client, 4)
		for i := range sessions {
			sessions[i] = dialCT(t, ct, pin)
		}
		var wg sync.WaitGroup
		errs := make(chan error, len(sessions))
		for _, s := range sessions {
			wg.Add(1)
			go func() {
				defer wg.Done()
				st, err := s.StartRun(ctx, spec)
				if err == nil && st.State == ssh.RunUnknown {
					err = fmt.Errorf("start returned Unknown: %s", st.Detail)
				}
				errs <- err
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Errorf("round %d: %v", round, err)
			}
		}
		if st := waitForRun(t, sessions[0], id); st.State != ssh.RunFinished || st.ExitCode != 0 {
			t.Fatalf("round %d: run ended as %+v", round, st)
		}
		if got := ct.Exec(t, "cat", "/root/"+string(id)); got != "start\n" {
			t.Errorf("round %d: four concurrent starts ran the script %d times", round, strings.Count(got, "start"))
		}
		// A start that checked before the run ended but reaches systemd after it: the wrapper
		// runs again and must leave the finished run alone.
		ct.Exec(t, "systemd-run", "--wait", "--quiet", "--unit="+id.Unit(), "/bin/sh", id.Dir()+"/run.sh")
		if got := ct.Exec(t, "cat", "/root/"+string(id)); got != "start\n" {
			t.Errorf("round %d: a late start ran the finished script again", round)
		}
	}
}
