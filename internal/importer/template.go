package importer

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
	"templatemanager.dev/lxc-template-manager/internal/configmanager"
)

// Names of the store's layout.
const (
	configsDir      = "container-configs"
	scriptsDir      = "scripts"
	packagesDir     = "packages"
	filesDir        = "files"
	creationScript  = "container.sh"
	gitKeep         = ".gitkeep"
	displayNameNote = "lxc.templatemanager.dev/display-name"
)

// The original dashboard's defaults for what template.conf leaves out.
const (
	defaultCores   = 1
	defaultMemory  = 512
	defaultDisk    = 8
	defaultOS      = "debian"
	defaultVersion = "12"
)

// knownVars are the variables of template.conf, in the order the original writes them.
var knownVars = []string{
	"TEMPLATE_APP", "TEMPLATE_TAGS", "TEMPLATE_DESCRIPTION", "TEMPLATE_CONFIG_PATH",
	"TEMPLATE_CPU", "TEMPLATE_RAM", "TEMPLATE_DISK", "TEMPLATE_OS", "TEMPLATE_VERSION",
	"TEMPLATE_UNPRIVILEGED", "TEMPLATE_NESTING", "TEMPLATE_KEYCTL", "TEMPLATE_FUSE",
	"CONFIG_CONTAINER_USER",
}

// loadTemplate reads the template directory dir (relative to the store).
func (im *importer) loadTemplate(dir string) (*lxcv1.LXCTemplate, bool) {
	confRel := dir + "/" + templateConf
	if _, err := os.Lstat(im.abs(confRel)); err != nil {
		im.problem(dir, 0, "a directory without %s is not a template", templateConf)
		return nil, false
	}
	entries, ok := im.readDir(dir)
	if !ok {
		return nil, false
	}
	t := &lxcv1.LXCTemplate{
		TypeMeta:   metav1.TypeMeta{APIVersion: lxcv1.GroupVersion.String(), Kind: "LXCTemplate"},
		ObjectMeta: metav1.ObjectMeta{Name: dir, Namespace: im.opts.Namespace},
	}
	if err := validateObjectName(dir); err != nil {
		im.problem(confRel, 0, "the directory name is the template's name, but %v", err)
	}
	r := im.reporter(confRel)
	var vars map[string]assignment
	for _, e := range entries {
		if e.Name() == templateConf && im.isRegular(confRel, e) {
			if lines, ok := im.readLines(confRel); ok {
				vars = parseTemplateConf(lines, r)
			}
		}
	}
	if vars == nil {
		return nil, false
	}
	im.templateSpec(t, vars, r)
	im.featureWarnings(t, vars, im.warner(confRel))

	configs, configsRel := im.configsDir(dir, vars, r)
	local, _ := filepath.Abs(filepath.Join(im.abs(dir), configsDir))
	for _, e := range entries {
		name, rel := e.Name(), dir+"/"+e.Name()
		switch {
		case name == templateConf, strings.HasPrefix(name, "."):
		case name == configsDir && e.IsDir() && configs == local:
		case name == creationScript:
			im.note(rel, "the store's creation script, not imported: the controller creates and provisions the container")
		case isDoc(name):
			im.note(rel, "documentation, not imported")
		case name == configsDir:
			im.problem(rel, 0, "TEMPLATE_CONFIG_PATH points elsewhere, so this %s would be ignored", configsDir)
		default:
			im.problem(rel, 0, "unexpected %s in a template directory, which holds %s, %s/ and documentation", kindOf(e), templateConf, configsDir)
		}
	}
	if configs != "" {
		im.loadConfigs(t, configsRel)
	}
	return t, true
}

// templateSpec maps template.conf's variables onto the template, with the original's defaults.
func (im *importer) templateSpec(t *lxcv1.LXCTemplate, vars map[string]assignment, r reporter) {
	for k, a := range vars {
		if !slices.Contains(knownVars, k) {
			r.add(a.line, "unknown variable %s (known: %s)", k, strings.Join(knownVars, ", "))
		}
	}
	get := func(k, def string) (string, int) {
		if a, ok := vars[k]; ok {
			return a.value, a.line
		}
		return def, 0
	}
	if app, _ := get("TEMPLATE_APP", ""); app != "" {
		t.Annotations = map[string]string{displayNameNote: app}
	}
	desc, line := get("TEMPLATE_DESCRIPTION", "")
	if runes(desc) > maxDescription {
		r.add(line, "TEMPLATE_DESCRIPTION: %d characters, more than the %d allowed", runes(desc), maxDescription)
	}
	t.Spec.Description = desc
	tags, line := get("TEMPLATE_TAGS", "")
	for _, tag := range strings.Split(tags, ";") {
		tag = strings.TrimSpace(tag)
		if tag == "" {
			continue
		}
		if err := validateTag(tag); err != nil {
			r.add(line, "TEMPLATE_TAGS: %v", err)
		} else if slices.Contains(t.Spec.Tags, lxcv1.Tag(tag)) {
			r.add(line, "TEMPLATE_TAGS: tag %q is given twice", tag)
			continue
		}
		t.Spec.Tags = append(t.Spec.Tags, lxcv1.Tag(tag))
	}
	if len(t.Spec.Tags) > maxTags {
		r.add(line, "TEMPLATE_TAGS: %d tags, more than the %d allowed", len(t.Spec.Tags), maxTags)
	}
	number := func(k string, def int, rng int32Range) *int32 {
		s, line := get(k, strconv.Itoa(def))
		v, ok, err := parseInt32(s, rng)
		if err != nil {
			r.add(line, "%s: %v", k, err)
		}
		if !ok {
			return nil
		}
		return &v
	}
	t.Spec.Resources.Cores = number("TEMPLATE_CPU", defaultCores, coresRange)
	t.Spec.Resources.MemoryMiB = number("TEMPLATE_RAM", defaultMemory, memoryRange)
	t.Spec.Resources.DiskGiB = number("TEMPLATE_DISK", defaultDisk, diskRange)

	osName, _ := get("TEMPLATE_OS", defaultOS)
	version, line := get("TEMPLATE_VERSION", defaultVersion)
	if _, osLine := get("TEMPLATE_OS", ""); osLine > line {
		line = osLine
	}
	t.Spec.OSTemplate = osName + "-" + version + "-standard"
	if err := validateOSTemplate(t.Spec.OSTemplate); err != nil {
		r.add(line, "TEMPLATE_OS and TEMPLATE_VERSION give %v", err)
	}

	// The original kept its container user in config.env as CONFIG_CONTAINER_USER; a store
	// may name it in template.conf by the same name.
	if user, line := get("CONFIG_CONTAINER_USER", ""); user != "" {
		if err := configmanager.ValidateContainerUser(user); err != nil || user == "root" {
			r.add(line, "CONFIG_CONTAINER_USER: %q is not a user name other than root (lowercase letters, digits, _ and -, at most 32)", user)
		}
		t.Spec.ContainerUser = user
	}

	flag := func(k, def string) bool {
		s, line := get(k, def)
		switch s {
		case "1":
			return true
		case "0":
			return false
		}
		r.add(line, "%s: %q is neither 1 nor 0", k, s)
		return false
	}
	unprivileged := flag("TEMPLATE_UNPRIVILEGED", "1")
	t.Spec.Features = lxcv1.Features{
		Unprivileged: &unprivileged,
		Nesting:      flag("TEMPLATE_NESTING", "0"),
		Keyctl:       flag("TEMPLATE_KEYCTL", "0"),
		Fuse:         flag("TEMPLATE_FUSE", "0"),
	}
}

// featureWarnings names the features an API token cannot set.
func (im *importer) featureWarnings(t *lxcv1.LXCTemplate, vars map[string]assignment, w reporter) {
	for _, f := range []struct {
		name string
		on   bool
	}{{"keyctl", t.Spec.Features.Keyctl}, {"fuse", t.Spec.Features.Fuse}} {
		if f.on {
			w.add(vars["TEMPLATE_"+strings.ToUpper(f.name)].line, "%s", featureWarning(f.name))
		}
	}
}

// configsDir finds the template's container-configs: TEMPLATE_CONFIG_PATH relative to the
// repository root when it is set, else container-configs beside template.conf. It returns the
// absolute directory and its name relative to the store ("" when there is none).
func (im *importer) configsDir(dir string, vars map[string]assignment, r reporter) (abs, rel string) {
	a, set := vars["TEMPLATE_CONFIG_PATH"]
	if !set || a.value == "" {
		abs, err := filepath.Abs(filepath.Join(im.abs(dir), configsDir))
		if info, serr := os.Stat(abs); err != nil || serr != nil || !info.IsDir() {
			return "", ""
		}
		return abs, dir + "/" + configsDir
	}
	p := filepath.Clean(filepath.FromSlash(a.value))
	if filepath.IsAbs(p) || p == ".." || strings.HasPrefix(p, ".."+string(filepath.Separator)) {
		r.add(a.line, "TEMPLATE_CONFIG_PATH %q must be relative to the repository root and stay inside it", a.value)
		return "", ""
	}
	var roots []string
	if im.opts.RepoRoot != "" {
		roots = []string{im.opts.RepoRoot}
	} else if d, err := filepath.Abs(im.abs(dir)); err == nil {
		for {
			roots = append(roots, d)
			parent := filepath.Dir(d)
			if parent == d {
				break
			}
			d = parent
		}
	}
	for _, root := range roots {
		cand, err := filepath.Abs(filepath.Join(root, p))
		if err != nil {
			continue
		}
		if info, err := os.Stat(cand); err == nil && info.IsDir() {
			return cand, im.rel(cand)
		}
	}
	where := "any directory above the template"
	if im.opts.RepoRoot != "" {
		where = "the repository root " + im.opts.RepoRoot
	}
	r.add(a.line, "TEMPLATE_CONFIG_PATH %q is not a directory under %s; give the root with --repo-root", a.value, where)
	return "", ""
}
