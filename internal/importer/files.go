package importer

import (
	"io/fs"
	"path"
	"slices"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
)

// fileKeys are the settings files.conf may give a managed file.
var fileKeys = []string{"mode", "owner", "policy", "secret", "configmap"}

// loadFiles reads the files/ tree, each file managed at the absolute path it mirrors, with
// the settings of files.conf.
func (im *importer) loadFiles(src *templateSource, haveDir, haveConf bool) {
	files := map[string]*lxcv1.ManagedFile{} // container path → file
	if haveDir {
		im.walkFiles(src.file(filesDir), "", files)
	}
	if haveConf {
		im.loadFilesConf(src, files)
	}
	paths := make([]string, 0, len(files))
	for p := range files {
		paths = append(paths, p)
	}
	slices.Sort(paths)
	for _, p := range paths {
		src.template.Spec.Files = append(src.template.Spec.Files, *files[p])
	}
	if len(paths) > maxFiles {
		im.problem(src.file(filesDir), 0, "%d managed files, at most %d allowed", len(paths), maxFiles)
	}
}

// walkFiles reads the directory dir (relative to the root) that mirrors the container path
// prefix.
func (im *importer) walkFiles(dir, prefix string, files map[string]*lxcv1.ManagedFile) {
	entries, ok := im.readDir(dir)
	if !ok {
		return
	}
	if len(entries) == 0 {
		im.problem(dir, 0, "the directory is empty; managed files are files, so it would be lost")
		return
	}
	for _, e := range entries {
		rel := dir + "/" + e.Name()
		target := prefix + "/" + e.Name()
		if e.IsDir() {
			im.walkFiles(rel, target, files)
			continue
		}
		if !im.isRegular(rel, e) {
			continue
		}
		if err := validateFilePath(target); err != nil {
			im.problem(rel, 0, "%v", err)
		}
		content, ok := im.readText(rel, maxFileContent)
		if !ok {
			content = "" // reported; the entry stays so that files.conf can refer to it
		}
		files[target] = &lxcv1.ManagedFile{Path: target, Content: &content}
	}
}

// loadFilesConf applies files.conf: lines "PATH [mode=…] [owner=…] [policy=…]" for files in
// files/, or "PATH secret=NAME:KEY|configmap=NAME:KEY …" for files whose content is kept in
// the cluster.
func (im *importer) loadFilesConf(src *templateSource, files map[string]*lxcv1.ManagedFile) {
	r, entries := im.confEntries(src.file(filesConf))
	for _, e := range entries {
		p, line := e.name, e.line
		if err := validateFilePath(p); err != nil {
			r.add(line, "%v", err)
			continue
		}
		var (
			mf       lxcv1.ManagedFile
			external bool // content from a Secret or ConfigMap
		)
		mf.Path = p
		for _, kv := range settings(r, line, e.fields, fileKeys) {
			switch kv.key {
			case "mode":
				mf.Mode = kv.value
				if err := validateMode(kv.value); err != nil {
					r.add(line, "%v", err)
				}
			case "owner":
				mf.Owner = kv.value
				if err := validateOwner(kv.value); err != nil {
					r.add(line, "%v", err)
				}
			case "policy":
				mf.Policy = lxcv1.FilePolicy(kv.value)
				if err := validatePolicy(kv.value); err != nil {
					r.add(line, "%v", err)
				}
			case "secret", "configmap":
				sel, err := parseKeySelector(kv.value)
				if err != nil {
					r.add(line, "%s: %v", kv.key, err)
				}
				if external {
					r.add(line, "give only one of secret= and configmap=")
					continue
				}
				external = true
				if kv.key == "secret" {
					mf.SecretRef = sel
				} else {
					mf.ConfigMapRef = sel
				}
			}
		}
		fromTree, inTree := files[p]
		switch {
		case external && inTree:
			r.add(line, "%s has content in %s/ and from a %s; give only one", p, filesDir, sourceKind(&mf))
		case external:
			files[p] = &mf
		case !inTree:
			r.add(line, "%s is not a file in %s/ (expected %s) and has no secret= or configmap=", p, filesDir, path.Join(src.file(filesDir), p))
		default:
			fromTree.Mode, fromTree.Owner, fromTree.Policy = mf.Mode, mf.Owner, mf.Policy
		}
	}
}

func sourceKind(mf *lxcv1.ManagedFile) string {
	if mf.SecretRef != nil {
		return "Secret"
	}
	return "ConfigMap"
}

// kindOf names what a directory entry is, for messages.
func kindOf(e fs.DirEntry) string {
	switch t := e.Type(); {
	case t.IsDir():
		return "directory"
	case t.IsRegular():
		return "file"
	case t&fs.ModeSymlink != 0:
		return "symbolic link"
	default:
		return "special file"
	}
}
