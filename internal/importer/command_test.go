package importer

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCommandWritesManifestsToStdout(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := RunCommand([]string{sampleDir}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr.String())
	}
	golden, err := os.ReadFile(goldenFile)
	if err != nil {
		t.Fatal(err)
	}
	if stdout.String() != string(golden) {
		t.Errorf("stdout differs from the golden output:\n%s", stdout.String())
	}
	for _, want := range []string{
		"Skipped " + filepath.Join(sampleDir, "devbox", "container.sh") + ": the store's creation script, not imported",
		"Skipped " + filepath.Join(sampleDir, "devbox", "README.md") + ": documentation, not imported",
		"Imported 3 template(s) and 4 package bucket(s)",
	} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr.String())
		}
	}
}

func TestCommandWritesOutputFileWithNamespace(t *testing.T) {
	out := filepath.Join(t.TempDir(), "manifests.yaml")
	var stdout, stderr bytes.Buffer
	// Flags after the directory work too.
	if code := RunCommand([]string{sampleDir, "--namespace", "lab", "--output", out}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr.String())
	}
	if stdout.Len() != 0 {
		t.Errorf("stdout is not empty with --output: %q", stdout.String())
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Count(string(data), "\n  namespace: lab\n"); got != 7 {
		t.Errorf("%d objects carry namespace lab, want 7:\n%s", got, data)
	}
}

func TestCommandReportsProblemsAndWritesNothing(t *testing.T) {
	dir := writeStore(t, map[string]string{tp + "template.conf": "TEMPLATE_CPU=0\n"})
	out := filepath.Join(t.TempDir(), "manifests.yaml")
	var stdout, stderr bytes.Buffer
	if code := RunCommand([]string{"--output", out, dir}, &stdout, &stderr); code != 1 {
		t.Fatalf("exit %d, want 1", code)
	}
	want := filepath.Join(dir, "t", "template.conf") + ":1: TEMPLATE_CPU: 0 is outside 1–8192"
	if !strings.Contains(stderr.String(), want) || !strings.Contains(stderr.String(), "1 problem(s)") {
		t.Errorf("stderr:\n%s", stderr.String())
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("output written despite problems: %v", err)
	}
}

func TestCommandRefusesBadFlags(t *testing.T) {
	for _, args := range [][]string{{}, {"a", "b"}, {"--dry-run", sampleDir}, {"--apply", sampleDir}, {"--apply", "--namespace", "x", "--output", "f", sampleDir}} {
		var stdout, stderr bytes.Buffer
		if code := RunCommand(args, &stdout, &stderr); code != 1 {
			t.Errorf("%v: exit %d, want 1", args, code)
		}
	}
}
