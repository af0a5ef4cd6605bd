package configmanager

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"templatemanager.dev/lxc-template-manager/internal/discovery"
	"templatemanager.dev/lxc-template-manager/internal/testkit"
)

// scriptEnvRun runs script as a file exec'd by bash the way a detached run does — BASH_ENV
// naming the helper library — with CONFIG_MANAGER_ROOT at root and extra in its environment.
func scriptEnvRun(t *testing.T, root, script string, extra ...string) (string, int) {
	t.Helper()
	dir := t.TempDir()
	lib := filepath.Join(dir, "script-env.sh")
	if err := os.WriteFile(lib, ScriptEnv(), 0o644); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "script")
	if err := os.WriteFile(path, []byte("#!/bin/bash\n"+script), 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(path)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "BASH_ENV=" + lib, "CONFIG_MANAGER_ROOT=" + root}, extra...)
	out, err := cmd.CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return string(out), code
}

// The web3-dev template's first script calls log_info under set -euo pipefail: it must print
// the original's format and succeed, even with stdout closed.
func TestScriptEnvLogUnderStrictMode(t *testing.T) {
	out, code := scriptEnvRun(t, t.TempDir(), `set -euo pipefail
log_info "checking prerequisites"
log_warn "careful"
log_error "bad" "thing"
log_info "to a closed stdout" >&-
echo done
`)
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	for _, re := range []string{
		`(?m)^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\] \[INFO   \] checking prerequisites$`,
		`(?m)^\[[^]]+\] \[WARNING\] careful$`,
		`(?m)^\[[^]]+\] \[ERROR  \] bad thing$`,
		`(?m)^done$`,
	} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("output lacks %s:\n%s", re, out)
		}
	}
}

func TestScriptEnvGeneratePassword(t *testing.T) {
	out, code := scriptEnvRun(t, t.TempDir(), `set -euo pipefail
a=$(generate_password)
b=$(generate_password 40)
c=$(generate_password)
printf '%s\n%s\n%s\n' "$a" "$b" "$c"
`)
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	alnum := regexp.MustCompile(`^[A-Za-z0-9]+$`)
	if len(lines) != 3 || len(lines[0]) != 16 || len(lines[1]) != 40 || len(lines[2]) != 16 {
		t.Fatalf("lengths wrong: %q", lines)
	}
	for _, l := range lines {
		if !alnum.MatchString(l) {
			t.Errorf("%q is not letters and digits", l)
		}
	}
	if lines[0] == lines[2] {
		t.Error("two passwords are the same")
	}
	if out, code := scriptEnvRun(t, t.TempDir(), "set -e\ngenerate_password x\n"); code == 0 {
		t.Errorf("a length of x succeeded: %q", out)
	}
}

// save_credential writes the file the controller copies into <name>-credentials, readable by
// root only, and any value comes back exactly through discovery's parser.
func TestScriptEnvSaveCredential(t *testing.T) {
	root := t.TempDir()
	tricky := `pa ss "w" $HOME \n ` + "`x`" + ` # not a comment`
	out, code := scriptEnvRun(t, root, `set -euo pipefail
save_credential code-server CODE_SERVER_PASSWORD first
save_credential code-server CODE_SERVER_USER coder
save_credential code-server CODE_SERVER_PASSWORD "$TRICKY"
`, "TRICKY="+tricky)
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	dir := filepath.Join(root, discovery.SavedCredentialsDir)
	file := filepath.Join(dir, "code-server.env")
	for p, want := range map[string]os.FileMode{dir: 0o700, file: 0o600} {
		info, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if info.Mode().Perm() != want {
			t.Errorf("%s has mode %o, want %o", p, info.Mode().Perm(), want)
		}
	}
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	f := discovery.ParseCredentialsFile("code-server.env", data)
	if f.Err != nil {
		t.Fatalf("%v\n%s", f.Err, data)
	}
	got := map[string]string{}
	for _, v := range f.Vars {
		got[v.Name] = v.Value
	}
	if len(f.Vars) != 2 || got["CODE_SERVER_PASSWORD"] != tricky || got["CODE_SERVER_USER"] != "coder" {
		t.Errorf("vars %q from:\n%s", f.Vars, data)
	}
	if strings.Count(string(data), "CODE_SERVER_PASSWORD=") != 1 {
		t.Errorf("the replaced value is still there:\n%s", data)
	}
	if out, code := scriptEnvRun(t, root, "save_credential '../x' K v\n"); code == 0 {
		t.Errorf("a service name with a slash succeeded: %q", out)
	}
}

// The variables: the OS from os-release, the user from the template's file or the environment,
// and an address; the helpers that ask the system answer.
func TestScriptEnvVariables(t *testing.T) {
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "etc/config-manager"), 0o755); err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		"etc/os-release":                    "ID=linuxmint\nID_LIKE=\"ubuntu debian\"\nVERSION_ID=\"21.3\"\nVERSION=kept-out\n",
		"etc/config-manager/container-user": "dev\n",
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(root, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	script := `set -euo pipefail
echo "user=$CONTAINER_USER os=$CONTAINER_OS version=$CONTAINER_OS_VERSION VERSION=${VERSION:-unset}"
echo "ip=${CONTAINER_IP-unset}"
bash -c 'echo "child=$CONTAINER_USER"'
is_installed bash && echo bash-yes
is_installed no-such-command-here || echo missing-no
`
	out, code := scriptEnvRun(t, root, script, "CONTAINER_IP=192.0.2.7")
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	for _, want := range []string{"user=dev os=debian version=21.3 VERSION=unset\n", "ip=192.0.2.7\n", "child=dev\n", "bash-yes\n", "missing-no\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	out, _ = scriptEnvRun(t, root, `echo "user=$CONTAINER_USER"`, "CONTAINER_USER=preset")
	if out != "user=preset\n" {
		t.Errorf("a user in the environment was not kept: %q", out)
	}

	// The original's engine variables: the package manager found on PATH, and the first run
	// until the controller leaves its marker.
	bin := t.TempDir()
	if err := os.WriteFile(filepath.Join(bin, "apk"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	engine := `set -u; echo "pkg=$_PKG_MGR first=$CONFIG_MANAGER_FIRST_RUN"`
	out, _ = scriptEnvRun(t, root, engine, "PATH="+bin+":/usr/bin:/bin", "CONTAINER_IP=192.0.2.7")
	wantPkg := "apt"
	if _, err := exec.LookPath("apt-get"); err != nil {
		wantPkg = "apk"
	}
	if out != "pkg="+wantPkg+" first=true\n" {
		t.Errorf("before the marker: %q, want pkg=%s first=true", out, wantPkg)
	}
	out, _ = scriptEnvRun(t, root, engine, "PATH="+bin, "CONTAINER_IP=192.0.2.7")
	if out != "pkg=apk first=true\n" {
		t.Errorf("with only apk on PATH: %q", out)
	}
	marker := filepath.Join(root, FirstRunMarker)
	if err := os.MkdirAll(filepath.Dir(marker), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(marker, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, _ = scriptEnvRun(t, root, engine, "PATH="+bin, "CONTAINER_IP=192.0.2.7"); out != "pkg=apk first=false\n" {
		t.Errorf("after the marker: %q, want first=false", out)
	}
}

// run_as_user runs the command as CONTAINER_USER with that user's HOME and USER.
func TestScriptEnvRunAsUser(t *testing.T) {
	testkit.RequireRoot(t, "run_as_user switches users")
	out, code := scriptEnvRun(t, t.TempDir(), `set -euo pipefail
run_as_user sh -c 'echo "$(id -un) $HOME $USER"'
run_as_user false || echo "exit=$?"
`, "CONTAINER_USER=nobody")
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	home := "/nonexistent"
	if data, err := exec.Command("getent", "passwd", "nobody").Output(); err == nil {
		home = strings.Split(strings.TrimSpace(string(data)), ":")[5]
	}
	if want := "nobody " + home + " nobody\nexit=1\n"; out != want {
		t.Errorf("got %q, want %q", out, want)
	}
	if out, code := scriptEnvRun(t, t.TempDir(), "run_as_user true\n", "CONTAINER_USER=no-such-user-x"); code == 0 {
		t.Errorf("a missing user succeeded: %q", out)
	}
}
