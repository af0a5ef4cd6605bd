package controller

import (
	"context"
	"fmt"
	"strings"

	"templatemanager.dev/lxc-template-manager/internal/ssh"
)

// execOK runs a command and turns a non-zero exit into an error carrying its stderr.
func execOK(ctx context.Context, sess ssh.Session, line string) error {
	res, err := sess.Exec(ctx, ssh.Command{Line: line})
	if err != nil {
		return err
	}
	if res.ExitCode != 0 {
		return fmt.Errorf("%q exited %d: %s", line, res.ExitCode, tail(string(res.Stderr), 3))
	}
	return nil
}

func ownerUser(owner string) string {
	u, _, _ := strings.Cut(owner, ":")
	return u
}

func ownerGroup(owner string) string {
	u, g, ok := strings.Cut(owner, ":")
	if !ok {
		return u
	}
	return g
}

// tail keeps the last n non-empty lines of text.
func tail(text string, n int) string {
	lines := strings.Split(strings.TrimRight(text, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
