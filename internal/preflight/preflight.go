// Package preflight checks that a host has what pvesim's lxc backend and the local stack need —
// programs, the LXC configuration files generated configs include, user namespaces, overlayfs,
// cgroups, nftables, subordinate ids, and the kernel limits that many systemd guests need — and
// names the Debian package or the kernel setting that is missing, so that a missing piece is
// reported before anything starts instead of surfacing later as a failed Proxmox task.
package preflight

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
)

// Check is one host prerequisite.
type Check struct {
	// Name is what is checked: a program, a file, a kernel feature or setting.
	Name string
	// Package is the Debian package that provides it, for programs and files.
	Package string
	// Optional checks only warn: the backend works without them, less well.
	Optional bool
	// run returns a problem description, or "".
	run func() string
}

// Result is the outcome of one check.
type Result struct {
	Check
	// Problem says what is wrong and how to fix it; empty when the check passed.
	Problem string
}

// OK reports whether the check passed.
func (r Result) OK() bool { return r.Problem == "" }

func (r Result) String() string {
	switch {
	case r.OK():
		return "  found   " + r.Name
	case r.Optional:
		return "  warning " + r.Name + ": " + r.Problem
	}
	return "  missing " + r.Name + ": " + r.Problem
}

// Run runs checks in order.
func Run(checks []Check) []Result {
	out := make([]Result, 0, len(checks))
	for _, c := range checks {
		out = append(out, Result{Check: c, Problem: c.run()})
	}
	return out
}

// Failed returns the results of required checks that did not pass.
func Failed(results []Result) []Result {
	var out []Result
	for _, r := range results {
		if !r.OK() && !r.Optional {
			out = append(out, r)
		}
	}
	return out
}

// Error joins failed required checks into one error, or returns nil.
func Error(results []Result) error {
	failed := Failed(results)
	if len(failed) == 0 {
		return nil
	}
	lines := make([]string, len(failed))
	for i, r := range failed {
		lines[i] = r.Name + ": " + r.Problem
	}
	return fmt.Errorf("the host lacks what the lxc backend needs:\n  %s", strings.Join(lines, "\n  "))
}

// Program is a program that must be on PATH, from a Debian package.
func Program(name, pkg string) Check {
	return Check{Name: name, Package: pkg, run: func() string {
		if _, err := exec.LookPath(name); err != nil {
			return fmt.Sprintf("not found on PATH (install the Debian package %s)", pkg)
		}
		return ""
	}}
}

// File is a file that must exist, from a Debian package.
func File(path, pkg string) Check {
	return Check{Name: path, Package: pkg, run: func() string {
		if _, err := os.Stat(path); err != nil {
			return fmt.Sprintf("does not exist (install the Debian package %s)", pkg)
		}
		return ""
	}}
}

// Sysctl is a kernel setting that must be at least min; the backend raises it itself where it
// runs as root (see Tune), as Proxmox VE hosts ship with raised limits.
func Sysctl(key string, min int64) Check {
	return Check{Name: key, run: func() string {
		v, err := readSysctl(key)
		if err != nil {
			return fmt.Sprintf("cannot be read: %v", err)
		}
		if v < min {
			return fmt.Sprintf("is %d, below %d (set it with: sysctl -w %s=%d)", v, min, key, min)
		}
		return ""
	}}
}

// Kernel is a kernel feature checked by fn.
func Kernel(name string, optional bool, fn func() string) Check {
	return Check{Name: name, Optional: optional, run: fn}
}

// sysctlPath maps a dotted key to its file under /proc/sys.
func sysctlPath(key string) string {
	return "/proc/sys/" + strings.ReplaceAll(key, ".", "/")
}

func readSysctl(key string) (int64, error) {
	data, err := os.ReadFile(sysctlPath(key))
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(strings.TrimSpace(string(data)), 10, 64)
}

// Limit is a kernel limit that many containers on one host need raised.
type Limit struct {
	Key string
	Min int64
}

// Tune raises each limit that is below its minimum (never lowers one) and returns what it
// changed. It needs root.
func Tune(limits []Limit) ([]string, error) {
	var changed []string
	for _, l := range limits {
		v, err := readSysctl(l.Key)
		if err != nil {
			return changed, err
		}
		if v >= l.Min {
			continue
		}
		if err := os.WriteFile(sysctlPath(l.Key), []byte(strconv.FormatInt(l.Min, 10)), 0o644); err != nil {
			return changed, fmt.Errorf("raise %s from %d to %d: %w", l.Key, v, l.Min, err)
		}
		changed = append(changed, fmt.Sprintf("%s=%d (was %d)", l.Key, l.Min, v))
	}
	return changed, nil
}
