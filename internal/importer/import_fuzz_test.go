package importer

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// FuzzImport writes one template directory from the fuzzed texts and imports it twice: the
// importer must never panic, and what it accepts it writes out the same way each time.
func FuzzImport(f *testing.F) {
	read := func(rel string) string {
		data, _ := os.ReadFile(filepath.Join(sampleDir, rel))
		return string(data)
	}
	f.Add(read("web/template.conf"), read("web/scripts.conf"), read("web/files.conf"),
		read("web/packages.apt"), read("web/config.env"), read("web/scripts/10-install.sh"))
	f.Add("name=t\nos_template=local:vztmpl/a.tar.zst\n", "", "", "", "", "#!/bin/sh\ntrue\n")
	f.Add("name=\"a \\\" b\nos_template='x\n", "10-install.sh timeout=0 timeout=\n", "/etc/x secret=a:b mode=9\n",
		"curl;reboot\n", "A=\"\\\n", "")
	f.Add("tags=;;\ncores=99999999999\nip=10.0.0.300/24\nservices=web:0/tcp\n", "", "\"/unterminated\n", "", "export =1\n", "\x00")
	f.Fuzz(func(t *testing.T, templateConf, scriptsConf, filesConf, packages, configEnv, script string) {
		root := t.TempDir()
		write := func(rel, content string) {
			p := filepath.Join(root, "t", filepath.FromSlash(rel))
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		write("template.conf", templateConf)
		write("scripts.conf", scriptsConf)
		write("files.conf", filesConf)
		write("packages.apt", packages)
		write("config.env", configEnv)
		write("scripts/10-install.sh", script)
		write("files/etc/motd", "hello\n")

		var outputs [2]string
		for i := range outputs {
			res, err := Import(root, Options{Namespace: "fuzz"})
			if err != nil {
				if _, ok := err.(Problems); !ok {
					t.Fatalf("import failed without problems: %v", err)
				}
				return
			}
			var out bytes.Buffer
			if err := WriteYAML(&out, res); err != nil {
				t.Fatalf("writing an accepted import: %v", err)
			}
			for _, tpl := range res.Templates {
				if tpl.Name == "" || tpl.Spec.OSTemplate == "" {
					t.Fatalf("accepted a template without a name or an OS template: %+v", tpl.ObjectMeta)
				}
			}
			outputs[i] = out.String()
		}
		if outputs[0] != outputs[1] {
			t.Fatalf("the same directory imported twice gave different output")
		}
	})
}
