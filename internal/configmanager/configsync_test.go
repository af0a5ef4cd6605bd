package configmanager

import (
	"bytes"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"templatemanager.dev/lxc-template-manager/internal/testkit"
)

// These tests run the real config-sync.sh with bash against a temporary root directory, the
// way the container runs it, with CONFIG_MANAGER_ROOT pointing at that directory.

type syncRun struct {
	stdout, stderr string
	exitCode       int
}

// syncRoot is a fake container root with config-manager installed into it.
type syncRoot struct {
	t    *testing.T
	root string
}

func newSyncRoot(t *testing.T) *syncRoot {
	t.Helper()
	testkit.RequireRoot(t, "sets file owners")
	return &syncRoot{t: t, root: t.TempDir()}
}

func (r *syncRoot) path(p string) string { return filepath.Join(r.root, p) }

// deploy uploads a rendered bundle the way the controller does: directories, then files with
// their mode and owner, each written to a temporary file and renamed.
func (r *syncRoot) deploy(cfg Config) *Bundle {
	r.t.Helper()
	b, err := Render(cfg)
	if err != nil {
		r.t.Fatalf("Render: %v", err)
	}
	for _, d := range b.Directories {
		if err := os.MkdirAll(r.path(d.Path), d.Mode); err != nil {
			r.t.Fatal(err)
		}
		if err := os.Chmod(r.path(d.Path), d.Mode); err != nil {
			r.t.Fatal(err)
		}
	}
	for _, f := range b.Files {
		p := r.path(f.Path)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			r.t.Fatal(err)
		}
		tmp := p + ".upload"
		if err := os.WriteFile(tmp, f.Content, 0o600); err != nil {
			r.t.Fatal(err)
		}
		if err := os.Chmod(tmp, f.Mode); err != nil {
			r.t.Fatal(err)
		}
		if err := os.Rename(tmp, p); err != nil {
			r.t.Fatal(err)
		}
	}
	return b
}

func (r *syncRoot) sync() syncRun {
	r.t.Helper()
	cmd := exec.Command("bash", r.path(SyncScriptPath))
	cmd.Env = append(os.Environ(), "CONFIG_MANAGER_ROOT="+r.root)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	run := syncRun{stdout: stdout.String(), stderr: stderr.String()}
	if err != nil {
		exit, ok := err.(*exec.ExitError)
		if !ok {
			r.t.Fatalf("running config-sync: %v", err)
		}
		run.exitCode = exit.ExitCode()
	}
	return run
}

// mustSync runs config-sync and fails the test unless it succeeded.
func (r *syncRoot) mustSync() syncRun {
	r.t.Helper()
	run := r.sync()
	if run.exitCode != 0 {
		r.t.Fatalf("config-sync exited %d\nstdout:\n%s\nstderr:\n%s", run.exitCode, run.stdout, run.stderr)
	}
	return run
}

func (r *syncRoot) write(p, content string, mode fs.FileMode, uid, gid int) {
	r.t.Helper()
	full := r.path(p)
	if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
		r.t.Fatal(err)
	}
	if err := os.WriteFile(full, []byte(content), mode); err != nil {
		r.t.Fatal(err)
	}
	if err := os.Chmod(full, mode); err != nil {
		r.t.Fatal(err)
	}
	if err := os.Lchown(full, uid, gid); err != nil {
		r.t.Fatal(err)
	}
}

func (r *syncRoot) read(p string) string {
	r.t.Helper()
	b, err := os.ReadFile(r.path(p))
	if err != nil {
		r.t.Fatal(err)
	}
	return string(b)
}

func (r *syncRoot) exists(p string) bool {
	_, err := os.Lstat(r.path(p))
	return err == nil
}

type fileMeta struct {
	mode     fs.FileMode
	uid, gid int
	ino      uint64
	mtime    time.Time
	size     int64
	symlink  bool
}

func (r *syncRoot) meta(p string) fileMeta {
	r.t.Helper()
	fi, err := os.Lstat(r.path(p))
	if err != nil {
		r.t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	return fileMeta{
		mode: fi.Mode() & (fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky),
		uid:  int(st.Uid), gid: int(st.Gid), ino: st.Ino, mtime: fi.ModTime(), size: fi.Size(),
		symlink: fi.Mode()&fs.ModeSymlink != 0,
	}
}

func (r *syncRoot) expectFile(p, content string, mode fs.FileMode, uid, gid int) {
	r.t.Helper()
	if got := r.read(p); got != content {
		r.t.Errorf("%s: content %q, want %q", p, got, content)
	}
	m := r.meta(p)
	if m.symlink {
		r.t.Errorf("%s: is a symbolic link, want a regular file", p)
	}
	if m.mode != mode {
		r.t.Errorf("%s: mode %v, want %v", p, m.mode, mode)
	}
	if m.uid != uid || m.gid != gid {
		r.t.Errorf("%s: owner %d:%d, want %d:%d", p, m.uid, m.gid, uid, gid)
	}
}

// snapshot records every file outside config-manager's own state, to prove a run changed nothing.
func (r *syncRoot) snapshot() map[string]fileMeta {
	r.t.Helper()
	out := map[string]fileMeta{}
	err := filepath.WalkDir(r.root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel := "/" + strings.TrimPrefix(strings.TrimPrefix(p, r.root), "/")
		if strings.HasPrefix(rel, StateDir) {
			return nil
		}
		out[rel] = r.meta(rel)
		return nil
	})
	if err != nil {
		r.t.Fatal(err)
	}
	return out
}

func diffSnapshots(before, after map[string]fileMeta) []string {
	var diffs []string
	for p, a := range after {
		b, ok := before[p]
		switch {
		case !ok:
			diffs = append(diffs, "new "+p)
		case a != b:
			diffs = append(diffs, "changed "+p)
		}
	}
	for p := range before {
		if _, ok := after[p]; !ok {
			diffs = append(diffs, "removed "+p)
		}
	}
	sort.Strings(diffs)
	return diffs
}

const nobody = 65534 // nobody:nogroup on Debian

func TestConfigSyncReplace(t *testing.T) {
	r := newSyncRoot(t)
	r.write("/etc/app/present.conf", "old\n", 0o600, 0, 0)
	r.write("/etc/app/same.conf", "same\n", 0o600, 0, 0)
	r.deploy(Config{Files: []ManagedFile{
		{Path: "/etc/app/absent.conf", Content: []byte("new absent\n"), Mode: 0o640, Owner: "nobody:nogroup"},
		{Path: "/etc/app/present.conf", Content: []byte("new present\n"), Mode: 0o644},
		// Same content, other mode and owner: fixed in place.
		{Path: "/etc/app/same.conf", Content: []byte("same\n"), Mode: 0o644, Owner: "65534:65534"},
		// Parent directories are created.
		{Path: "/opt/deep/er/tree/file", Content: []byte("deep\n"), Policy: PolicyReplace},
	}})
	sameIno := r.meta("/etc/app/same.conf").ino

	run := r.mustSync()

	r.expectFile("/etc/app/absent.conf", "new absent\n", 0o640, nobody, nobody)
	r.expectFile("/etc/app/present.conf", "new present\n", 0o644, 0, 0)
	r.expectFile("/etc/app/same.conf", "same\n", 0o644, nobody, nobody)
	r.expectFile("/opt/deep/er/tree/file", "deep\n", 0o644, 0, 0)
	if r.meta("/etc/app/same.conf").ino != sameIno {
		t.Error("same.conf was rewritten although only its owner and mode differed")
	}
	if fi, err := os.Stat(r.path("/opt/deep/er")); err != nil || fi.Mode().Perm() != 0o755 {
		t.Errorf("created parent directory: %v, mode %v; want 0755", err, fi.Mode().Perm())
	}
	for _, p := range []string{"/etc/app/present.conf.bak", "/etc/app/absent.conf.bak"} {
		if r.exists(p) {
			t.Errorf("%s exists; policy replace keeps no backup", p)
		}
	}
	for _, want := range []string{"/etc/app/absent.conf: installed (policy replace)", "/etc/app/same.conf: set owner 65534:65534 and mode 0644", "done: 4 files, 4 changes"} {
		if !strings.Contains(run.stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, run.stdout)
		}
	}
	if log := r.read(StateDir + "/config-sync/last-run.log"); !strings.Contains(log, "/etc/app/present.conf: installed") {
		t.Errorf("last-run.log does not record the install:\n%s", log)
	}
	if res := r.read(StateDir + "/config-sync/result"); res != "ok\n" {
		t.Errorf("result = %q, want ok", res)
	}
	// No temporary file is left beside a target.
	entries, _ := os.ReadDir(r.path("/etc/app"))
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".config-sync.") {
			t.Errorf("temporary file %s left behind", e.Name())
		}
	}
}

func TestConfigSyncModeOnlyAndSetuid(t *testing.T) {
	r := newSyncRoot(t)
	r.write("/usr/local/bin/tool", "#!/bin/sh\n", 0o755, nobody, nobody)
	r.deploy(Config{Files: []ManagedFile{
		// chown clears setuid: the script must chmod after chown.
		{Path: "/usr/local/bin/tool", Content: []byte("#!/bin/sh\n"), Mode: 0o755 | fs.ModeSetuid, Owner: "root:root"},
		{Path: "/srv/shared", Content: []byte("x"), Mode: 0o600 | fs.ModeSetgid | fs.ModeSticky, Owner: "root:nogroup"},
	}})
	r.mustSync()
	r.expectFile("/usr/local/bin/tool", "#!/bin/sh\n", 0o755|fs.ModeSetuid, 0, 0)
	r.expectFile("/srv/shared", "x", 0o600|fs.ModeSetgid|fs.ModeSticky, 0, nobody)

	// Only the mode drifted.
	if err := os.Chmod(r.path("/srv/shared"), 0o644); err != nil {
		t.Fatal(err)
	}
	run := r.mustSync()
	r.expectFile("/srv/shared", "x", 0o600|fs.ModeSetgid|fs.ModeSticky, 0, nobody)
	if !strings.Contains(run.stdout, "/srv/shared: set mode 3600") {
		t.Errorf("stdout does not report the mode fix:\n%s", run.stdout)
	}
}

func TestConfigSyncDefault(t *testing.T) {
	r := newSyncRoot(t)
	r.write("/etc/app/kept.conf", "operator's\n", 0o600, nobody, nobody)
	r.deploy(Config{Files: []ManagedFile{
		{Path: "/etc/app/kept.conf", Content: []byte("template's\n"), Mode: 0o644, Policy: PolicyDefault},
		{Path: "/etc/app/fresh.conf", Content: []byte("template's\n"), Mode: 0o640, Owner: "root:nogroup", Policy: PolicyDefault},
	}})
	run := r.mustSync()
	// Present: content, mode and owner untouched.
	r.expectFile("/etc/app/kept.conf", "operator's\n", 0o600, nobody, nobody)
	r.expectFile("/etc/app/fresh.conf", "template's\n", 0o640, 0, nobody)
	if !strings.Contains(run.stdout, "/etc/app/kept.conf: left as it is (policy default, the file exists)") {
		t.Errorf("stdout does not report the kept file:\n%s", run.stdout)
	}

	// Once written, a default file belongs to the operator: edits survive later runs.
	r.write("/etc/app/fresh.conf", "edited\n", 0o600, 0, 0)
	r.mustSync()
	r.expectFile("/etc/app/fresh.conf", "edited\n", 0o600, 0, 0)

	// A dangling symbolic link is something present too.
	if err := os.Symlink("/nonexistent", r.path("/etc/app/link.conf")); err != nil {
		t.Fatal(err)
	}
	r.deploy(Config{Files: []ManagedFile{{Path: "/etc/app/link.conf", Content: []byte("x"), Policy: PolicyDefault}}})
	r.mustSync()
	if !r.meta("/etc/app/link.conf").symlink {
		t.Error("policy default replaced an existing symbolic link")
	}
}

func TestConfigSyncBackup(t *testing.T) {
	r := newSyncRoot(t)
	r.write("/etc/app/differs.conf", "original\n", 0o600, nobody, nobody)
	r.write("/etc/app/same.conf", "managed\n", 0o644, 0, 0)
	r.deploy(Config{Files: []ManagedFile{
		{Path: "/etc/app/differs.conf", Content: []byte("managed v1\n"), Mode: 0o644, Policy: PolicyBackup},
		{Path: "/etc/app/absent.conf", Content: []byte("managed\n"), Mode: 0o644, Policy: PolicyBackup},
		{Path: "/etc/app/same.conf", Content: []byte("managed\n"), Mode: 0o644, Policy: PolicyBackup},
	}})
	run := r.mustSync()

	r.expectFile("/etc/app/differs.conf", "managed v1\n", 0o644, 0, 0)
	// The backup keeps the old file whole: content, mode and owner.
	r.expectFile("/etc/app/differs.conf.bak", "original\n", 0o600, nobody, nobody)
	r.expectFile("/etc/app/absent.conf", "managed\n", 0o644, 0, 0)
	r.expectFile("/etc/app/same.conf", "managed\n", 0o644, 0, 0)
	for _, p := range []string{"/etc/app/absent.conf.bak", "/etc/app/same.conf.bak"} {
		if r.exists(p) {
			t.Errorf("%s exists; nothing differed", p)
		}
	}
	if !strings.Contains(run.stdout, "/etc/app/differs.conf: kept the previous file as /etc/app/differs.conf.bak") {
		t.Errorf("stdout does not report the backup:\n%s", run.stdout)
	}

	// The template changes the managed content: the file config-sync wrote is replaced without
	// a backup, and the operator's original stays in .bak.
	r.deploy(Config{Files: []ManagedFile{
		{Path: "/etc/app/differs.conf", Content: []byte("managed v2\n"), Mode: 0o644, Policy: PolicyBackup},
	}})
	r.mustSync()
	r.expectFile("/etc/app/differs.conf", "managed v2\n", 0o644, 0, 0)
	r.expectFile("/etc/app/differs.conf.bak", "original\n", 0o600, nobody, nobody)

	// Someone edits the managed file: that edit is what the next backup keeps.
	r.write("/etc/app/differs.conf", "hand edit\n", 0o644, 0, 0)
	r.mustSync()
	r.expectFile("/etc/app/differs.conf", "managed v2\n", 0o644, 0, 0)
	r.expectFile("/etc/app/differs.conf.bak", "hand edit\n", 0o644, 0, 0)
}

func TestConfigSyncSymlinkTarget(t *testing.T) {
	r := newSyncRoot(t)
	r.write("/srv/real.conf", "real\n", 0o644, 0, 0)
	for _, link := range []string{"/etc/replace.conf", "/etc/backup.conf"} {
		if err := os.MkdirAll(filepath.Dir(r.path(link)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink("/srv/real.conf", r.path(link)); err != nil {
			t.Fatal(err)
		}
	}
	r.deploy(Config{Files: []ManagedFile{
		{Path: "/etc/replace.conf", Content: []byte("managed\n")},
		{Path: "/etc/backup.conf", Content: []byte("managed\n"), Policy: PolicyBackup},
	}})
	r.mustSync()
	// The link itself is replaced; what it pointed to is untouched.
	r.expectFile("/etc/replace.conf", "managed\n", 0o644, 0, 0)
	r.expectFile("/etc/backup.conf", "managed\n", 0o644, 0, 0)
	r.expectFile("/srv/real.conf", "real\n", 0o644, 0, 0)
	if m := r.meta("/etc/backup.conf.bak"); !m.symlink {
		t.Error("backup of a symbolic link is not the link")
	}
	if r.exists("/etc/replace.conf.bak") {
		t.Error("policy replace kept a backup")
	}
}

func TestConfigSyncIdempotent(t *testing.T) {
	r := newSyncRoot(t)
	r.write("/etc/app/backup.conf", "original\n", 0o600, 0, 0)
	r.write("/etc/app/default.conf", "operator's\n", 0o600, 0, 0)
	r.deploy(Config{Files: []ManagedFile{
		{Path: "/etc/app/replace.conf", Content: []byte("r\n"), Mode: 0o640, Owner: "nobody:nogroup"},
		{Path: "/etc/app/backup.conf", Content: []byte("b\n"), Policy: PolicyBackup},
		{Path: "/etc/app/default.conf", Content: []byte("d\n"), Policy: PolicyDefault},
		{Path: "/etc/app/new default.conf", Content: []byte("d\n"), Policy: PolicyDefault},
		{Path: "/opt/My Files/a b  c.txt", Content: []byte("spaces\n"), Policy: PolicyBackup},
	}})
	r.mustSync()
	before := r.snapshot()

	// Let any rewrite show in mtimes.
	time.Sleep(20 * time.Millisecond)
	run := r.mustSync()
	if d := diffSnapshots(before, r.snapshot()); len(d) > 0 {
		t.Errorf("second run changed files: %v\n%s", d, run.stdout)
	}
	if !strings.Contains(run.stdout, "done: 5 files, 0 changes") {
		t.Errorf("second run reports changes:\n%s", run.stdout)
	}
	r.expectFile("/etc/app/backup.conf.bak", "original\n", 0o600, 0, 0)
}

func TestConfigSyncOddNames(t *testing.T) {
	r := newSyncRoot(t)
	names := []string{
		"/srv/with space/and  two  spaces.txt",
		"/srv/ leading and trailing /x ",
		"/srv/-dash/-n",
		"/srv/marks/a+b,c:d=e@f%g~h_i.j-k",
		"/srv/mixed/100%",
	}
	r.write(names[0], "operator's\n", 0o644, 0, 0)
	var files []ManagedFile
	for i, n := range names {
		policy := PolicyReplace
		if i == 0 {
			policy = PolicyBackup
		}
		files = append(files, ManagedFile{Path: n, Content: []byte("content of " + n), Policy: policy})
	}
	r.deploy(Config{Files: files})
	r.mustSync()
	for _, n := range names {
		r.expectFile(n, "content of "+n, 0o644, 0, 0)
	}
	r.expectFile(names[0]+".bak", "operator's\n", 0o644, 0, 0)
	before := r.snapshot()
	r.mustSync()
	if d := diffSnapshots(before, r.snapshot()); len(d) > 0 {
		t.Errorf("second run changed files: %v", d)
	}
}

func TestConfigSyncFailures(t *testing.T) {
	r := newSyncRoot(t)
	if err := os.MkdirAll(r.path("/etc/app/is-a-dir"), 0o755); err != nil {
		t.Fatal(err)
	}
	r.write("/etc/app/blocker", "a file where a directory should be\n", 0o644, 0, 0)
	r.deploy(Config{Files: []ManagedFile{
		{Path: "/etc/app/is-a-dir", Content: []byte("x")},
		{Path: "/etc/app/unknown-user", Content: []byte("x"), Owner: "no-such-user-here:root"},
		{Path: "/etc/app/unknown-group", Content: []byte("x"), Owner: "root:no-such-group-here"},
		{Path: "/etc/app/blocker/child", Content: []byte("x")},
		{Path: "/etc/app/fine", Content: []byte("applied despite the others\n")},
	}})
	run := r.sync()
	if run.exitCode == 0 {
		t.Fatalf("config-sync succeeded with broken files:\n%s", run.stdout)
	}
	for _, want := range []string{
		"config-sync: error: /etc/app/is-a-dir: is a directory",
		"config-sync: error: /etc/app/unknown-user: owner no-such-user-here:root: no user no-such-user-here",
		"config-sync: error: /etc/app/unknown-group: owner root:no-such-group-here: no group no-such-group-here",
		"config-sync: error: /etc/app/blocker/child: cannot create its directory",
	} {
		if !strings.Contains(run.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, run.stderr)
		}
	}
	if !strings.Contains(run.stdout, "failed: 4 problems in 5 files") {
		t.Errorf("stdout lacks the summary:\n%s", run.stdout)
	}
	r.expectFile("/etc/app/fine", "applied despite the others\n", 0o644, 0, 0)
	if res := r.read(StateDir + "/config-sync/result"); res != "failed\n" {
		t.Errorf("result = %q, want failed", res)
	}
	if log := r.read(StateDir + "/config-sync/last-run.log"); !strings.Contains(log, "error: /etc/app/is-a-dir: is a directory") {
		t.Errorf("last-run.log lacks the error:\n%s", log)
	}
}

func TestConfigSyncDamagedContent(t *testing.T) {
	r := newSyncRoot(t)
	b := r.deploy(Config{Files: []ManagedFile{{Path: "/etc/app/x", Content: []byte("good")}}})
	var blob string
	for _, f := range b.Files {
		if strings.HasPrefix(f.Path, FilesDir+"/") && f.Path != ManifestPath {
			blob = f.Path
		}
	}
	if err := os.WriteFile(r.path(blob), []byte("evil"), 0o600); err != nil {
		t.Fatal(err)
	}
	run := r.sync()
	if run.exitCode == 0 || !strings.Contains(run.stderr, "/etc/app/x: desired content") {
		t.Errorf("damaged content not refused: exit %d\n%s", run.exitCode, run.stderr)
	}
	if r.exists("/etc/app/x") {
		t.Error("damaged content was installed")
	}

	if err := os.Remove(r.path(ManifestPath)); err != nil {
		t.Fatal(err)
	}
	run = r.sync()
	if run.exitCode == 0 || !strings.Contains(run.stderr, "manifest") || !strings.Contains(run.stderr, "is missing") {
		t.Errorf("missing manifest not reported: exit %d\n%s", run.exitCode, run.stderr)
	}
}

func TestConfigSyncMalformedManifest(t *testing.T) {
	r := newSyncRoot(t)
	r.deploy(Config{})
	sum := contentSum([]byte("x"))
	lines := []string{
		"replace\t0644\troot:root\t" + sum + "\t/etc/../etc/passwd",
		"replace\t0644\troot:root\t" + sum + "\trelative/path",
		"chmod\t0644\troot:root\t" + sum + "\t/etc/x",
		"replace\t644\troot:root\t" + sum + "\t/etc/x",
		"replace\t0644\troot;id:root\t" + sum + "\t/etc/x",
		"replace\t0644\troot:root\tnothex\t/etc/x",
	}
	manifest := manifestHeader + strings.Join(lines, "\n") + "\n"
	if err := os.WriteFile(r.path(ManifestPath), []byte(manifest), 0o600); err != nil {
		t.Fatal(err)
	}
	run := r.sync()
	if run.exitCode == 0 {
		t.Fatal("config-sync accepted a malformed manifest")
	}
	for i := range lines {
		want := "manifest line " + string(rune('3'+i)) + " is malformed"
		if !strings.Contains(run.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, run.stderr)
		}
	}
	if r.exists("/etc/x") || r.exists("/relative/path") {
		t.Error("a malformed line was applied")
	}
}

func TestConfigSyncPrunesOldContents(t *testing.T) {
	r := newSyncRoot(t)
	r.deploy(Config{Files: []ManagedFile{{Path: "/etc/app/x", Content: []byte("v1")}}})
	r.mustSync()
	old := r.path(blobPath(contentSum([]byte("v1"))))
	// An upload in progress: newer than the manifest, not named by it yet.
	upcoming := r.path(blobPath(contentSum([]byte("v3"))))

	r.deploy(Config{Files: []ManagedFile{{Path: "/etc/app/x", Content: []byte("v2")}}})
	past := time.Now().Add(-time.Hour)
	if err := os.Chtimes(old, past, past); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(upcoming, []byte("v3"), 0o600); err != nil {
		t.Fatal(err)
	}
	future := time.Now().Add(time.Hour)
	if err := os.Chtimes(upcoming, future, future); err != nil {
		t.Fatal(err)
	}
	r.mustSync()
	if r.exists(blobPath(contentSum([]byte("v1")))) {
		t.Error("content no longer in the manifest was kept")
	}
	if !r.exists(blobPath(contentSum([]byte("v2")))) {
		t.Error("content named by the manifest was removed")
	}
	if _, err := os.Stat(upcoming); err != nil {
		t.Errorf("content newer than the manifest was removed: %v", err)
	}
	r.expectFile("/etc/app/x", "v2", 0o644, 0, 0)
}

func TestConfigSyncPreparesDirectories(t *testing.T) {
	r := newSyncRoot(t)
	r.deploy(Config{})
	if err := os.RemoveAll(r.path(CredentialsDir)); err != nil {
		t.Fatal(err)
	}
	r.mustSync()
	for _, dir := range []string{CredentialsDir, FilesDir, StateDir} {
		fi, err := os.Stat(r.path(dir))
		if err != nil {
			t.Errorf("%s: %v", dir, err)
			continue
		}
		if !fi.IsDir() || fi.Mode().Perm() != 0o700 {
			t.Errorf("%s: mode %v, want a 0700 directory", dir, fi.Mode())
		}
	}
}
