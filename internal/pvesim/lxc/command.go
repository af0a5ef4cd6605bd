package lxc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"
)

// run executes a host command and returns its standard output. The error carries the command
// name and its standard error, never its standard input (which may hold a password).
func run(ctx context.Context, stdin io.Reader, name string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdin = stdin
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			msg = strings.TrimSpace(stdout.String())
		}
		if msg != "" {
			return stdout.Bytes(), fmt.Errorf("%s: %w: %s", name, err, lastLines(msg, 5))
		}
		return stdout.Bytes(), fmt.Errorf("%s: %w", name, err)
	}
	return stdout.Bytes(), nil
}

// exitCode reports the exit status of a failed command, or -1.
func exitCode(err error) int {
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return exit.ExitCode()
	}
	return -1
}

func lastLines(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// lxcTool runs lxc-<tool> against the backend's own lxcpath, so containers of several
// simulators on one host never see each other.
func (b *Backend) lxcTool(ctx context.Context, stdin io.Reader, tool string, vmid int, args ...string) ([]byte, error) {
	full := append([]string{"-P", b.lxcPath, "-n", ctName(vmid)}, args...)
	return run(ctx, stdin, "lxc-"+tool, full...)
}

// attach runs a command inside the running container with a clean environment.
func (b *Backend) attach(ctx context.Context, vmid int, stdin io.Reader, command ...string) ([]byte, error) {
	args := append([]string{"--clear-env", "--set-var", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "--"}, command...)
	return b.lxcTool(ctx, stdin, "attach", vmid, args...)
}
