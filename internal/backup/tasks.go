package backup

import (
	"context"
	"errors"
	"fmt"
	"time"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
	"templatemanager.dev/lxc-template-manager/internal/outcome"
	"templatemanager.dev/lxc-template-manager/internal/proxmox"
)

// taskPoll is how soon a task in flight is looked at again.
var taskPoll = 2 * time.Second

// pollTask reads the task in *operation. While it runs it returns a WaitError with reason and
// what; once it ended it clears *operation and returns done with the task's failure, if any. A
// task Proxmox no longer knows counts as done: what it did is read from Proxmox next.
func pollTask(ctx context.Context, px proxmox.Client, operation *string, reason, what string) (bool, error) {
	upid := proxmox.UPID(*operation)
	ts, err := px.TaskStatus(ctx, upid)
	switch {
	case errors.Is(err, proxmox.ErrNotFound):
		*operation = ""
		return true, nil
	case err != nil:
		return false, err
	case ts.Running:
		return false, outcome.Wait(taskPoll, reason, "%s (task %s)", what, upid)
	}
	*operation = ""
	if ts.Err() != nil {
		return true, outcome.Failed(lxcv1.TaskFailedReason, fmt.Errorf("%s: task %s: %s", what, ts.Type, ts.ExitStatus))
	}
	return true, nil
}
