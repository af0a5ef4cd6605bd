package discovery

import (
	"strings"
)

// unitSuffixes are the unit types that own processes in the cgroup tree (slices only group).
var unitSuffixes = []string{".service", ".scope", ".socket", ".mount", ".swap"}

// UnitFromCgroup returns the systemd unit that a process belongs to, from the contents of
// /proc/<pid>/cgroup: the unified hierarchy line ("0::/system.slice/nginx.service") or, on a
// legacy or hybrid host, the "name=systemd" line of cgroup v1. Like systemd itself it skips the
// slices and takes the first unit below them, so a service's delegated sub-cgroups and the
// user manager's units resolve to the system unit (user@1000.service). A prefix that is not a
// unit at all — the host's view of a container, "/lxc.payload.101/…" — is skipped too. The
// second result is false when no unit is found (the root cgroup, or a kernel thread).
func UnitFromCgroup(content string) (string, bool) {
	var unified, named string
	for _, line := range strings.Split(content, "\n") {
		id, rest, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok {
			continue
		}
		controllers, path, ok := strings.Cut(rest, ":")
		if !ok {
			continue
		}
		switch {
		case id == "0" && controllers == "":
			unified = path
		case hasController(controllers, "name=systemd"):
			named = path
		}
	}
	for _, path := range []string{unified, named} {
		if unit, ok := unitFromPath(path); ok {
			return unit, true
		}
	}
	return "", false
}

func hasController(list, name string) bool {
	for _, c := range strings.Split(list, ",") {
		if c == name {
			return true
		}
	}
	return false
}

func unitFromPath(path string) (string, bool) {
	for _, part := range strings.Split(path, "/") {
		if part == "" || strings.HasSuffix(part, ".slice") {
			continue
		}
		if isUnitName(part) {
			return part, true
		}
	}
	return "", false
}

// isUnitName checks the shape of a unit name: a known suffix after a non-empty name of the
// characters systemd allows (letters, digits, ":-_.\@").
func isUnitName(s string) bool {
	if len(s) > 255 {
		return false
	}
	for _, suffix := range unitSuffixes {
		name, ok := strings.CutSuffix(s, suffix)
		if !ok || name == "" {
			continue
		}
		for _, r := range name {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune(`:-_.\@`, r)) {
				return false
			}
		}
		return true
	}
	return false
}
