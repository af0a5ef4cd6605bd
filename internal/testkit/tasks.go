package testkit

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// Task is a Proxmox task's status as internal/proxmox reports it (proxmox.TaskStatus).
type Task interface {
	// Done reports whether the task has stopped.
	Done() bool
	// Err is nil unless the task stopped and failed.
	Err() error
}

// TaskReader is what the task helpers need of a Proxmox client: the TaskStatus method of
// proxmox.Client, which every proxmox.Client has. It is spelt out here, rather than taking a
// proxmox.Client, so that internal/proxmox's own tests can use these helpers too.
type TaskReader[U ~string, S Task] interface {
	TaskStatus(ctx context.Context, upid U) (S, error)
}

// TaskTimeout is how long WaitTask waits when ctx has no deadline of its own.
const TaskTimeout = 2 * time.Minute

// AwaitTask reads the status of task upid through c until the task has stopped, and returns
// that status. A failed read is tried again; when ctx ends first, it returns ctx's error with
// the last failed read, if any. For cleanups, which must not fail the test; tests use WaitTask.
func AwaitTask[U ~string, S Task](ctx context.Context, c TaskReader[U, S], upid U) (S, error) {
	pause := 10 * time.Millisecond
	var last error
	for {
		st, err := c.TaskStatus(ctx, upid)
		if err == nil && st.Done() {
			return st, nil
		}
		if err != nil {
			last = err
		}
		select {
		case <-ctx.Done():
			var zero S
			if last != nil {
				return zero, fmt.Errorf("task %s: %w (last read: %v)", upid, ctx.Err(), last)
			}
			return zero, fmt.Errorf("task %s still running: %w", upid, ctx.Err())
		case <-time.After(pause):
		}
		pause = min(2*pause, 200*time.Millisecond)
	}
}

// WaitTask waits until task upid has stopped and returns its status, whether it succeeded or
// not. It fails the test when the task has not stopped before ctx ends (or, for a ctx without
// a deadline, within TaskTimeout).
func WaitTask[U ~string, S Task](t testing.TB, ctx context.Context, c TaskReader[U, S], upid U) S {
	t.Helper()
	if upid == "" {
		t.Fatal("testkit: no task to wait for (empty UPID)")
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, TaskTimeout)
		defer cancel()
	}
	st, err := AwaitTask(ctx, c, upid)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// WaitTaskOK is WaitTask for a task that must succeed: it fails the test when the task failed.
func WaitTaskOK[U ~string, S Task](t testing.TB, ctx context.Context, c TaskReader[U, S], upid U) S {
	t.Helper()
	st := WaitTask(t, ctx, c, upid)
	if err := st.Err(); err != nil {
		t.Fatalf("task %s failed: %v", upid, err)
	}
	return st
}
