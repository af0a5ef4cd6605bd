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

// Result is what a template directory holds, in a stable order: buckets and templates each
// sorted by name.
type Result struct {
	Buckets   []lxcv1.PackageBucket
	Templates []lxcv1.LXCTemplate
}

// Options adjust an import.
type Options struct {
	// Namespace is set on every object; empty leaves it to whoever applies the manifests.
	Namespace string
}

// Import reads the template directory dir. It returns Problems, listing every problem found,
// when anything in dir is wrong or not understood; then no objects are returned.
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
	im := &importer{root: dir, namespace: opts.Namespace}
	entries, ok := im.readDir(".")
	var (
		buckets   []lxcv1.PackageBucket
		templates []*templateSource
	)
	for _, e := range entries {
		name := e.Name()
		switch {
		case strings.HasPrefix(name, "."):
			// Hidden entries at the top, such as .git, are not part of the store.
		case name == bucketsDir:
			if im.isDir(name, e) {
				buckets = im.loadBuckets()
			}
		case e.IsDir():
			templates = append(templates, im.loadTemplate(name))
		case isReadme(name):
		case name == templateConf:
			im.problem(name, 0, "this is a single template directory; import the directory that holds it")
		default:
			im.problem(name, 0, "unexpected %s at the top of the template directory, which holds one directory per template and %s/", kindOf(e), bucketsDir)
		}
	}
	if ok && len(templates) == 0 && len(buckets) == 0 {
		im.problem(".", 0, "no templates found: a template is a directory holding %s", templateConf)
	}
	im.checkNames(templates)
	im.checkBucketRefs(templates, buckets)

	res := &Result{Buckets: buckets}
	for _, t := range templates {
		if data, err := json.Marshal(t.template); err == nil {
			im.checkSize(t, len(data))
		}
		res.Templates = append(res.Templates, t.template)
	}
	slices.SortFunc(res.Buckets, func(a, b lxcv1.PackageBucket) int { return strings.Compare(a.Name, b.Name) })
	slices.SortFunc(res.Templates, func(a, b lxcv1.LXCTemplate) int { return strings.Compare(a.Name, b.Name) })
	im.problems.sort()
	return res, im.problems
}

// checkNames reports templates that end up with the same name.
func (im *importer) checkNames(templates []*templateSource) {
	first := map[string]*templateSource{}
	for _, t := range templates {
		name := t.template.Name
		if t.nameLine == 0 {
			// The directory name is the template's name; check it as one.
			if err := validateObjectName(name); err != nil {
				im.problem(t.file(templateConf), 0, "the directory name is used as the template name, but %v; set name= in %s", err, templateConf)
			}
		}
		if other, dup := first[name]; dup {
			im.problem(t.file(templateConf), t.nameLine, "template name %q is already used by %s", name, other.dir)
			continue
		}
		first[name] = t
	}
}

// checkBucketRefs reports package_buckets items that name no bucket under buckets/: the
// directory is imported as a whole, so a missing bucket is a mistake rather than one defined
// elsewhere.
func (im *importer) checkBucketRefs(templates []*templateSource, buckets []lxcv1.PackageBucket) {
	defined := map[string]bool{}
	for _, b := range buckets {
		defined[b.Name] = true
	}
	for _, t := range templates {
		for _, ref := range t.bucketRefs {
			if !defined[ref.name] {
				im.problem(ref.file, ref.line, "package_buckets: no bucket %q under %s/ (expected a file %s/%s.<manager>)", ref.name, bucketsDir, bucketsDir, ref.name)
			}
		}
	}
}

// importer reads one template directory.
type importer struct {
	root      string
	namespace string
	problems  Problems
}

func (im *importer) reporter(file string) reporter {
	return reporter{file: file, problems: &im.problems}
}

func (im *importer) problem(file string, line int, format string, args ...any) {
	im.reporter(file).add(line, format, args...)
}

func (im *importer) abs(rel string) string { return filepath.Join(im.root, filepath.FromSlash(rel)) }

func (im *importer) readDir(rel string) ([]fs.DirEntry, bool) {
	entries, err := os.ReadDir(im.abs(rel))
	if err != nil {
		im.problem(rel, 0, "cannot read the directory: %v", unwrapPath(err))
		return nil, false
	}
	return entries, true
}

// isRegular reports whether e is a regular file, reporting it otherwise. Symbolic links are
// refused: they could point outside the directory being imported.
func (im *importer) isRegular(rel string, e fs.DirEntry) bool {
	if e.Type().IsRegular() {
		return true
	}
	im.problem(rel, 0, "expected a file, found a %s", kindOf(e))
	return false
}

func (im *importer) isDir(rel string, e fs.DirEntry) bool {
	if e.IsDir() {
		return true
	}
	im.problem(rel, 0, "expected a directory, found a %s", kindOf(e))
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

// readText reads a script or managed file whose content goes into the manifest as a string:
// UTF-8 text without NUL bytes of at most maxRunes characters. Anything else could not be
// carried unchanged.
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

// unwrapPath drops the absolute path from an fs error: messages name files relative to the
// imported directory.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
