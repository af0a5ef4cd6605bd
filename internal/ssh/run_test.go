package ssh

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestRunIDValidation(t *testing.T) {
	for _, s := range []string{"a", "0", "script-install-3f2a9c1b", strings.Repeat("a", 63), "a-b-c"} {
		if _, err := ParseRunID(s); err != nil {
			t.Errorf("ParseRunID(%q) = %v", s, err)
		}
	}
	for _, s := range []string{"", "-a", "a-", "A", "a_b", "a.b", "a/b", "../x", "a b", "a;b", strings.Repeat("a", 64), "ä"} {
		if _, err := ParseRunID(s); err == nil {
			t.Errorf("ParseRunID(%q) accepted", s)
		}
	}
}

func TestRunIDNames(t *testing.T) {
	id := RunID("setup-1")
	if id.Unit() != "lxctm-run-setup-1.service" {
		t.Errorf("Unit = %q", id.Unit())
	}
	if id.Dir() != "/var/lib/config-manager/runs/setup-1" {
		t.Errorf("Dir = %q", id.Dir())
	}
}

func TestMakeRunID(t *testing.T) {
	cases := []struct {
		parts []string
		want  RunID
	}{
		{[]string{"Install Nginx", "3F2A9C1B"}, "install-nginx-3f2a9c1b"},
		{[]string{"--weird__name..", "x"}, "weird-name-x"},
		{[]string{"", "!!"}, "run"},
		{[]string{"scripts/01_setup.sh"}, "scripts-01-setup-sh"},
	}
	for _, tc := range cases {
		if got := MakeRunID(tc.parts...); got != tc.want {
			t.Errorf("MakeRunID(%q) = %q, want %q", tc.parts, got, tc.want)
		}
	}
	long1 := MakeRunID(strings.Repeat("long-script-name-", 5)+"a", "hash")
	long2 := MakeRunID(strings.Repeat("long-script-name-", 5)+"b", "hash")
	for _, id := range []RunID{long1, long2} {
		if err := id.Validate(); err != nil {
			t.Errorf("long id %q invalid: %v", id, err)
		}
	}
	if long1 == long2 {
		t.Errorf("distinct long inputs gave the same id %q", long1)
	}
}

// shellValues sources an env file the way the wrapper does and prints the named variables.
func shellValues(t *testing.T, env []byte, keys ...string) []string {
	t.Helper()
	file := filepath.Join(t.TempDir(), "env")
	if err := os.WriteFile(file, env, 0o600); err != nil {
		t.Fatal(err)
	}
	script := `set -a; . "$1"; set +a; shift; for k in "$@"; do printenv "$k"; printf '\036'; done`
	out, err := exec.Command("/bin/sh", append([]string{"-c", script, "sh", file}, keys...)...).Output()
	if err != nil {
		t.Fatalf("sourcing env file: %v", err)
	}
	vals := strings.Split(string(out), "\036")
	vals = vals[:len(vals)-1]
	for i := range vals {
		vals[i] = strings.TrimSuffix(vals[i], "\n")
	}
	return vals
}

func TestRenderEnvSurvivesTheShell(t *testing.T) {
	env := map[string]string{
		"PLAIN":   "value",
		"QUOTES":  `it's "quoted" $(echo no) ` + "`echo no`",
		"LINES":   "first\nsecond\n\nfourth",
		"SPACES":  "  padded  ",
		"EMPTY":   "",
		"_under1": "x;rm -rf /;'",
	}
	data, err := renderEnv(env)
	if err != nil {
		t.Fatal(err)
	}
	keys := []string{"EMPTY", "LINES", "PLAIN", "QUOTES", "SPACES", "_under1"}
	got := shellValues(t, data, keys...)
	for i, k := range keys {
		if got[i] != env[k] {
			t.Errorf("%s = %q after sourcing, want %q", k, got[i], env[k])
		}
	}
	if !strings.HasPrefix(string(data), "EMPTY=''\nLINES=") {
		t.Errorf("keys not sorted: %q", data)
	}
}

func TestRenderEnvRejectsBadInput(t *testing.T) {
	for _, env := range []map[string]string{{"1X": "a"}, {"A-B": "a"}, {"A B": "a"}, {"": "a"}, {"OK": "a\x00b"}} {
		if _, err := renderEnv(env); err == nil {
			t.Errorf("renderEnv(%q) accepted", env)
		} else if strings.Contains(err.Error(), "a\x00b") {
			t.Errorf("error shows the value: %v", err)
		}
	}
}

// runWrapper runs the wrapper for a run directory on this host, as systemd would in a container.
func runWrapper(t *testing.T, script string, env map[string]string, timeout time.Duration) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "run 'x'")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	envData, err := renderEnv(env)
	if err != nil {
		t.Fatal(err)
	}
	for name, f := range map[string]struct {
		data []byte
		mode os.FileMode
	}{
		"script": {[]byte(script), 0o700},
		"env":    {envData, 0o600},
		"run.sh": {renderWrapper(dir, timeout), 0o700},
	} {
		if err := os.WriteFile(filepath.Join(dir, name), f.data, f.mode); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command("/bin/sh", filepath.Join(dir, "run.sh"))
	cmd.Env = []string{"PATH=/usr/local/bin:/usr/bin:/bin"}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("wrapper failed: %v\n%s", err, out)
	}
	return dir
}

func readTrimmed(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

func TestWrapperRecordsOutcome(t *testing.T) {
	before := time.Now().UTC().Truncate(time.Second)
	dir := runWrapper(t, "echo out; echo err >&2; echo \"greeting=$GREETING home=$HOME pwd=$(pwd)\"; exit 7\n",
		map[string]string{"GREETING": "hello 'world'"}, 0)
	if code := readTrimmed(t, filepath.Join(dir, "exit-code")); code != "7" {
		t.Errorf("exit-code = %q, want 7", code)
	}
	if _, err := os.Stat(filepath.Join(dir, "env")); !os.IsNotExist(err) {
		t.Errorf("the run's env file is still there (%v): its Secret values outlive the run", err)
	}
	// The script starts in root's home, or in / when it cannot enter it (the unit tests run as
	// another user than root).
	pwd := "/root"
	if syscall.Access("/root", 1 /* X_OK */) != nil {
		pwd = "/"
	}
	out := readTrimmed(t, filepath.Join(dir, "output.log"))
	if want := "out\nerr\ngreeting=hello 'world' home=/root pwd=" + pwd; out != want {
		t.Errorf("output.log = %q, want %q", out, want)
	}
	for _, name := range []string{"started-at", "finished-at"} {
		ts, err := time.Parse(time.RFC3339, readTrimmed(t, filepath.Join(dir, name)))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if ts.Before(before) || ts.After(time.Now().Add(time.Second)) {
			t.Errorf("%s = %v, not around now", name, ts)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "exit-code.tmp")); !os.IsNotExist(err) {
		t.Errorf("exit-code.tmp left behind: %v", err)
	}
}

func TestWrapperRunsScriptWithInterpreterLine(t *testing.T) {
	perl := "/usr/bin/perl"
	if _, err := os.Stat(perl); err != nil {
		t.Fatalf("perl is part of Debian's base system and expected here: %v", err)
	}
	dir := runWrapper(t, "#!/usr/bin/perl\nprint \"from perl $ENV{X}\\n\"; exit 3;\n", map[string]string{"X": "42"}, 0)
	if got := readTrimmed(t, filepath.Join(dir, "output.log")); got != "from perl 42" {
		t.Errorf("output = %q", got)
	}
	if got := readTrimmed(t, filepath.Join(dir, "exit-code")); got != "3" {
		t.Errorf("exit-code = %q, want 3", got)
	}
}

func TestWrapperStopsScriptAtTimeout(t *testing.T) {
	start := time.Now()
	dir := runWrapper(t, "echo begin; sleep 30; echo never\n", nil, time.Second)
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("wrapper took %v despite a 1s timeout", took)
	}
	if got := readTrimmed(t, filepath.Join(dir, "exit-code")); got != strconv.Itoa(TimeoutExitCode) {
		t.Errorf("exit-code = %q, want %d", got, TimeoutExitCode)
	}
	if got := readTrimmed(t, filepath.Join(dir, "output.log")); got != "begin" {
		t.Errorf("output = %q", got)
	}
}

func TestWrapperNeverRerunsAFinishedRun(t *testing.T) {
	dir := runWrapper(t, "echo ran >> \"$(dirname \"$0\")/count\"; exit 5\n", nil, 0)
	if got := readTrimmed(t, filepath.Join(dir, "count")); got != "ran" {
		t.Fatalf("count = %q", got)
	}
	finished := readTrimmed(t, filepath.Join(dir, "finished-at"))
	cmd := exec.Command("/bin/sh", filepath.Join(dir, "run.sh"))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("second wrapper run: %v\n%s", err, out)
	}
	if got := readTrimmed(t, filepath.Join(dir, "count")); got != "ran" {
		t.Errorf("the script ran again: count = %q", got)
	}
	if readTrimmed(t, filepath.Join(dir, "exit-code")) != "5" || readTrimmed(t, filepath.Join(dir, "finished-at")) != finished {
		t.Errorf("the record of the first run changed")
	}
}
