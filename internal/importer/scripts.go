package importer

import (
	"fmt"
	"slices"
	"strings"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
)

// scriptKeys are the settings scripts.conf may give a script.
var scriptKeys = []string{"timeout"}

// loadScripts reads scripts/ in name order, with the settings of scripts.conf.
func (im *importer) loadScripts(src *templateSource, haveDir, haveConf bool) {
	dir := src.file(scriptsDir)
	byFile := map[string]int{} // script file name → index in spec.scripts, -1 when refused
	if haveDir {
		entries, ok := im.readDir(dir)
		if ok {
			names := map[string]string{} // script name → file it came from
			for _, e := range entries {
				rel := dir + "/" + e.Name()
				if !im.isRegular(rel, e) {
					continue
				}
				byFile[e.Name()] = -1 // present, but not (yet) a script
				name, err := scriptName(e.Name())
				if err != nil {
					im.problem(rel, 0, "%v", err)
					continue
				}
				if other, dup := names[name]; dup {
					im.problem(rel, 0, "gives the script name %q, as %s does; rename one of them", name, other)
					continue
				}
				names[name] = e.Name()
				content, ok := im.readText(rel, maxScriptContent)
				if !ok {
					continue
				}
				byFile[e.Name()] = len(src.template.Spec.Scripts)
				src.template.Spec.Scripts = append(src.template.Spec.Scripts, lxcv1.Script{Name: name, Content: &content})
			}
			if len(entries) == 0 {
				im.problem(dir, 0, "the directory is empty; remove it or add scripts")
			}
			if n := len(src.template.Spec.Scripts); n > maxScripts {
				im.problem(dir, 0, "%d scripts, at most %d allowed", n, maxScripts)
			}
		}
	}
	if haveConf {
		im.loadScriptsConf(src, byFile)
	}
}

// scriptName derives a script's name from its file name: the name without its last extension,
// in lowercase, with every run of characters a name may not hold replaced by "-". A file whose
// name gives no valid name is refused rather than given an invented one.
func scriptName(file string) (string, error) {
	if strings.HasPrefix(file, ".") {
		return "", fmt.Errorf("hidden file in %s/; scripts are named like 10-install.sh", scriptsDir)
	}
	stem := file
	if i := strings.LastIndexByte(file, '.'); i > 0 {
		stem = file[:i]
	}
	var b strings.Builder
	dash := false
	for _, c := range strings.ToLower(stem) {
		if c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-' {
			b.WriteRune(c)
			dash = false
		} else if !dash {
			b.WriteByte('-')
			dash = true
		}
	}
	name := strings.Trim(b.String(), "._-")
	if err := validateDNSishName("script name", name, maxScriptName); err != nil {
		return "", fmt.Errorf("file name %q gives no valid script name: %v", file, err)
	}
	return name, nil
}

// loadScriptsConf applies scripts.conf: lines "FILE timeout=SECONDS" for files in scripts/.
func (im *importer) loadScriptsConf(src *templateSource, byFile map[string]int) {
	r, entries := im.confEntries(src.file(scriptsConf))
	for _, e := range entries {
		script, l, fields := e.name, e.line, e.fields
		i, present := byFile[script]
		if !present {
			r.add(l, "%s is not a script in %s/", script, scriptsDir)
		}
		known := present && i >= 0
		for _, kv := range settings(r, l, fields, scriptKeys) {
			switch kv.key {
			case "timeout":
				v, valid, err := parseInt32(kv.value, timeoutRange)
				if err != nil {
					r.add(l, "timeout: %v", err)
				}
				if valid && known {
					src.template.Spec.Scripts[i].TimeoutSeconds = &v
				}
			}
		}
	}
}

// confEntry is one line of files.conf or scripts.conf: what it configures and its settings.
type confEntry struct {
	name   string
	line   int
	fields []string // the KEY=VALUE fields after the name
}

// confEntries reads a per-entry configuration file: one line per file or script, the name
// first. Lines that cannot be split, and a second line for the same name, are reported and left
// out. A missing file has no entries.
func (im *importer) confEntries(file string) (reporter, []confEntry) {
	r := im.reporter(file)
	data, ok := im.readFile(file, 1<<20)
	if !ok {
		return r, nil
	}
	lines, _ := textLines(r, data)
	seen := map[string]int{}
	var out []confEntry
	for _, l := range meaningful(lines) {
		fields, err := splitFields(l.Text)
		if err != nil {
			r.add(l.Line, "%v", err)
			continue
		}
		if first, dup := seen[fields[0]]; dup {
			r.add(l.Line, "%s is already configured on line %d", fields[0], first)
			continue
		}
		seen[fields[0]] = l.Line
		out = append(out, confEntry{name: fields[0], line: l.Line, fields: fields[1:]})
	}
	return r, out
}

// setting is one KEY=VALUE field of files.conf or scripts.conf.
type setting struct{ key, value string }

// settings parses KEY=VALUE fields, reporting malformed, unknown and repeated keys.
func settings(r reporter, line int, fields []string, known []string) []setting {
	var out []setting
	seen := map[string]bool{}
	for _, f := range fields {
		k, v, ok := strings.Cut(f, "=")
		switch {
		case !ok:
			r.add(line, "%q is not KEY=VALUE", f)
		case !slices.Contains(known, k):
			r.add(line, "unknown setting %q (known: %s)", k, strings.Join(known, ", "))
		case v == "":
			r.add(line, "%s is empty", k)
		case seen[k]:
			r.add(line, "%s is given twice", k)
		default:
			seen[k] = true
			out = append(out, setting{k, v})
		}
	}
	return out
}
