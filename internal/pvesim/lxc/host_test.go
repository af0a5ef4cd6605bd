package lxc

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"templatemanager.dev/lxc-template-manager/internal/preflight"
	"templatemanager.dev/lxc-template-manager/internal/pvesim"
	"templatemanager.dev/lxc-template-manager/internal/testkit"
)

// TestHostPackagesCoverWhatPvesimUses keeps a missing install step from hiding behind a machine
// that happens to have extra packages: every file pvesim's generated LXC configuration includes
// (followed through the includes of the lxc packages' own files), and every program the
// preflight names, must belong to a package that `make deps` installs (DEB_PACKAGES) or to one
// of their Depends — not their Recommends — or to Debian's essential set.
func TestHostPackagesCoverWhatPvesimUses(t *testing.T) {
	testkit.SkipUnlessFull(t, "the host's dpkg database with the packages make deps installs")
	if _, err := exec.LookPath("dpkg-query"); err != nil {
		t.Fatal("dpkg-query is missing: the tests run on Debian")
	}
	installable := dependencyClosure(t, debPackages(t))

	// The configuration pvesim writes, unprivileged and privileged, and what it pulls in.
	dir := t.TempDir()
	if err := writeCommonConfigs(dir); err != nil {
		t.Fatal(err)
	}
	b := &Backend{lxcPath: dir, bridge: "vmbr0", cgroups: detectCgroups()}
	var paths []string
	for _, unpriv := range []bool{true, false} {
		cfg := b.renderConfig(pvesim.ContainerSpec{VMID: 100, Hostname: "ct", Unprivileged: unpriv, Nesting: true}, "/rootfs", filepath.Join(dir, "100"))
		paths = append(paths, referencedFiles(t, cfg, dir, map[string]bool{})...)
	}
	if len(paths) == 0 {
		t.Fatal("the generated configuration references no host file: the parser is broken")
	}
	for _, p := range paths {
		if !slices.Contains(preflight.LXCConfigFiles, p) && !strings.HasSuffix(p, "/") && !strings.Contains(p, "/hooks/") {
			t.Errorf("%s is included by the generated configuration but not checked by the preflight (preflight.LXCConfigFiles)", p)
		}
	}
	for _, c := range append(preflight.LXCBackend(), preflight.LocalStack()...) {
		switch {
		case c.Package == "":
			continue
		case strings.HasPrefix(c.Name, "/"):
			paths = append(paths, c.Name)
		default:
			p, err := exec.LookPath(c.Name)
			if err != nil {
				t.Errorf("%s: %v (make deps should have installed %s)", c.Name, err, c.Package)
				continue
			}
			paths = append(paths, p)
		}
	}
	for _, p := range slices.Compact(slices.Sorted(slices.Values(paths))) {
		pkg := owner(t, p)
		if pkg == "" {
			t.Errorf("%s belongs to no Debian package", p)
			continue
		}
		if !installable[pkg] {
			t.Errorf("%s comes from %s, which neither DEB_PACKAGES nor their Depends nor the essential set bring (add it to DEB_PACKAGES in the Makefile)", p, pkg)
		}
	}
}

var includeKey = regexp.MustCompile(`^\s*(lxc\.include|lxc\.seccomp\.profile|lxc\.hook\.[a-z.-]+)\s*=\s*(\S+)`)

// referencedFiles lists the host files a configuration names, following includes; files under
// own (the simulator's lxcpath) are followed but not listed: pvesim writes them itself.
func referencedFiles(t *testing.T, config, own string, seen map[string]bool) []string {
	t.Helper()
	var out []string
	sc := bufio.NewScanner(strings.NewReader(config))
	for sc.Scan() {
		m := includeKey.FindStringSubmatch(sc.Text())
		if m == nil || !strings.HasPrefix(m[2], "/") || seen[m[2]] {
			continue
		}
		p := m[2]
		seen[p] = true
		if _, err := os.Stat(p); err != nil && strings.HasSuffix(p, "/") {
			continue // LXC skips an include directory that is not there
		}
		if !strings.HasPrefix(p, own+"/") {
			out = append(out, p)
		}
		if m[1] != "lxc.include" {
			continue
		}
		info, err := os.Stat(p)
		if err != nil {
			t.Errorf("%s, included by a generated configuration, does not exist: %v", p, err)
			continue
		}
		var files []string
		if info.IsDir() {
			entries, _ := filepath.Glob(filepath.Join(p, "*.conf"))
			files = entries
		} else {
			files = []string{p}
		}
		for _, f := range files {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, referencedFiles(t, string(data), own, seen)...)
		}
	}
	return out
}

// debPackages reads DEB_PACKAGES from the Makefile.
func debPackages(t *testing.T) []string {
	t.Helper()
	data, err := os.ReadFile("../../../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^DEB_PACKAGES\s*:=\s*(.+)$`).FindSubmatch(data)
	if m == nil {
		t.Fatal("no DEB_PACKAGES in the Makefile")
	}
	return strings.Fields(string(m[1]))
}

// dependencyClosure is every installed package that the given ones depend on (Depends and
// Pre-Depends, transitively), plus Debian's essential and required packages.
func dependencyClosure(t *testing.T, roots []string) map[string]bool {
	t.Helper()
	out, err := exec.Command("dpkg-query", "-W", "-f", `${Package}\t${Essential}\t${Priority}\t${Depends}, ${Pre-Depends}\n`).Output()
	if err != nil {
		t.Fatal(err)
	}
	deps := map[string][]string{}
	closure := map[string]bool{}
	var queue []string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.SplitN(line, "\t", 4)
		if len(f) != 4 {
			continue
		}
		deps[f[0]] = parseDepends(f[3])
		if f[1] == "yes" || f[2] == "required" {
			queue = append(queue, f[0])
		}
	}
	for _, r := range roots {
		if _, ok := deps[r]; !ok {
			t.Errorf("DEB_PACKAGES names %s, which is not installed (run make deps)", r)
		}
		queue = append(queue, r)
	}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		if closure[p] {
			continue
		}
		closure[p] = true
		for _, d := range deps[p] {
			if _, installed := deps[d]; installed {
				queue = append(queue, d)
			}
		}
	}
	return closure
}

// parseDepends turns "a (>= 1), b | c, d:any" into its package names, every alternative included.
func parseDepends(s string) []string {
	var names []string
	for _, group := range strings.Split(s, ",") {
		for _, alt := range strings.Split(group, "|") {
			name, _, _ := strings.Cut(strings.TrimSpace(alt), " ")
			name, _, _ = strings.Cut(name, ":")
			if name != "" {
				names = append(names, name)
			}
		}
	}
	return names
}

// owner is the package that ships path, looked up as dpkg lists it: with /usr merged, a file
// may be listed under /bin while the path says /usr/bin, and a program on PATH may be a link.
func owner(t *testing.T, path string) string {
	t.Helper()
	candidates := []string{path}
	if real, err := filepath.EvalSymlinks(path); err == nil && real != path {
		candidates = append(candidates, real)
	}
	for _, c := range slices.Clone(candidates) {
		if rest, ok := strings.CutPrefix(c, "/usr"); ok {
			candidates = append(candidates, rest)
		} else {
			candidates = append(candidates, "/usr"+c)
		}
	}
	for _, c := range candidates {
		out, err := exec.Command("dpkg-query", "-S", c).Output()
		if err != nil {
			continue
		}
		// "pkg1, pkg2: /path" or "diversion by …"; take the first package of the first line.
		line := strings.SplitN(strings.TrimSpace(string(out)), "\n", 2)[0]
		pkgs, _, ok := strings.Cut(line, ": ")
		if !ok {
			continue
		}
		pkg, _, _ := strings.Cut(strings.Split(pkgs, ",")[0], ":")
		return strings.TrimSpace(pkg)
	}
	return ""
}
