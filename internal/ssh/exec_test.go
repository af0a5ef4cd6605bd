package ssh

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestExecCollectsOutputAndExitCode(t *testing.T) {
	_, c := connect(t)
	ctx := testContext(t)
	res, err := c.Exec(ctx, Command{Line: "echo out; echo err >&2; exit 3"})
	if err != nil {
		t.Fatalf("a non-zero exit is a result, not an error: %v", err)
	}
	if string(res.Stdout) != "out\n" || string(res.Stderr) != "err\n" || res.ExitCode != 3 || res.Truncated {
		t.Fatalf("result = %+v", res)
	}
	res, err = c.Exec(ctx, Command{Line: "true"})
	if err != nil || res.ExitCode != 0 {
		t.Fatalf("true: %+v, %v", res, err)
	}
}

func TestExecFeedsStdin(t *testing.T) {
	_, c := connect(t)
	input := "s3cret 'value'\nline two\n"
	res, err := c.Exec(testContext(t), Command{Line: "sha256sum", Stdin: strings.NewReader(input)})
	if err != nil || res.ExitCode != 0 {
		t.Fatalf("exec: %+v, %v", res, err)
	}
	sum := sha256.Sum256([]byte(input))
	if want := hex.EncodeToString(sum[:]) + "  -\n"; string(res.Stdout) != want {
		t.Fatalf("stdout = %q, want %q", res.Stdout, want)
	}
}

func TestExecTimeoutStopsCommand(t *testing.T) {
	_, c := connect(t)
	ctx := testContext(t)
	start := time.Now()
	_, err := c.Exec(ctx, Command{Line: "echo started; sleep 30", Timeout: 500 * time.Millisecond})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want DeadlineExceeded", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("exec returned after %v with a 500ms timeout", took)
	}
	if !strings.Contains(err.Error(), `"echo"`) {
		t.Errorf("error %q does not name the command", err)
	}
	// The connection stays usable after a timeout.
	res, err := c.Exec(ctx, Command{Line: "echo still here"})
	if err != nil || string(res.Stdout) != "still here\n" {
		t.Fatalf("exec after timeout: %+v, %v", res, err)
	}
}

func TestExecReportsSignal(t *testing.T) {
	_, c := connect(t)
	res, err := c.Exec(testContext(t), Command{Line: "kill -TERM $$"})
	if err != nil {
		t.Fatal(err)
	}
	if res.ExitCode != 143 && res.Signal == "" {
		t.Fatalf("killed command: %+v", res)
	}
}

func TestExecAfterConnectionLossIsAnError(t *testing.T) {
	s, c := connect(t)
	s.Stop()
	if _, err := c.Exec(testContext(t), Command{Line: "true"}); err == nil {
		t.Fatal("exec over a closed connection succeeded")
	}
}

func TestExecStreamDeliversLines(t *testing.T) {
	_, c := connect(t)
	var mu sync.Mutex
	var stdout, stderr []string
	var firstAt, lastAt time.Time
	res, err := c.ExecStream(testContext(t), Command{Line: "for i in 1 2 3; do echo line $i; echo warn $i >&2; sleep 0.3; done; printf tail"},
		func(l Line) {
			mu.Lock()
			defer mu.Unlock()
			if firstAt.IsZero() {
				firstAt = time.Now()
			}
			lastAt = time.Now()
			if l.Stream == Stdout {
				stdout = append(stdout, l.Text)
			} else {
				stderr = append(stderr, l.Text)
			}
		})
	if err != nil || res.ExitCode != 0 {
		t.Fatalf("stream: %+v, %v", res, err)
	}
	if want := []string{"line 1", "line 2", "line 3", "tail"}; !slices.Equal(stdout, want) {
		t.Errorf("stdout lines = %q, want %q", stdout, want)
	}
	if want := []string{"warn 1", "warn 2", "warn 3"}; !slices.Equal(stderr, want) {
		t.Errorf("stderr lines = %q, want %q", stderr, want)
	}
	// 0.9 s of sleeps lie between the first line and the last: streamed lines arrive apart.
	if lastAt.Sub(firstAt) < 600*time.Millisecond {
		t.Errorf("first and last line arrived %v apart: output was not streamed", lastAt.Sub(firstAt))
	}
}
