package importer

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const sampleStore = sampleDir

func TestCommandWritesManifestsToStdout(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := RunCommand([]string{sampleStore}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr.String())
	}
	golden, err := os.ReadFile(filepath.Join("testdata", "store.golden.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if stdout.String() != string(golden) {
		t.Errorf("stdout differs from the importer's golden output:\n%s", stdout.String())
	}
	if !strings.Contains(stderr.String(), "Imported 2 template(s) and 2 package bucket(s)") {
		t.Errorf("stderr: %q", stderr.String())
	}
}

func TestCommandWritesOutputFileWithNamespace(t *testing.T) {
	out := filepath.Join(t.TempDir(), "manifests.yaml")
	var stdout, stderr bytes.Buffer
	// Flags after the directory work too.
	if code := RunCommand([]string{sampleStore, "--namespace", "lab", "--output", out}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr.String())
	}
	if stdout.Len() != 0 {
		t.Errorf("stdout is not empty with --output: %q", stdout.String())
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Count(string(data), "\n  namespace: lab\n"); got != 4 {
		t.Errorf("%d objects carry namespace lab, want 4:\n%s", got, data)
	}
	if got := strings.Count(string(data), "---\n"); got != 4 {
		t.Errorf("%d documents, want 4", got)
	}
}

func TestCommandListsProblemsAndWritesNothing(t *testing.T) {
	dir := t.TempDir()
	store := filepath.Join(dir, "store")
	for path, content := range map[string]string{
		"web/template.conf": "os_template=local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst\ncolour=blue\ntags=Web\n",
		"web/packages.apt":  "curl\nNginx\n",
	} {
		p := filepath.Join(store, path)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out := filepath.Join(dir, "out.yaml")
	var stdout, stderr bytes.Buffer
	if code := RunCommand([]string{"--output", out, store}, &stdout, &stderr); code != 1 {
		t.Fatalf("exit %d, want 1; stderr:\n%s", code, stderr.String())
	}
	want := []string{
		filepath.Join(store, "web", "packages.apt") + `:2: "Nginx" is not an apt package`,
		filepath.Join(store, "web", "template.conf") + `:2: unknown key "colour"`,
		filepath.Join(store, "web", "template.conf") + `:3: tags: tag "Web" is not a Proxmox tag`,
		"import-templates: 3 problem(s) in " + store + "; nothing written",
	}
	lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
	if len(lines) != len(want) {
		t.Fatalf("stderr has %d lines, want %d:\n%s", len(lines), len(want), stderr.String())
	}
	for i := range want {
		if !strings.HasPrefix(lines[i], want[i]) {
			t.Errorf("stderr line %d:\n got  %s\n want %s…", i+1, lines[i], want[i])
		}
	}
	if stdout.Len() != 0 {
		t.Errorf("stdout: %q", stdout.String())
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("the output file was written despite the problems: %v", err)
	}
}

func TestCommandUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{nil, 1, "give exactly one template directory"},
		{[]string{sampleStore, sampleStore}, 1, "give exactly one template directory"},
		{[]string{"--colour", sampleStore}, 1, "flag provided but not defined"},
		{[]string{"-h"}, 0, "Usage: manager import-templates"},
		{[]string{"--namespace", "Bad_NS", sampleStore}, 1, `namespace "Bad_NS" is not valid`},
		{[]string{filepath.Join(t.TempDir(), "absent")}, 1, "no such file or directory"},
	} {
		var stdout, stderr bytes.Buffer
		code := RunCommand(tc.args, &stdout, &stderr)
		if code != tc.code || !strings.Contains(stderr.String(), tc.want) || stdout.Len() != 0 {
			t.Errorf("%q: exit %d, stderr %q; want exit %d and %q", tc.args, code, stderr.String(), tc.code, tc.want)
		}
	}
}
