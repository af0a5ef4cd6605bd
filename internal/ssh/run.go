package ssh

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/pkg/sftp"
)

// Where detached runs live inside the container. Each run has its own directory,
// RunsDir/<id>/, holding:
//
//	script       the program to run (0700)
//	env          its environment as shell assignments (0600)
//	run.sh       the wrapper systemd starts (0700)
//	started-at   RFC 3339 UTC time the wrapper started the script
//	output.log   the script's stdout and stderr
//	finished-at  RFC 3339 UTC time the script ended
//	exit-code    the script's exit code; its presence means the run finished
const (
	RunsDir = "/var/lib/config-manager/runs"
	// RunUnitPrefix starts the name of every run's transient systemd unit: lxctm-run-<id>.service.
	RunUnitPrefix = "lxctm-run-"
	// DefaultTailLines is how many output lines StartRun reports.
	DefaultTailLines = 20
	// TimeoutExitCode is the exit code of a run stopped by its Timeout.
	TimeoutExitCode = 124
)

// RunID names a detached run: 1 to 63 lower-case letters, digits and inner hyphens, so it is
// safe in a path, a systemd unit name and a command line without quoting.
type RunID string

var runIDRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

// ParseRunID checks s and returns it as a RunID.
func ParseRunID(s string) (RunID, error) {
	id := RunID(s)
	return id, id.Validate()
}

// Validate checks the format of id.
func (id RunID) Validate() error {
	if !runIDRE.MatchString(string(id)) {
		return fmt.Errorf("run id %q is not 1-63 lower-case letters, digits and inner hyphens", string(id))
	}
	return nil
}

// Unit is the name of the run's systemd unit.
func (id RunID) Unit() string { return RunUnitPrefix + string(id) + ".service" }

// Dir is the run's directory in the container.
func (id RunID) Dir() string { return path.Join(RunsDir, string(id)) }

// MakeRunID builds a valid RunID from arbitrary parts, e.g. a script name and a content hash:
// lower-cased, other characters turned into hyphens, joined with hyphens. Overlong results keep
// their start and end with a hash of the whole, so distinct inputs stay distinct.
func MakeRunID(parts ...string) RunID {
	var b strings.Builder
	for _, p := range parts {
		for _, r := range strings.ToLower(p) {
			if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
				b.WriteRune(r)
			} else {
				b.WriteByte('-')
			}
		}
		b.WriteByte('-')
	}
	s := collapseHyphens(b.String())
	if s == "" {
		s = "run"
	}
	if len(s) > 63 {
		sum := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
		s = collapseHyphens(s[:54]) + "-" + hex.EncodeToString(sum[:])[:8]
	}
	return RunID(s)
}

func collapseHyphens(s string) string {
	for strings.Contains(s, "--") {
		s = strings.ReplaceAll(s, "--", "-")
	}
	return strings.Trim(s, "-")
}

// RunSpec is a detached run to start.
type RunSpec struct {
	ID RunID
	// Script is the program; a "#!" line picks its interpreter, otherwise /bin/sh runs it.
	Script []byte
	// Env is its environment, written to a private file in the container.
	Env map[string]string
	// Timeout stops the script after this long (exit code TimeoutExitCode); zero means no limit.
	Timeout time.Duration
}

// RunState is what is known of a run.
type RunState string

const (
	// RunUnknown: no record of the run, or it stopped without recording an exit code (the
	// container restarted under it). Starting it again is safe.
	RunUnknown RunState = "Unknown"
	// RunRunning: its systemd unit is active.
	RunRunning RunState = "Running"
	// RunFinished: it recorded an exit code.
	RunFinished RunState = "Finished"
)

// RunStatus is a run as read back from the container.
type RunStatus struct {
	ID    RunID
	State RunState
	// ExitCode is valid when State is RunFinished.
	ExitCode   int
	StartedAt  time.Time // zero until the wrapper recorded it
	FinishedAt time.Time // zero until finished
	// OutputTail is the last lines of the run's output.
	OutputTail string
	// Detail explains an Unknown state.
	Detail string
}

var envKeyRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// renderEnv writes env as POSIX shell assignments, single-quoted so any value survives
// (newlines included); the wrapper sources it with allexport. Keys are sorted.
func renderEnv(env map[string]string) ([]byte, error) {
	keys := make([]string, 0, len(env))
	for k := range env {
		if !envKeyRE.MatchString(k) {
			return nil, fmt.Errorf("environment variable name %q is not a shell name", k)
		}
		if strings.ContainsRune(env[k], 0) {
			return nil, fmt.Errorf("environment variable %s contains a NUL byte", k)
		}
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		b.WriteString(k + "=" + ShellQuote(env[k]) + "\n")
	}
	return []byte(b.String()), nil
}

// renderWrapper is the script systemd runs for a run. It records the start, runs the script with
// its environment (in a child shell, so the environment cannot disturb the bookkeeping), and
// records the end; exit-code is written last and atomically because it marks the run finished.
func renderWrapper(dir string, timeout time.Duration) []byte {
	// The environment is loaded by the shell that then becomes the script, and its file removed
	// as soon as it is loaded: the Secret values in it stay in the guest no longer than the run.
	run := `/bin/sh -c 'if [ -f "$1/env" ]; then set -a; . "$1/env"; set +a; rm -f "$1/env"; fi; exec "$1/script"' lxctm-run "$dir"`
	if timeout > 0 {
		secs := int64((timeout + time.Second - 1) / time.Second)
		run = "timeout -k 30 " + strconv.FormatInt(secs, 10) + " " + run
	}
	return []byte(`#!/bin/sh
# Detached run of lxc-template-manager: runs ./script once and records its outcome.
dir=` + ShellQuote(dir) + `
# A finished run never runs again under its ID, even when a second start raced the first
# past its end; RemoveRun clears the way.
[ -e "$dir/exit-code" ] && exit 0
rm -f "$dir/finished-at"
date -u +%Y-%m-%dT%H:%M:%SZ > "$dir/started-at"
HOME=${HOME:-/root}
export HOME
cd "$HOME" 2>/dev/null || cd /
` + run + ` </dev/null >"$dir/output.log" 2>&1
code=$?
rm -f "$dir/env"
date -u +%Y-%m-%dT%H:%M:%SZ > "$dir/finished-at"
echo "$code" > "$dir/exit-code.tmp"
mv -f "$dir/exit-code.tmp" "$dir/exit-code"
`)
}

// StartRun starts spec as a detached run: it uploads the script, its environment and a wrapper
// into the run's directory and starts the wrapper as the transient systemd unit id.Unit(), which
// outlives this connection. A run with the same ID that is running or finished is not started
// again; its status is returned instead. A run in state Unknown is started afresh.
func (c *Client) StartRun(ctx context.Context, spec RunSpec) (status RunStatus, err error) {
	start := time.Now()
	defer func() { c.dialer.observe(OpStartRun, start, err) }()
	if err := spec.ID.Validate(); err != nil {
		return RunStatus{}, fmt.Errorf("start run: %w", err)
	}
	env, err := renderEnv(spec.Env)
	if err != nil {
		return RunStatus{}, fmt.Errorf("start run %s: %w", spec.ID, err)
	}
	status, err = c.inspectRun(ctx, spec.ID, DefaultTailLines)
	if err != nil {
		return RunStatus{}, fmt.Errorf("start run %s: %w", spec.ID, err)
	}
	if status.State != RunUnknown {
		return status, nil
	}

	dir := spec.ID.Dir()
	files := []File{
		{Path: dir + "/script", Content: spec.Script, Mode: 0o700},
		{Path: dir + "/env", Content: env, Mode: 0o600},
		{Path: dir + "/run.sh", Content: renderWrapper(dir, spec.Timeout), Mode: 0o700},
	}
	for _, f := range files {
		if err := c.Upload(ctx, f); err != nil {
			return RunStatus{}, fmt.Errorf("start run %s: %w", spec.ID, err)
		}
	}
	// Only the validated ID reaches the command line. systemd refuses a second unit of the same
	// name, which makes concurrent starts of one ID start it once.
	line := "systemd-run --quiet --collect --service-type=exec" +
		" --unit=" + spec.ID.Unit() +
		" --description=" + ShellQuote("lxc-template-manager run "+string(spec.ID)) +
		" /bin/sh " + dir + "/run.sh"
	res, err := c.Exec(ctx, Command{Line: line})
	if err != nil {
		return RunStatus{}, fmt.Errorf("start run %s: %w", spec.ID, err)
	}
	status, inspectErr := c.inspectRun(ctx, spec.ID, DefaultTailLines)
	if res.ExitCode != 0 {
		if inspectErr == nil && status.State != RunUnknown {
			// Another start of the same ID won the race.
			return status, nil
		}
		return RunStatus{}, fmt.Errorf("start run %s: systemd-run exited with %d: %s", spec.ID, res.ExitCode, firstLine(res.Stderr))
	}
	if inspectErr != nil {
		return RunStatus{}, fmt.Errorf("start run %s: %w", spec.ID, inspectErr)
	}
	if status.State == RunUnknown {
		// A run that ends before this read and fails to record its end (the wrapper itself
		// broke) is the only way here.
		return status, fmt.Errorf("start run %s: started but neither running nor finished", spec.ID)
	}
	return status, nil
}

// InspectRun reads back the run id with the last tailLines lines of its output.
func (c *Client) InspectRun(ctx context.Context, id RunID, tailLines int) (status RunStatus, err error) {
	start := time.Now()
	defer func() { c.dialer.observe(OpInspectRun, start, err) }()
	if err := id.Validate(); err != nil {
		return RunStatus{}, fmt.Errorf("inspect run: %w", err)
	}
	status, err = c.inspectRun(ctx, id, tailLines)
	if err != nil {
		return RunStatus{}, fmt.Errorf("inspect run %s: %w", id, err)
	}
	return status, nil
}

func (c *Client) inspectRun(ctx context.Context, id RunID, tailLines int) (RunStatus, error) {
	status := RunStatus{ID: id, State: RunUnknown}
	record, err := c.readRunRecord(ctx, id, tailLines)
	if err != nil {
		return status, err
	}
	if !record.finished {
		active, err := c.unitActive(ctx, id)
		if err != nil {
			return status, err
		}
		if active {
			status.State = RunRunning
			status.StartedAt, status.OutputTail = record.startedAt, record.tail
			return status, nil
		}
		// The run may have ended between the two reads.
		if record, err = c.readRunRecord(ctx, id, tailLines); err != nil {
			return status, err
		}
	}
	status.StartedAt, status.FinishedAt, status.OutputTail = record.startedAt, record.finishedAt, record.tail
	switch {
	case record.finished:
		status.State, status.ExitCode = RunFinished, record.exitCode
	case !record.exists:
		status.Detail = "no such run"
	default:
		status.Detail = "the run is not active and recorded no exit code"
	}
	return status, nil
}

// runRecord is what a run's directory says.
type runRecord struct {
	exists                bool
	finished              bool
	exitCode              int
	startedAt, finishedAt time.Time
	tail                  string
}

func (c *Client) readRunRecord(ctx context.Context, id RunID, tailLines int) (runRecord, error) {
	var rec runRecord
	dir := id.Dir()
	ctx, cancel := c.operationContext(ctx)
	defer cancel()
	err := c.withSFTP(ctx, func(sc *sftp.Client) error {
		if _, err := sc.Stat(dir); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		rec.exists = true
		code, err := readSmallFile(sc, dir+"/exit-code")
		if err != nil {
			return err
		}
		if code != "" {
			n, err := strconv.Atoi(code)
			if err != nil {
				return fmt.Errorf("exit-code holds %q", code)
			}
			rec.finished, rec.exitCode = true, n
		}
		if rec.startedAt, err = readTime(sc, dir+"/started-at"); err != nil {
			return err
		}
		if rec.finished {
			if rec.finishedAt, err = readTime(sc, dir+"/finished-at"); err != nil {
				return err
			}
		}
		if tailLines > 0 {
			rec.tail, err = readTail(sc, dir+"/output.log", tailLines)
		}
		return err
	})
	return rec, err
}

// readSmallFile returns a bookkeeping file's trimmed content, or "" when it is absent.
func readSmallFile(sc *sftp.Client, p string) (string, error) {
	data, err := readFile(sc, p, 4096)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read %s: %w", path.Base(p), err)
	}
	return strings.TrimSpace(string(data)), nil
}

func readTime(sc *sftp.Client, p string) (time.Time, error) {
	s, err := readSmallFile(sc, p)
	if err != nil || s == "" {
		return time.Time{}, err
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%s holds %q", path.Base(p), s)
	}
	return t, nil
}

func readTail(sc *sftp.Client, p string, n int) (string, error) {
	f, err := sc.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("open output: %w", err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return "", fmt.Errorf("stat output: %w", err)
	}
	return tailLines(f, info.Size(), n)
}

// unitActive asks systemd whether the run's unit is active (or starting or stopping).
func (c *Client) unitActive(ctx context.Context, id RunID) (bool, error) {
	res, err := c.Exec(ctx, Command{Line: "systemctl show --property=ActiveState --value " + id.Unit()})
	if err != nil {
		return false, err
	}
	if res.ExitCode != 0 {
		return false, fmt.Errorf("systemctl show exited with %d: %s", res.ExitCode, firstLine(res.Stderr))
	}
	switch strings.TrimSpace(string(res.Stdout)) {
	case "active", "activating", "deactivating", "reloading", "refreshing":
		return true, nil
	}
	return false, nil
}

// ErrRunActive is returned by RemoveRun for a run that is still running.
var ErrRunActive = errors.New("run is still running")

// RemoveRun deletes the directory of a run that is not running, so its ID can be started again.
// Removing a run that does not exist is not an error.
func (c *Client) RemoveRun(ctx context.Context, id RunID) (err error) {
	start := time.Now()
	defer func() { c.dialer.observe(OpRemoveRun, start, err) }()
	if err := id.Validate(); err != nil {
		return fmt.Errorf("remove run: %w", err)
	}
	active, err := c.unitActive(ctx, id)
	if err != nil {
		return fmt.Errorf("remove run %s: %w", id, err)
	}
	if active {
		return fmt.Errorf("remove run %s: %w", id, ErrRunActive)
	}
	ctx, cancel := c.operationContext(ctx)
	defer cancel()
	err = c.withSFTP(ctx, func(sc *sftp.Client) error {
		err := sc.RemoveAll(id.Dir())
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("remove run %s: %w", id, err)
	}
	return nil
}
