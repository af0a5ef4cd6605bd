package preflight

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestAMissingProgramIsNamedWithItsPackage(t *testing.T) {
	dir := t.TempDir()
	present := filepath.Join(dir, "lxc-info")
	if err := os.WriteFile(present, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir)
	results := Run([]Check{Program("lxc-info", "lxc"), Program("lxc-start", "lxc"), File(filepath.Join(dir, "common.conf"), "lxc")})
	failed := Failed(results)
	if len(failed) != 2 || failed[0].Name != "lxc-start" {
		t.Fatalf("failed checks %+v, want lxc-start and the file", failed)
	}
	err := Error(results)
	if err == nil || !strings.Contains(err.Error(), "lxc-start: not found on PATH (install the Debian package lxc)") ||
		!strings.Contains(err.Error(), "common.conf: does not exist (install the Debian package lxc)") {
		t.Errorf("error %v does not name what is missing and its package", err)
	}
	if Error(results[:1]) != nil {
		t.Error("a passing check failed")
	}
}

func TestOptionalChecksOnlyWarn(t *testing.T) {
	results := Run([]Check{Kernel("overlayfs", true, func() string { return "no overlay" })})
	if Error(results) != nil || results[0].OK() || !strings.HasPrefix(results[0].String(), "  warning overlayfs") {
		t.Errorf("an optional check failed the preflight: %v", results)
	}
}

func TestSysctlNamesTheSettingAndTheFix(t *testing.T) {
	// fs.inotify.max_user_instances is never near this high.
	r := Run([]Check{Sysctl("fs.inotify.max_user_instances", 1<<40)})[0]
	if r.OK() || !strings.Contains(r.Problem, "sysctl -w fs.inotify.max_user_instances=") {
		t.Errorf("problem %q", r.Problem)
	}
	if r := Run([]Check{Sysctl("fs.inotify.max_user_instances", 1)})[0]; !r.OK() {
		t.Errorf("a limit above its minimum failed: %s", r.Problem)
	}
}
