package configmanager

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"templatemanager.dev/lxc-template-manager/internal/discovery"
)

// awkwardValues are values that break naive quoting.
var awkwardValues = []EnvVar{
	{"PLAIN", "hello"},
	{"EMPTY", ""},
	{"SPACES", "  two  words  "},
	{"DOLLAR", "$HOME and ${PATH} and $(id) and $((1+1))"},
	{"BACKTICK", "`id`"},
	{"QUOTES", `it's "quoted"`},
	{"BACKSLASH", `C:\path\to\n and trailing \`},
	{"NEWLINES", "line one\nline two\n\nline four"},
	{"CRLF", "a\r\nb"},
	{"BANG", "!! !$ history"},
	{"GLOB", "* ? [a-z]"},
	{"SEMICOLON", "a; rm -rf / && echo pwned | cat > /tmp/x"},
	{"HASH", "#not a comment # either"},
	{"UNICODE", "grüße 🚀 日本"},
	{"EQUALS", "a=b=c"},
	{"TAB", "a\tb"},
}

// TestRenderEnvBashReadsBack sources the rendered file with bash, as scripts do, and checks
// every value comes back byte for byte.
func TestRenderEnvBashReadsBack(t *testing.T) {
	content, err := RenderEnv(awkwardValues)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "config.env")
	if err := os.WriteFile(path, content, 0o600); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, v := range awkwardValues {
		names = append(names, v.Name)
	}
	script := `set -eu; set -a; . "$1"; set +a; shift; for n in "$@"; do printf '%s\0' "${!n}"; done`
	cmd := exec.Command("bash", append([]string{"-c", script, "bash", path}, names...)...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=/root"}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("bash: %v\n%s", err, stderr.String())
	}
	got := strings.Split(strings.TrimSuffix(string(out), "\x00"), "\x00")
	if len(got) != len(awkwardValues) {
		t.Fatalf("bash printed %d values, want %d", len(got), len(awkwardValues))
	}
	for i, v := range awkwardValues {
		if got[i] != v.Value {
			t.Errorf("%s: bash read %q, want %q", v.Name, got[i], v.Value)
		}
	}
	if stderr.Len() > 0 {
		t.Errorf("bash complained: %s", stderr.String())
	}
}

// TestRenderEnvParsesBack reads the rendered file with the credentials parser, which follows
// the rules of systemd's EnvironmentFile= for double-quoted values.
func TestRenderEnvParsesBack(t *testing.T) {
	content, err := RenderEnv(awkwardValues)
	if err != nil {
		t.Fatal(err)
	}
	vars, err := discovery.ParseEnvFile("config.env", content)
	if err != nil {
		t.Fatal(err)
	}
	if len(vars) != len(awkwardValues) {
		t.Fatalf("parsed %d variables, want %d", len(vars), len(awkwardValues))
	}
	for i, v := range awkwardValues {
		if vars[i].Name != v.Name || vars[i].Value != v.Value {
			t.Errorf("parsed %s=%q, want %s=%q", vars[i].Name, vars[i].Value, v.Name, v.Value)
		}
	}
}

func TestRenderEnvRejects(t *testing.T) {
	const secret = "s3cr3t-value"
	for _, tc := range []struct {
		name string
		vars []EnvVar
		want string
	}{
		{"digit first", []EnvVar{{"1ABC", "x"}}, "not a shell variable name"},
		{"dash", []EnvVar{{"A-B", "x"}}, "not a shell variable name"},
		{"space", []EnvVar{{"A B", "x"}}, "not a shell variable name"},
		{"injection", []EnvVar{{"A=$(id)", "x"}}, "not a shell variable name"},
		{"empty", []EnvVar{{"", "x"}}, "not a shell variable name"},
		{"newline", []EnvVar{{"A\nB", "x"}}, "not a shell variable name"},
		{"nul value", []EnvVar{{"A", secret + "\x00"}}, "NUL"},
		{"bad utf-8", []EnvVar{{"A", secret + "\xff"}}, "UTF-8"},
		{"huge", []EnvVar{{"A", secret + strings.Repeat("x", maxEnvValue)}}, "longer than"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := RenderEnv(tc.vars)
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not say %q", err, tc.want)
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("error %q quotes the value", err)
			}
		})
	}
}

func TestMergeEnv(t *testing.T) {
	template := []EnvVar{{"A", "1"}, {"B", "2"}, {"C", "3"}}
	container := []EnvVar{{"B", "20"}, {"D", "4"}, {"A", "10"}}
	got := MergeEnv(template, container)
	want := []EnvVar{{"A", "10"}, {"B", "20"}, {"C", "3"}, {"D", "4"}}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("got %v, want %v", got, want)
			break
		}
	}
	// The inputs are not modified.
	if template[0].Value != "1" {
		t.Error("MergeEnv modified its input")
	}
}

// FuzzRenderEnv checks that whatever RenderEnv accepts, the env-file parser reads back exactly.
func FuzzRenderEnv(f *testing.F) {
	for _, v := range awkwardValues {
		f.Add(v.Name, v.Value)
	}
	f.Add("X", `\"`)
	f.Add("X", "\\\n")
	f.Add("X", "'")
	f.Add("X", "\"\n#")
	f.Fuzz(func(t *testing.T, name, value string) {
		content, err := RenderEnv([]EnvVar{{name, value}, {"AFTER", "sentinel"}})
		if err != nil {
			return
		}
		vars, err := discovery.ParseEnvFile("config.env", content)
		if err != nil {
			t.Fatalf("rendered file does not parse: %v\n%q", err, content)
		}
		if len(vars) != 2 || vars[0].Name != name || vars[0].Value != value || vars[1].Value != "sentinel" {
			t.Fatalf("read back %q from %q", vars, content)
		}
	})
}
