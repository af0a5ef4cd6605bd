package importer

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"unicode/utf8"

	"k8s.io/apimachinery/pkg/util/validation"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
)

// Result is what a template store holds, in a stable order: buckets and templates each sorted
// by name, and notes on what was skipped.
type Result struct {
	Buckets   []lxcv1.PackageBucket
	Templates []lxcv1.LXCTemplate
	// Notes name the entries skipped on purpose (documentation, the store's container.sh), as
	// "FILE: reason".
	Notes []string
	// Warnings say what is imported but will not work as it did in the original, or needs
	// something of the cluster, sorted by file and line.
	Warnings Problems
}

// Options adjust an import.
type Options struct {
	// Namespace is set on every object; empty leaves it to whoever applies the manifests.
	Namespace string
	// RepoRoot is the repository root TEMPLATE_CONFIG_PATH is relative to. Empty: the nearest
	// directory above each template where that path exists.
	RepoRoot string
}

// Import reads the template store dir: one directory per template, each holding a
// template.conf. It returns Problems, listing every problem found, when anything in dir is
// wrong or cannot be carried over; then no objects are returned.
func Import(dir string, opts Options) (*Result, error) {
	if opts.Namespace != "" {
		if errs := validation.IsDNS1123Label(opts.Namespace); len(errs) > 0 {
			return nil, fmt.Errorf("namespace %q is not valid: %s", opts.Namespace, strings.Join(errs, "; "))
		}
	}
	info, err := os.Stat(dir)
	if err != nil {
		return nil, err
	}
	if !info.IsDir() {
		return nil, fmt.Errorf("%s is not a directory", dir)
	}
	if opts.RepoRoot != "" {
		if info, err := os.Stat(opts.RepoRoot); err != nil || !info.IsDir() {
			return nil, fmt.Errorf("repository root %s is not a directory", opts.RepoRoot)
		}
	}
	res, problems := load(dir, opts)
	if len(problems) > 0 {
		return nil, problems
	}
	return res, nil
}

// load reads dir and returns what it holds together with every problem found. Values that
// break a rule are kept in the objects where they can be represented, which lets the tests
// compare the importer's verdict with the API server's.
func load(dir string, opts Options) (*Result, Problems) {
	im := &importer{root: dir, opts: opts, buckets: map[string]*bucketSource{}}
	entries, ok := im.readDir(".")
	var templates []lxcv1.LXCTemplate
	for _, e := range entries {
		name := e.Name()
		switch {
		case strings.HasPrefix(name, "."):
			// Hidden entries, such as .git or .gitkeep, are not part of the store.
		case isDoc(name):
			im.note(name, "documentation, not imported")
		case e.IsDir():
			if t, ok := im.loadTemplate(name); ok {
				templates = append(templates, *t)
			}
		case name == templateConf:
			im.problem(name, 0, "this is a single template directory; import the directory that holds it (such as infra/lxc/templates)")
		default:
			im.problem(name, 0, "unexpected %s in the template store, which holds one directory per template", kindOf(e))
		}
	}
	if ok && len(templates) == 0 && len(im.problems) == 0 {
		im.problem(".", 0, "no templates found: a template is a directory holding %s", templateConf)
	}

	im.warnings.sort()
	res := &Result{Templates: templates, Notes: im.notes, Warnings: im.warnings}
	for _, b := range im.buckets {
		res.Buckets = append(res.Buckets, b.bucket)
	}
	for i := range res.Templates {
		if data, err := json.Marshal(res.Templates[i]); err == nil && len(data) > maxObjectBytes {
			im.problem(filepath.ToSlash(filepath.Join(res.Templates[i].Name, templateConf)), 0,
				"the template's manifest would be %d bytes, more than the %d etcd stores in one object", len(data), maxObjectBytes)
		}
	}
	slices.SortFunc(res.Buckets, func(a, b lxcv1.PackageBucket) int { return strings.Compare(a.Name, b.Name) })
	slices.SortFunc(res.Templates, func(a, b lxcv1.LXCTemplate) int { return strings.Compare(a.Name, b.Name) })
	im.problems.sort()
	return res, im.problems
}

// importer reads one template store.
type importer struct {
	root     string
	opts     Options
	problems Problems
	warnings Problems
	notes    []string
	// buckets are the PackageBuckets seen so far, by name: the original store names buckets by
	// file name across all templates.
	buckets map[string]*bucketSource
}

func (im *importer) reporter(file string) reporter {
	return reporter{file: file, problems: &im.problems}
}

// warner collects the warnings of one file.
func (im *importer) warner(file string) reporter {
	return reporter{file: file, problems: &im.warnings}
}

func (im *importer) problem(file string, line int, format string, args ...any) {
	im.reporter(file).add(line, format, args...)
}

func (im *importer) note(file, format string, args ...any) {
	im.notes = append(im.notes, file+": "+fmt.Sprintf(format, args...))
}

func (im *importer) abs(rel string) string { return filepath.Join(im.root, filepath.FromSlash(rel)) }

// rel names an absolute path relative to the store, with forward slashes.
func (im *importer) rel(abs string) string {
	root, err := filepath.Abs(im.root)
	if err == nil {
		if r, err := filepath.Rel(root, abs); err == nil {
			return filepath.ToSlash(r)
		}
	}
	return filepath.ToSlash(abs)
}

func (im *importer) readDir(rel string) ([]fs.DirEntry, bool) {
	entries, err := os.ReadDir(im.abs(rel))
	if err != nil {
		im.problem(rel, 0, "cannot read the directory: %v", unwrapPath(err))
		return nil, false
	}
	return entries, true
}

// isRegular reports whether e is a regular file, reporting it otherwise. Symbolic links are
// refused: they could point outside the store being imported.
func (im *importer) isRegular(rel string, e fs.DirEntry) bool {
	if e.Type().IsRegular() {
		return true
	}
	im.problem(rel, 0, "expected a file, found a %s", kindOf(e))
	return false
}

// readFile reads a file of at most maxBytes.
func (im *importer) readFile(rel string, maxBytes int64) ([]byte, bool) {
	f, err := os.Open(im.abs(rel))
	if err != nil {
		im.problem(rel, 0, "cannot read: %v", unwrapPath(err))
		return nil, false
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxBytes+1))
	switch {
	case err != nil:
		im.problem(rel, 0, "cannot read: %v", unwrapPath(err))
		return nil, false
	case int64(len(data)) > maxBytes:
		im.problem(rel, 0, "the file is larger than the %d bytes allowed", maxBytes)
		return nil, false
	}
	return data, true
}

// readText reads a file whose content goes into the manifest as a string: UTF-8 text without
// NUL bytes of at most maxRunes characters. Anything else could not be carried unchanged.
func (im *importer) readText(rel string, maxRunes int) (string, bool) {
	data, ok := im.readFile(rel, int64(maxRunes)*utf8.UTFMax)
	if !ok {
		return "", false
	}
	for i, l := range strings.Split(string(data), "\n") {
		if !utf8.ValidString(l) {
			im.problem(rel, i+1, "not UTF-8 text; binary content cannot be carried in a manifest")
			return "", false
		}
		if strings.IndexByte(l, 0) >= 0 {
			im.problem(rel, i+1, "contains a NUL byte; binary content cannot be carried in a manifest")
			return "", false
		}
	}
	if n := utf8.RuneCount(data); n > maxRunes {
		im.problem(rel, 0, "%d characters, more than the %d allowed", n, maxRunes)
		return "", false
	}
	return string(data), true
}

// readLines reads a small text file as lines without their line ends.
func (im *importer) readLines(rel string) ([]string, bool) {
	text, ok := im.readText(rel, 1<<20)
	if !ok {
		return nil, false
	}
	text = strings.TrimPrefix(text, "\ufeff")
	lines := strings.Split(text, "\n")
	if len(lines) > 0 && lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	for i, l := range lines {
		lines[i] = strings.TrimSuffix(l, "\r")
	}
	return lines, true
}

// isDoc reports documentation for people, which the original store keeps beside everything.
func isDoc(name string) bool { return strings.HasSuffix(strings.ToLower(name), ".md") }

func kindOf(e fs.DirEntry) string {
	switch {
	case e.IsDir():
		return "directory"
	case e.Type()&fs.ModeSymlink != 0:
		return "symbolic link"
	case e.Type().IsRegular():
		return "file"
	}
	return "special file"
}

// unwrapPath drops the absolute path from an fs error: messages name files relative to the
// imported directory.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
