package importer

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// sampleDir is a template store in the original dashboard's layout, inside a repository whose
// root is testdata/repo.
var sampleDir = filepath.Join("testdata", "repo", "infra", "lxc", "templates")

const goldenFile = "testdata/store.golden.yaml"

var update = flag.Bool("update", false, "rewrite the golden file")

func importSample(t *testing.T) *Result {
	t.Helper()
	res, err := Import(sampleDir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestSampleStoreMatchesGolden(t *testing.T) {
	var out bytes.Buffer
	if err := WriteYAML(&out, importSample(t)); err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.WriteFile(goldenFile, out.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	golden, err := os.ReadFile(goldenFile)
	if err != nil {
		t.Fatal(err)
	}
	if out.String() != string(golden) {
		t.Errorf("output differs from %s (run with -update to accept):\n%s", goldenFile, out.String())
	}
}

// TestSampleStoreReadsLikeTheOriginal checks what the original's discovery engine decides:
// defaults, scripts in C-locale name order, <.path>/<name>, policies, buckets by file name, custom lines.
func TestSampleStoreReadsLikeTheOriginal(t *testing.T) {
	res := importSample(t)
	if len(res.Templates) != 3 {
		t.Fatalf("%d templates, want devbox, edge, minimal", len(res.Templates))
	}
	dev, edge, minimal := res.Templates[0], res.Templates[1], res.Templates[2]

	var names []string
	for _, s := range dev.Spec.Scripts {
		names = append(names, s.Name)
	}
	if got, want := strings.Join(names, " "), "00-pre-checks.sh 01-setup-user.sh 10-finish.sh 2-tools.sh dev.hello-tool dev.marker"; got != want {
		t.Errorf("scripts %s, want %s", got, want)
	}
	hello := dev.Spec.Scripts[4]
	if *hello.Check != "test -x /usr/local/bin/hello-tool" || *hello.TimeoutSeconds != 120 ||
		!strings.HasPrefix(*hello.Content, "#!/bin/bash\nprintf 'echo hello\\n' > /usr/local/bin/hello-tool") {
		t.Errorf("custom installer: %+v", hello)
	}
	if *dev.Spec.Scripts[5].TimeoutSeconds != defaultCustomTimeout {
		t.Errorf("custom installer without a timeout: %d", *dev.Spec.Scripts[5].TimeoutSeconds)
	}
	var files []string
	for _, f := range dev.Spec.Files {
		files = append(files, f.Path+"="+string(f.Policy))
	}
	if got, want := strings.Join(files, " "), "/etc/gitconfig=backup /etc/motd=replace /home/dev/bashrc=default"; got != want {
		t.Errorf("files %s, want %s", got, want)
	}
	if dev.Spec.OSTemplate != "debian-12-standard" || *dev.Spec.Resources.Cores != 2 || *dev.Spec.Resources.MemoryMiB != 2048 ||
		*dev.Spec.Resources.DiskGiB != 12 || !*dev.Spec.Features.Unprivileged || !dev.Spec.Features.Nesting || dev.Spec.Features.Keyctl || !dev.Spec.Features.Fuse {
		t.Errorf("devbox basics: %+v", dev.Spec)
	}
	if dev.Annotations[displayNameNote] != "Dev Box" || len(dev.Spec.Tags) != 3 {
		t.Errorf("devbox metadata: %v %v", dev.Annotations, dev.Spec.Tags)
	}
	// The dashboard's defaults: 1 core, 512 MiB, 8 GiB, debian 12, unprivileged, no features.
	if minimal.Spec.OSTemplate != "debian-12-standard" || *minimal.Spec.Resources.Cores != 1 || *minimal.Spec.Resources.MemoryMiB != 512 ||
		*minimal.Spec.Resources.DiskGiB != 8 || !*minimal.Spec.Features.Unprivileged || minimal.Spec.Features.Nesting {
		t.Errorf("minimal defaults: %+v", minimal.Spec)
	}
	// TEMPLATE_CONFIG_PATH is found relative to the repository root.
	if edge.Spec.OSTemplate != "ubuntu-24.04-standard" || *edge.Spec.Features.Unprivileged ||
		len(edge.Spec.Scripts) != 1 || edge.Spec.Scripts[0].Name != "00-hello.sh" || edge.Spec.PackageBucketRefs[0].Name != "edge-base" {
		t.Errorf("edge: %+v", edge.Spec)
	}
	var buckets []string
	for _, b := range res.Buckets {
		buckets = append(buckets, b.Name+"."+string(b.Spec.Manager))
	}
	if got, want := strings.Join(buckets, " "), "base.apt cli.npm edge-base.apt tools.pip"; got != want {
		t.Errorf("buckets %s, want %s", got, want)
	}
	notes := strings.Join(res.Notes, "\n")
	for _, want := range []string{"README.md: documentation", "devbox/container.sh: the store's creation script", "devbox/CREDENTIALS.md: documentation",
		"devbox/container-configs/scripts/README.md: documentation", "devbox/container-configs/files/README.md: documentation"} {
		if !strings.Contains(notes, want) {
			t.Errorf("no note %q in:\n%s", want, notes)
		}
	}
}

func TestImportIsDeterministic(t *testing.T) {
	var a, b bytes.Buffer
	if err := WriteYAML(&a, importSample(t)); err != nil {
		t.Fatal(err)
	}
	if err := WriteYAML(&b, importSample(t)); err != nil {
		t.Fatal(err)
	}
	if a.String() != b.String() {
		t.Error("two imports of the same store differ")
	}
}

// writeStore writes files (paths relative to a repository root, with forward slashes) and
// returns the store directory infra/lxc/templates inside it.
func writeStore(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for name, content := range files {
		p := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return filepath.Join(root, "infra", "lxc", "templates")
}

const tp = "infra/lxc/templates/t/"

func TestProblems(t *testing.T) {
	cc := tp + "container-configs/"
	store := map[string]string{
		tp + "template.conf":                                          "TEMPLATE_CPU=lots\nTEMPLATE_COLOUR=red\nTEMPLATE_TAGS=Web\nTEMPLATE_NESTING=yes\nTEMPLATE_CONFIG_PATH=../elsewhere\n",
		"infra/lxc/templates/u/template.conf":                         "TEMPLATE_CONFIG_PATH=nowhere/configs\n",
		"infra/lxc/templates/v/template.conf":                         "",
		"infra/lxc/templates/v/container-configs/notes.txt":           "x",
		"infra/lxc/templates/v/container-configs/scripts/setup.sh":    "true",
		"infra/lxc/templates/v/container-configs/scripts/10-Setup.sh": "true",
		"infra/lxc/templates/v/container-configs/packages/base.brew":  "wget\n",
		"infra/lxc/templates/v/container-configs/packages/base.apt":   "Curl\nnodejs=24.*;id\ncurl\ncurl\n",
		"infra/lxc/templates/v/container-configs/packages/x.custom":   "a|b\nc|d|e|f|g\nh|test -x /x|make|soon\n",
		"infra/lxc/templates/v/container-configs/files/motd":          "hi\n",
		"infra/lxc/templates/v/container-configs/files/motd.path":     "etc\n",
		"infra/lxc/templates/v/container-configs/files/motd.policy":   "merge\n",
		"infra/lxc/templates/v/container-configs/files/issue":         "hi\n",
		"infra/lxc/templates/v/container-configs/files/empty":         "",
		"infra/lxc/templates/v/container-configs/files/empty.path":    "/etc\n",
		"infra/lxc/templates/v/container-configs/files/empty.policy":  "replace\n",
		"infra/lxc/templates/v/container-configs/scripts/20-blank.sh": "\n",
		"infra/lxc/templates/v/container-configs/files/orphan.path":   "/etc\n",
		"infra/lxc/templates/v/setup.py":                              "",
		"infra/lxc/templates/w/template.conf":                         "",
		"infra/lxc/templates/w/container-configs/packages/base.apt":   "wget\n",
		"infra/lxc/templates/notes.txt":                               "",
		"infra/lxc/templates/shared/x":                                "",
		cc + "scripts/00-a.sh":                                        "true",
	}
	_, err := Import(writeStore(t, store), Options{})
	problems, ok := err.(Problems)
	if !ok {
		t.Fatalf("want problems, got %v", err)
	}
	got := problems.Error()
	for _, want := range []string{
		"notes.txt:1: unexpected file in the template store",
		"shared:1: a directory without template.conf is not a template",
		"t/template.conf:1: TEMPLATE_CPU: \"lots\" is not a whole number",
		"t/template.conf:2: unknown variable TEMPLATE_COLOUR",
		"t/template.conf:3: TEMPLATE_TAGS: tag \"Web\" is not a Proxmox tag",
		"t/template.conf:4: TEMPLATE_NESTING: \"yes\" is neither 1 nor 0",
		"t/template.conf:5: TEMPLATE_CONFIG_PATH \"../elsewhere\" must be relative to the repository root and stay inside it",
		"t/container-configs:1: TEMPLATE_CONFIG_PATH points elsewhere",
		"u/template.conf:1: TEMPLATE_CONFIG_PATH \"nowhere/configs\" is not a directory",
		"v/container-configs/notes.txt:1: unexpected file in container-configs",
		"v/container-configs/scripts/10-Setup.sh:1: the file name is the script's name",
		"v/container-configs/packages/base.brew:1: unknown package file",
		"v/container-configs/packages/base.apt:1: \"Curl\" is not a valid apt package name: apt package names are lowercase",
		"v/container-configs/packages/base.apt:2: \"nodejs=24.*;id\" is not a valid apt package name",
		"v/container-configs/packages/base.apt:4: curl is already listed on line 3",
		"v/container-configs/packages/x.custom:1: not name|check_command|install_command[|timeout_seconds] (2 fields",
		"v/container-configs/packages/x.custom:2: not name|check_command|install_command[|timeout_seconds] (5 fields",
		"v/container-configs/packages/x.custom:3: timeout: \"soon\" is not a whole number",
		"v/container-configs/files/motd.path:1: <.path>/<name> gives path \"etc/motd\" is not absolute",
		"v/container-configs/files/motd.policy:1: policy \"merge\" is not replace, default or backup",
		"v/container-configs/files/issue:1: missing its sidecar issue.path",
		"v/container-configs/files/orphan.path:1: a sidecar without its file orphan",
		"v/container-configs/files/empty:1: is empty: a managed file must have content",
		"v/container-configs/scripts/20-blank.sh:1: is empty: a script must have content",
		"v/setup.py:1: unexpected file in a template directory",
		"w/container-configs/packages/base.apt:1: PackageBucket \"base\" is already defined differently by v/container-configs/packages/base.apt",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("missing problem %q", want)
		}
	}
	if t.Failed() {
		t.Logf("problems:\n%s", got)
	}
}
