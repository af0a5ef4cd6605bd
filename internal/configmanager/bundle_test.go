package configmanager

import (
	"bytes"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"templatemanager.dev/lxc-template-manager/internal/discovery"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// golden compares got with testdata/<name>, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if string(got) != string(want) {
		t.Errorf("%s differs from the golden file:\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

func sampleConfig() Config {
	return Config{
		Env: []EnvVar{
			{"APP_NAME", "demo"},
			{"GREETING", `Hello "world" from $HOME`},
			{"APP_NAME", "demo-override"},
		},
		Files: []ManagedFile{
			{Path: "/etc/nginx/conf.d/site.conf", Content: []byte("server { listen 80; }\n"), Mode: 0o644, Owner: "root:root", Policy: PolicyReplace},
			{Path: "/etc/demo/app settings.ini", Content: []byte("[main]\nkey=value\n"), Mode: 0o640, Owner: "www-data:www-data", Policy: PolicyBackup},
			{Path: "/usr/local/bin/helper", Content: []byte("#!/bin/sh\necho hi\n"), Mode: 0o4755, Policy: PolicyDefault},
			// Same content as the first: stored once.
			{Path: "/etc/nginx/conf.d/copy.conf", Content: []byte("server { listen 80; }\n")},
		},
		ContainerUser: "coder",
	}
}

func TestRenderGolden(t *testing.T) {
	b, err := Render(sampleConfig())
	if err != nil {
		t.Fatal(err)
	}
	var listing strings.Builder
	for _, d := range b.Directories {
		fmt.Fprintf(&listing, "dir  %s %s %s\n", octalMode(d.Mode), d.Owner, d.Path)
	}
	contents := map[string][]byte{}
	for _, f := range b.Files {
		fmt.Fprintf(&listing, "file %s %s %s\n", octalMode(f.Mode), f.Owner, f.Path)
		contents[f.Path] = f.Content
	}
	golden(t, "bundle.golden", []byte(listing.String()))
	golden(t, "config.env.golden", contents[EnvPath])
	if got := string(contents[ContainerUserPath]); got != "coder\n" {
		t.Errorf("container-user holds %q", got)
	}
	if !bytes.Equal(contents[ScriptEnvPath], ScriptEnv()) {
		t.Error("the bundle lacks the script helper library")
	}
	golden(t, "manifest.golden", contents[ManifestPath])
	golden(t, "config-manager.service.golden", contents[UnitPath])
	if string(contents[SyncScriptPath]) != string(configSyncScript) {
		t.Error("bundle's config-sync.sh is not the embedded script")
	}
	if string(contents[discovery.CollectorPath]) != string(discovery.CollectorScript()) {
		t.Error("bundle's collector is not discovery's script")
	}
	if got := contents[blobPath(contentSum([]byte("#!/bin/sh\necho hi\n")))]; string(got) != "#!/bin/sh\necho hi\n" {
		t.Errorf("helper's content is not stored under its hash: %q", got)
	}
}

// TestRenderManifestOrder checks the manifest is written after the contents it names, so an
// upload in bundle order never leaves a manifest pointing at missing content.
func TestRenderManifestOrder(t *testing.T) {
	b, err := Render(sampleConfig())
	if err != nil {
		t.Fatal(err)
	}
	manifestAt := -1
	for i, f := range b.Files {
		if f.Path == ManifestPath {
			manifestAt = i
		}
		if strings.HasPrefix(f.Path, FilesDir+"/") && f.Path != ManifestPath && manifestAt >= 0 {
			t.Errorf("%s comes after the manifest", f.Path)
		}
		if strings.HasPrefix(f.Path, FilesDir+"/") && f.Mode != 0o600 {
			t.Errorf("%s has mode %v; stored contents are root's only", f.Path, f.Mode)
		}
	}
	if manifestAt < 0 {
		t.Fatal("no manifest in the bundle")
	}
}

func TestBundleHash(t *testing.T) {
	base, err := Render(sampleConfig())
	if err != nil {
		t.Fatal(err)
	}
	again, _ := Render(sampleConfig())
	if base.Hash() != again.Hash() || len(base.Hash()) != 64 {
		t.Fatalf("hash is not a stable SHA-256: %s vs %s", base.Hash(), again.Hash())
	}
	changes := map[string]func(*Config){
		"env value":      func(c *Config) { c.Env[1].Value += "!" },
		"env added":      func(c *Config) { c.Env = append(c.Env, EnvVar{"NEW", ""}) },
		"file content":   func(c *Config) { c.Files[0].Content = []byte("server { listen 81; }\n") },
		"file mode":      func(c *Config) { c.Files[1].Mode = 0o600 },
		"file owner":     func(c *Config) { c.Files[1].Owner = "root:www-data" },
		"file policy":    func(c *Config) { c.Files[1].Policy = PolicyReplace },
		"file path":      func(c *Config) { c.Files[1].Path = "/etc/demo/other.ini" },
		"file removed":   func(c *Config) { c.Files = c.Files[:3] },
		"container user": func(c *Config) { c.ContainerUser = "dev" },
	}
	for name, change := range changes {
		cfg := sampleConfig()
		change(&cfg)
		b, err := Render(cfg)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if b.Hash() == base.Hash() {
			t.Errorf("%s: hash did not change", name)
		}
	}
	// The hash covers the bundle, not the order of its lists.
	reordered := &Bundle{Directories: base.Directories}
	for i := len(base.Files) - 1; i >= 0; i-- {
		reordered.Files = append(reordered.Files, base.Files[i])
	}
	if reordered.Hash() != base.Hash() {
		t.Error("hash depends on the order of files")
	}
	// Path and content boundaries cannot be shifted to collide.
	a := &Bundle{Files: []File{{Path: "/a", Owner: "root:root", Content: []byte("bc")}}}
	b := &Bundle{Files: []File{{Path: "/ab", Owner: "root:root", Content: []byte("c")}}}
	if a.Hash() == b.Hash() {
		t.Error("hash collides when bytes move between path and content")
	}
}

func TestValidateManagedPath(t *testing.T) {
	for _, ok := range []string{
		"/etc/app.conf", "/etc/my app/with space.conf", "/opt/a+b,c:d=e@f%g~h_i.j-k", "/-leading-dash",
		"/etc/config-manager-other/x", "/var/lib/config-manager.d/x", "/" + strings.Repeat("a", 200),
	} {
		if err := ValidateManagedPath(ok); err != nil {
			t.Errorf("%q refused: %v", ok, err)
		}
	}
	for _, bad := range []string{
		"", "relative", "/", "/etc/", "/etc//x", "/etc/./x", "/etc/../x", "/etc/..", "/etc/x/.",
		"/etc/new\nline", "/etc/tab\there", "/etc/quote'", `/etc/dq"`, "/etc/$(id)", "/etc/`id`",
		"/etc/semi;colon", "/etc/back\\slash", "/etc/star*", "/etc/nul\x00", "/etc/ümlaut",
		"/etc/config-manager/config.env", "/etc/config-manager", "/var/lib/config-manager/x",
		"/proc/sys/kernel/x", "/dev/null", "/sys/x", "/run/x",
		"/" + strings.Repeat("a", maxManagedPath),
	} {
		if err := ValidateManagedPath(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestValidateOwner(t *testing.T) {
	for _, ok := range []string{"root:root", "www-data:www-data", "1000:1000", "app_user:0", "_apt:nogroup", "user.name:group"} {
		if err := ValidateOwner(ok); err != nil {
			t.Errorf("%q refused: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "root", ":root", "root:", "root:root:root", "-x:root", "ro ot:root", "root;id:root", "$(id):root", "1a:root", "root:\n"} {
		if err := ValidateOwner(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestRenderRejectsFiles(t *testing.T) {
	const secret = "TOP-SECRET-CONTENT"
	for _, tc := range []struct {
		name  string
		files []ManagedFile
		want  string
	}{
		{"bad path", []ManagedFile{{Path: "etc/x"}}, "not absolute"},
		{"bad policy", []ManagedFile{{Path: "/etc/x", Policy: "merge"}}, "policy"},
		{"bad owner", []ManagedFile{{Path: "/etc/x", Owner: "root"}}, "owner"},
		{"bad mode", []ManagedFile{{Path: "/etc/x", Mode: fs.ModeDir | 0o755}}, "mode"},
		{"mode beyond chmod", []ManagedFile{{Path: "/etc/x", Mode: 0o10644}}, "mode"},
		{"twice", []ManagedFile{{Path: "/etc/x"}, {Path: "/etc/x"}}, "listed twice"},
		{"backup on managed", []ManagedFile{{Path: "/etc/x", Policy: PolicyBackup}, {Path: "/etc/x.bak"}}, "backup"},
		{"file under file", []ManagedFile{{Path: "/etc/x"}, {Path: "/etc/x/y"}}, "parent directory"},
		{"too large", []ManagedFile{{Path: "/etc/x", Content: []byte(secret + strings.Repeat("x", maxManagedFile))}}, "larger than"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Render(Config{Files: tc.files})
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not say %q", err, tc.want)
			}
			if strings.Contains(err.Error(), secret) {
				t.Error("error quotes the content")
			}
		})
	}
}
