package configmanager

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"templatemanager.dev/lxc-template-manager/internal/testkit"
)

func TestValidatePackageName(t *testing.T) {
	ok := map[PackageManager][]string{
		Apt: {"nginx", "libc6:amd64", "g++", "python3.11", "curl=7.88.1-10+deb12u5", "openssh-server=1:9.2p1-2", "lib32z1:i386=1:1.2.13", "nodejs=24.*", "nginx/bookworm-backports",
			"0ad", "libc6:" + strings.Repeat("a", 32), "nginx/" + strings.Repeat("b", 64), strings.Repeat("a", MaxPackageNameLength)},
		Apk: {"nginx", "py3-pip", "busybox=1.36.1-r2", "curl~8", "openssl>=3.1", "gcc<13", "a"},
		Dnf: {"nginx", "nginx-1.20.1", "nginx-1:1.20.1-14.el9.x86_64", "python3.11", "gcc-c++", "perl_Test", "nodejs-24.*", "NetworkManager", strings.Repeat("d", MaxPackageNameLength)},
		Pip: {"requests", "Django==4.2.7", "uvicorn[standard]", "black[d,jupyter]>=23.1", "zope.interface~=6.0", "foo-bar_baz", "pkg!=1.0", "numpy<2", "pip===23.3.1", "requests>=2.31,<3",
			"requests[socks]==2.31", "torch==2.1.0+cpu", "pkg==1!2.0"},
		Npm: {"express", "@types/node", "@angular/cli@17.0.0", "typescript@^5.2", "lodash@~4.17.21", "pm2@latest", "left-pad@>=1.0.0", "x@*"},
	}
	for m, names := range ok {
		for _, n := range names {
			if err := ValidatePackageName(m, n); err != nil {
				t.Errorf("%s %q refused: %v", m, n, err)
			}
		}
	}
	refused := map[PackageManager][]string{
		// Debian package names have two characters or more.
		Apt: {"a", "a=1.0", "a:amd64", "Curl", "node*", "libc6:" + strings.Repeat("a", 33), "nginx/" + strings.Repeat("b", 65)},
		Apk: {"curl>", "curl=latest"},
		Dnf: {"@development-tools", strings.Repeat("d", MaxPackageNameLength+1)},
		Pip: {"requests@2.0", "_private", "pkg[]", "pkg[,]", "pkg>=latest"},
		Npm: {"LeftPad", "@scope", "x@**", "@" + strings.Repeat("s", 60) + "/" + strings.Repeat("n", 70)},
	}
	for m, names := range refused {
		for _, n := range names {
			if err := ValidatePackageName(m, n); err == nil {
				t.Errorf("%s %q accepted", m, n)
			}
		}
	}
	hostile := []string{
		"", " nginx", "nginx ", "nginx curl", "nginx;id", "a;rm -rf /", "nginx&&id", "nginx|id", "$(id)", "$(x)", "${x}", "`id`", "nginx'", `nginx"`,
		"nginx\nid", "nginx\\", "-y", "--allow-unauthenticated", "../../etc/passwd", "nginx>out", "(x)", "x@$(id)", "tool@^1.2;id",
		"nginx\x00", "nginx\t", "nginx=1.*;id", "nginx=$(id)", "nginx/../x", "n\u00e4me", "requests>=2, <3", "requests>/etc/passwd",
		strings.Repeat("a", 300),
	}
	for _, m := range PackageManagers {
		for _, n := range hostile {
			if err := ValidatePackageName(m, n); err == nil {
				t.Errorf("%s %q accepted", m, n)
			}
		}
	}
	if err := ValidatePackageName("brew", "wget"); err == nil {
		t.Error("unknown manager accepted")
	}
}

// TestPackageNameRules checks what the API's CEL rules rely on: each manager has a rule, and
// its pattern can be quoted verbatim in a CEL string.
func TestPackageNameRules(t *testing.T) {
	for _, m := range PackageManagers {
		r, ok := PackageNameRuleFor(m)
		if !ok {
			t.Errorf("%s has no rule", m)
			continue
		}
		if strings.ContainsAny(r.Pattern, `\'"`) {
			t.Errorf("%s pattern holds a backslash or quote, which CEL would read differently: %s", m, r.Pattern)
		}
		if !strings.HasPrefix(r.Message, string(m)+" package names are ") {
			t.Errorf("%s message does not say whose names it describes: %s", m, r.Message)
		}
	}
	if _, ok := PackageNameRuleFor("brew"); ok {
		t.Error("brew has a rule")
	}
}

func TestRenderPackageInstallGolden(t *testing.T) {
	cases := map[PackageManager][]string{
		Apt: {"nginx", "curl=7.88.1-10+deb12u5", "nginx"},
		Apk: {"nginx", "openssl>=3.1"},
		Dnf: {"nginx-1:1.20.1-14.el9"},
		Pip: {"uvicorn[standard]", "Django==4.2.7"},
		Npm: {"@angular/cli@17.0.0", "typescript@^5.2"},
	}
	for m, names := range cases {
		script, err := RenderPackageInstall(m, names)
		if err != nil {
			t.Fatalf("%s: %v", m, err)
		}
		golden(t, "install-"+string(m)+".sh.golden", script)
		syntax := exec.Command("bash", "-n")
		syntax.Stdin = strings.NewReader(string(script))
		if out, err := syntax.CombinedOutput(); err != nil {
			t.Errorf("%s script is not valid bash: %v\n%s", m, err, out)
		}
	}
}

// TestRenderPackageInstallPassesNamesIntact runs the script's package list through bash with
// the install commands replaced, to see the names arrive as separate, unaltered words.
func TestRenderPackageInstallPassesNamesIntact(t *testing.T) {
	names := []string{"typescript@^5.2", "left-pad@>=1.0.0", "@types/node", "x@*"}
	script, err := RenderPackageInstall(Npm, names)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	// A stand-in npm that prints its arguments, one per line.
	fake := "#!/bin/sh\nfor a in \"$@\"; do printf '%s\\n' \"$a\"; done\n"
	if err := os.WriteFile(filepath.Join(dir, "npm"), []byte(fake), 0o755); err != nil {
		t.Fatal(err)
	}
	// A file named like a glob match must not be substituted for x@*.
	if err := os.WriteFile(filepath.Join(dir, "x@glob"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("bash", "-c", string(script))
	cmd.Dir = dir
	cmd.Env = []string{"PATH=" + dir + ":/usr/bin:/bin"}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("script failed: %v\n%s", err, out)
	}
	want := "install\n--global\n--no-audit\n--no-fund\n" + strings.Join(names, "\n") + "\n"
	if !strings.Contains(string(out), want) {
		t.Errorf("npm received:\n%s\nwant the words:\n%s", out, want)
	}
}

func TestRenderPackageInstallRejects(t *testing.T) {
	if _, err := RenderPackageInstall(Apt, []string{"nginx", "curl; rm -rf /"}); err == nil || !strings.Contains(err.Error(), "curl; rm -rf /") {
		t.Errorf("hostile name: %v", err)
	}
	if _, err := RenderPackageInstall(Apt, nil); err == nil {
		t.Error("empty list accepted")
	}
	if _, err := RenderPackageInstall("yum", []string{"x"}); err == nil {
		t.Error("unknown manager accepted")
	}
}

// TestAptInstallOffline runs the rendered apt script on this Debian host without a network and
// without package lists — as in a fresh container with no route to a mirror — inside a private
// mount and network namespace, with apt's and dpkg's state behind overlays so the host's own
// state is never touched. Packages that are already installed must succeed; a missing package
// must fail.
func TestAptInstallOffline(t *testing.T) {
	testkit.RequireRoot(t, "installs packages offline in namespaces of its own")
	for _, tool := range []string{"unshare", "apt-get", "dpkg-query", "mount"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is missing: %v", tool, err)
		}
	}
	version, err := exec.Command("dpkg-query", "-W", "-f=${Version}", "coreutils").Output()
	if err != nil {
		t.Fatalf("dpkg-query: %v", err)
	}
	present, err := RenderPackageInstall(Apt, []string{"bash", "coreutils=" + string(version)})
	if err != nil {
		t.Fatal(err)
	}
	absent, err := RenderPackageInstall(Apt, []string{"bash", "lxctm-no-such-package"})
	if err != nil {
		t.Fatal(err)
	}

	run := func(script []byte) (string, error) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "install.sh"), script, 0o755); err != nil {
			t.Fatal(err)
		}
		sandbox := `set -eu
work=$1
for d in /var/lib/apt /var/lib/dpkg /var/cache/apt /var/log/apt; do
	n=$work/overlay$(printf '%s' "$d" | tr / _)
	mkdir -p "$n/upper" "$n/work"
	mount -t overlay overlay -o "lowerdir=$d,upperdir=$n/upper,workdir=$n/work" "$d"
done
rm -rf /var/lib/apt/lists/*
exec bash "$work/install.sh"
`
		cmd := exec.Command("unshare", "--mount", "--net", "--propagation", "private", "bash", "-c", sandbox, "sandbox", dir)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}

	out, err := run(present)
	if err != nil {
		t.Fatalf("installing present packages offline failed: %v\n%s", err, out)
	}
	for _, want := range []string{"apt-get update failed", "bash is already the newest version", "coreutils is already the newest version", "apt packages installed"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}

	out, err = run(absent)
	if err == nil {
		t.Fatalf("installing a missing package offline succeeded:\n%s", out)
	}
	if !strings.Contains(out, "Unable to locate package lxctm-no-such-package") {
		t.Errorf("output does not name the missing package:\n%s", out)
	}
}
