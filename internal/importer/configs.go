package importer

import (
	"fmt"
	"os"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
)

// bucketSource is a PackageBucket and the file it was first read from.
type bucketSource struct {
	bucket lxcv1.PackageBucket
	file   string
}

// defaultCustomTimeout is what the original's custom installer allows an install without a
// timeout of its own.
const defaultCustomTimeout = 300

// numberRE is the numeric prefix of a script's name, which orders nothing: the original ran
// every *.sh in C-locale name order, so 10-b.sh before 2-a.sh.
var numberRE = regexp.MustCompile(`^([0-9]+)-`)

// loadConfigs reads container-configs: scripts, packages and files.
func (im *importer) loadConfigs(t *lxcv1.LXCTemplate, rel string) {
	entries, ok := im.readDir(rel)
	if !ok {
		return
	}
	var custom []lxcv1.Script
	for _, e := range entries {
		name, erel := e.Name(), rel+"/"+e.Name()
		switch {
		case strings.HasPrefix(name, "."):
		case isDoc(name):
			im.note(erel, "documentation, not imported")
		case name == scriptsDir && e.IsDir():
			im.loadScripts(t, erel)
		case name == packagesDir && e.IsDir():
			custom = im.loadPackages(t, erel)
		case name == filesDir && e.IsDir():
			im.loadFiles(t, erel)
		default:
			im.problem(erel, 0, "unexpected %s in %s, which holds %s/, %s/ and %s/", kindOf(e), configsDir, scriptsDir, packagesDir, filesDir)
		}
	}
	// The original installs custom tools after running the scripts.
	t.Spec.Scripts = append(t.Spec.Scripts, custom...)
	if n := len(t.Spec.Scripts); n > maxScripts {
		im.problem(rel, 0, "%d scripts and custom installers, more than the %d a template holds", n, maxScripts)
	}
}

// loadScripts takes every *.sh in C-locale (byte) order of the file name, as the original's
// engine ran them (find … -name '*.sh' | LC_ALL=C sort); the script's name is its file name.
// Each gets the long default timeout, and is checked for what will not work as it did.
func (im *importer) loadScripts(t *lxcv1.LXCTemplate, rel string) {
	entries, ok := im.readDir(rel)
	if !ok {
		return
	}
	// os.ReadDir sorts by name as Go compares strings: byte order, which is the C locale's.
	var names []string
	for _, e := range entries {
		name, erel := e.Name(), rel+"/"+e.Name()
		switch {
		case strings.HasPrefix(name, "."):
			continue
		case isDoc(name):
			im.note(erel, "documentation, not imported")
			continue
		case !strings.HasSuffix(name, ".sh"):
			if e.Type().IsRegular() {
				im.warner(erel).add(0, "not imported: the original ran only the *.sh files of %s/", scriptsDir)
			} else {
				im.problem(erel, 0, "unexpected %s among the scripts", kindOf(e))
			}
			continue
		case !im.isRegular(erel, e):
			continue
		}
		if err := validateDNSishName("script name", name, maxScriptName); err != nil {
			im.problem(erel, 0, "the file name is the script's name, but %v", err)
		}
		content, ok := im.readText(erel, maxScriptContent)
		if !ok {
			continue
		}
		if strings.TrimSpace(content) == "" {
			im.problem(erel, 0, "is empty: a script must have content (the API refuses an empty one)")
			continue
		}
		w := im.warner(erel)
		if len(names) == 0 {
			w.add(1, "the original gave scripts no time limit; each imported script gets timeoutSeconds %d (%d hours): change it in the cluster where that is too short or too long", defaultScriptTimeout, defaultScriptTimeout/3600)
		}
		if later := laterNumbered(name, names); later != "" {
			w.add(1, "runs after %s, as in the original: scripts run in C-locale file-name order, not in the order of their numbers", later)
		}
		checkScript(content, w)
		names = append(names, name)
		timeout := int32(defaultScriptTimeout)
		t.Spec.Scripts = append(t.Spec.Scripts, lxcv1.Script{Name: name, Content: &content, TimeoutSeconds: &timeout})
	}
}

// laterNumbered returns a script of before whose number is larger than name's: one that runs
// first although a reader ordering by number would expect it after.
func laterNumbered(name string, before []string) string {
	n, ok := scriptNumber(name)
	if !ok {
		return ""
	}
	for _, b := range before {
		if m, ok := scriptNumber(b); ok && m > n {
			return b
		}
	}
	return ""
}

func scriptNumber(name string) (uint64, bool) {
	m := numberRE.FindStringSubmatch(name)
	if m == nil {
		return 0, false
	}
	n, err := strconv.ParseUint(m[1], 10, 64)
	return n, err == nil
}

// loadPackages turns <bucket>.<manager> into PackageBuckets the template references, in file
// name order, and <name>.custom into checked scripts, which it returns.
func (im *importer) loadPackages(t *lxcv1.LXCTemplate, rel string) []lxcv1.Script {
	entries, ok := im.readDir(rel)
	if !ok {
		return nil
	}
	var custom []lxcv1.Script
	for _, e := range entries {
		name, erel := e.Name(), rel+"/"+e.Name()
		ext := strings.TrimPrefix(path.Ext(name), ".")
		stem := strings.TrimSuffix(name, path.Ext(name))
		switch {
		case name == gitKeep:
			continue
		case isDoc(name):
			im.note(erel, "documentation, not imported")
			continue
		case !im.isRegular(erel, e):
			continue
		}
		lines, ok := im.readLines(erel)
		if !ok {
			continue
		}
		if ext == "custom" {
			custom = append(custom, im.customScripts(t, stem, erel, lines)...)
			continue
		}
		m, ok := packageManager(ext)
		if !ok {
			im.problem(erel, 0, "unknown package file: the extension must be apt, apk, dnf, npm, pip or custom")
			continue
		}
		im.bucket(t, stem, m, erel, lines)
	}
	return custom
}

// stripComment drops a # comment and blanks, as the original's package handlers do.
func stripComment(line string) string {
	if i := strings.IndexByte(line, '#'); i >= 0 {
		line = line[:i]
	}
	return strings.TrimSpace(line)
}

// bucket reads one package list into the PackageBucket named after the file.
func (im *importer) bucket(t *lxcv1.LXCTemplate, name string, m lxcv1.PackageManager, rel string, lines []string) {
	r := im.reporter(rel)
	if err := validateObjectName(name); err != nil {
		r.add(0, "the file name is the PackageBucket's name, but %v", err)
		return
	}
	b := lxcv1.PackageBucket{
		TypeMeta:   metav1.TypeMeta{APIVersion: lxcv1.GroupVersion.String(), Kind: "PackageBucket"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: im.opts.Namespace},
		Spec:       lxcv1.PackageBucketSpec{Description: fmt.Sprintf("%s packages", m), Manager: m},
	}
	seen := map[string]int{}
	for i, l := range lines {
		p := stripComment(l)
		if p == "" {
			continue
		}
		if err := validatePackage(m, p); err != nil {
			r.add(i+1, "%v", err)
		}
		if first, dup := seen[p]; dup {
			r.add(i+1, "%s is already listed on line %d", p, first)
			continue
		}
		seen[p] = i + 1
		b.Spec.Packages = append(b.Spec.Packages, lxcv1.PackageName(p))
	}
	switch {
	case len(b.Spec.Packages) == 0:
		im.note(rel, "no packages, not imported")
		return
	case len(b.Spec.Packages) > maxBucketPackages:
		r.add(0, "%d packages, more than the %d a PackageBucket holds", len(b.Spec.Packages), maxBucketPackages)
	}
	if prev, ok := im.buckets[name]; ok {
		if prev.bucket.Spec.Manager != m || !slices.Equal(prev.bucket.Spec.Packages, b.Spec.Packages) {
			r.add(0, "PackageBucket %q is already defined differently by %s; buckets are named by file name across the store", name, prev.file)
		}
	} else {
		im.buckets[name] = &bucketSource{bucket: b, file: rel}
	}
	if len(t.Spec.PackageBucketRefs) == maxBucketRefs {
		r.add(0, "more than %d package files in one template", maxBucketRefs)
	}
	t.Spec.PackageBucketRefs = append(t.Spec.PackageBucketRefs, lxcv1.LocalObjectReference{Name: name})
}

var nonNameRE = regexp.MustCompile(`[^a-z0-9._-]+`)

// customScripts turns name|check_command|install_command[|timeout_seconds] lines into scripts
// that run only when their check fails, named <file>.<name>.
func (im *importer) customScripts(t *lxcv1.LXCTemplate, stem, rel string, lines []string) []lxcv1.Script {
	r := im.reporter(rel)
	var out []lxcv1.Script
	for i, l := range lines {
		n := i + 1
		line := stripComment(l)
		if line == "" {
			continue
		}
		fields := strings.Split(line, "|")
		if len(fields) < 3 || len(fields) > 4 {
			r.add(n, "not name|check_command|install_command[|timeout_seconds] (%d fields; a command cannot hold |)", len(fields))
			continue
		}
		for k := range fields {
			fields[k] = strings.TrimSpace(fields[k])
		}
		if fields[0] == "" || fields[1] == "" || fields[2] == "" {
			r.add(n, "the name, check command and install command must not be empty")
			continue
		}
		timeout := int32(defaultCustomTimeout)
		if len(fields) == 4 && fields[3] != "" {
			v, _, err := parseInt32(fields[3], timeoutRange)
			if err != nil {
				r.add(n, "timeout: %v", err)
			}
			timeout = v
		}
		name := strings.Trim(nonNameRE.ReplaceAllString(strings.ToLower(stem+"."+fields[0]), "-"), "._-")
		if err := validateDNSishName("script name", name, maxScriptName); err != nil {
			r.add(n, "the custom installer's script name from %q: %v", stem+"."+fields[0], err)
		}
		if slices.ContainsFunc(t.Spec.Scripts, func(s lxcv1.Script) bool { return s.Name == name }) ||
			slices.ContainsFunc(out, func(s lxcv1.Script) bool { return s.Name == name }) {
			r.add(n, "script name %q is already used", name)
			continue
		}
		if runes(fields[1]) > maxCheck {
			r.add(n, "the check command is longer than %d characters", maxCheck)
		}
		content := "#!/bin/bash\n" + fields[2] + "\n"
		check := fields[1]
		out = append(out, lxcv1.Script{Name: name, Content: &content, Check: &check, TimeoutSeconds: &timeout})
	}
	return out
}

// loadFiles reads files/<name> with its sidecars: <name>.path, the target directory, and
// <name>.policy, replace, default or backup. The file lands at <.path>/<name>.
func (im *importer) loadFiles(t *lxcv1.LXCTemplate, rel string) {
	entries, ok := im.readDir(rel)
	if !ok {
		return
	}
	names := map[string]bool{}
	for _, e := range entries {
		names[e.Name()] = true
	}
	for _, e := range entries {
		name, erel := e.Name(), rel+"/"+e.Name()
		switch {
		case name == gitKeep:
			continue
		case name == "README.md":
			// The original skips exactly this name among files; any other name is a file.
			im.note(erel, "documentation, not imported")
			continue
		case strings.HasSuffix(name, ".path") || strings.HasSuffix(name, ".policy"):
			base := strings.TrimSuffix(strings.TrimSuffix(name, ".path"), ".policy")
			if !names[base] {
				im.problem(erel, 0, "a sidecar without its file %s", base)
			}
			continue
		case !im.isRegular(erel, e):
			continue
		}
		dir, dirLine, ok := im.sidecar(erel + ".path")
		if !ok {
			continue
		}
		policy, policyLine, ok := im.sidecar(erel + ".policy")
		if !ok {
			continue
		}
		target := strings.TrimRight(dir, "/") + "/" + name
		if err := validateFilePath(target); err != nil {
			im.problem(erel+".path", dirLine, "<.path>/<name> gives %v", err)
		}
		p := lxcv1.FilePolicy(strings.ToLower(policy))
		if err := validatePolicy(string(p)); err != nil {
			im.problem(erel+".policy", policyLine, "%v", err)
		}
		content, ok := im.readText(erel, maxFileContent)
		if !ok {
			continue
		}
		if content == "" {
			im.problem(erel, 0, "is empty: a managed file must have content (the API refuses an empty one)")
			continue
		}
		if slices.ContainsFunc(t.Spec.Files, func(f lxcv1.ManagedFile) bool { return f.Path == target }) {
			im.problem(erel+".path", dirLine, "%s is already managed", target)
			continue
		}
		t.Spec.Files = append(t.Spec.Files, lxcv1.ManagedFile{Path: target, Content: &content, Policy: p})
	}
	if len(t.Spec.Files) > maxFiles {
		im.problem(rel, 0, "%d files, more than the %d a template manages", len(t.Spec.Files), maxFiles)
	}
	slices.SortFunc(t.Spec.Files, func(a, b lxcv1.ManagedFile) int { return strings.Compare(a.Path, b.Path) })
}

// sidecar reads the one value of a .path or .policy file and the line it is on.
func (im *importer) sidecar(rel string) (string, int, bool) {
	if _, err := os.Lstat(im.abs(rel)); err != nil {
		what := "the directory the file goes to"
		if strings.HasSuffix(rel, ".policy") {
			what = "replace, default or backup"
		}
		im.problem(strings.TrimSuffix(strings.TrimSuffix(rel, ".path"), ".policy"), 0, "missing its sidecar %s (%s)", path.Base(rel), what)
		return "", 0, false
	}
	lines, ok := im.readLines(rel)
	if !ok {
		return "", 0, false
	}
	value, line := "", 0
	for i, l := range lines {
		if v := strings.TrimSpace(l); v != "" {
			if value != "" {
				im.problem(rel, i+1, "a second value; the file holds one line")
				return "", 0, false
			}
			value, line = v, i+1
		}
	}
	if value == "" {
		im.problem(rel, 0, "empty")
		return "", 0, false
	}
	return value, line, true
}
