package e2e

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
	"templatemanager.dev/lxc-template-manager/internal/pvesim/lxc/lxctest"
)

// TestPipBucketBeforeAptBucketInstallsBoth: a template that lists its pip bucket before the apt
// bucket that brings pip installs both, since system packages go first. pip and its Debian
// dependencies come from Debian's packages into a local repository on the bridge, the Python
// package from a local index: the containers reach nothing else.
func TestPipBucketBeforeAptBucketInstallsBoth(t *testing.T) {
	t.Parallel()
	s := startStack(t)
	s.startManager(t)
	repo := s.startPipRepository(t)
	ns := "pkgorder"
	tmpl := s.lightTemplate(ns, "python")
	tmpl.Spec.PackageBucketRefs = []lxcv1.LocalObjectReference{{Name: "py"}, {Name: "base"}}
	tmpl.Spec.Files = []lxcv1.ManagedFile{
		{Path: "/etc/apt/sources.list", Content: str("deb [trusted=yes] " + repo + "debs/ ./\n"), Policy: lxcv1.FilePolicyReplace},
		{Path: "/etc/pip.conf", Content: str("[global]\nindex-url = " + repo + "simple/\ntrusted-host = " + s.gateway().String() + "\n"), Policy: lxcv1.FilePolicyReplace},
	}
	tmpl.Spec.Scripts = []lxcv1.Script{{Name: "use", Content: str("#!/bin/sh\nset -eu\npython3 -c 'import lxctm_hello; print(lxctm_hello.HELLO)'\n")}}
	signer := lxctest.NewSigner(t)
	c := s.container(ns, "py-1", "python")
	c.Spec.SSHPublicKeys = []lxcv1.SSHPublicKey{lxcv1.SSHPublicKey(strings.TrimSpace(string(gossh.MarshalAuthorizedKey(signer.PublicKey()))))}
	s.create(t, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}},
		&lxcv1.PackageBucket{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "py"},
			Spec: lxcv1.PackageBucketSpec{Manager: lxcv1.PackageManagerPip, Packages: []lxcv1.PackageName{"lxctm-hello"}}},
		&lxcv1.PackageBucket{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "base"},
			Spec: lxcv1.PackageBucketSpec{Manager: lxcv1.PackageManagerApt, Packages: []lxcv1.PackageName{"python3-pip"}}},
		tmpl, c)
	s.waitReady(t, ns, "py-1")
	client := dialContainer(t, s.getContainer(t, ns, "py-1").Status.IPAddress, signer)
	defer client.Close()
	if out := run1(t, client, "pip3 --version >/dev/null && python3 -c 'import lxctm_hello; print(lxctm_hello.HELLO)'"); strings.TrimSpace(out) != "hello from a local index" {
		t.Errorf("the pip package is not installed: %q", out)
	}
}

// startPipRepository serves, on the bridge, a flat apt repository with python3-pip and what it
// depends on (downloaded once from Debian's packages with the host's apt, and cached), and a
// PEP 503 index with one pure-Python wheel. It returns the base URL.
func (s *stack) startPipRepository(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	debs := filepath.Join(dir, "debs")
	if err := os.MkdirAll(debs, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, deb := range pipDebs(t) {
		if err := os.Symlink(deb, filepath.Join(debs, filepath.Base(deb))); err != nil {
			t.Fatal(err)
		}
	}
	scan := exec.Command("dpkg-scanpackages", "-m", ".", "/dev/null")
	scan.Dir = debs
	index, err := scan.Output()
	if err != nil {
		t.Fatalf("dpkg-scanpackages: %v", err)
	}
	if err := os.WriteFile(filepath.Join(debs, "Packages"), index, 0o644); err != nil {
		t.Fatal(err)
	}
	wheel, name := helloWheel(t)
	if err := os.MkdirAll(filepath.Join(dir, "simple", "lxctm-hello"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), wheel, 0o644); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(wheel)
	page := fmt.Sprintf("<!DOCTYPE html><html><body><a href=\"../../%s#sha256=%s\">%s</a></body></html>\n", name, hex.EncodeToString(sum[:]), name)
	if err := os.WriteFile(filepath.Join(dir, "simple", "lxctm-hello", "index.html"), []byte(page), 0o644); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", net.JoinHostPort(s.gateway().String(), "0"))
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.FileServer(http.Dir(dir)), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return "http://" + l.Addr().String() + "/"
}

// pipDebs downloads python3-pip and its dependencies (Depends and Pre-Depends, every
// alternative) with the host's apt into a cache kept across runs, and lists the files.
func pipDebs(t testing.TB) []string {
	t.Helper()
	home, _ := os.UserHomeDir()
	cache := filepath.Join(home, ".cache", "lxc-template-manager", "debs-python3-pip-bookworm")
	if found, _ := filepath.Glob(filepath.Join(cache, "*.deb")); len(found) > 0 {
		if _, err := os.Stat(filepath.Join(cache, ".complete")); err == nil {
			return found
		}
	}
	out, err := exec.Command("apt-cache", "depends", "--recurse", "--no-recommends", "--no-suggests", "--no-conflicts",
		"--no-breaks", "--no-replaces", "--no-enhances", "python3-pip").Output()
	if err != nil {
		t.Fatalf("apt-cache depends: %v", err)
	}
	var names []string
	for _, line := range strings.Split(string(out), "\n") {
		if line != "" && !strings.HasPrefix(line, " ") && !strings.HasPrefix(line, "<") {
			names = append(names, line)
		}
	}
	if err := os.MkdirAll(cache, 0o755); err != nil {
		t.Fatal(err)
	}
	download := func() ([]byte, error) {
		cmd := exec.Command("apt-get", append([]string{"download", "-q"}, names...)...)
		cmd.Dir = cache
		return cmd.CombinedOutput()
	}
	if out, err := download(); err != nil {
		// The package lists may be missing or stale on a machine where nothing was installed lately.
		if uout, uerr := exec.Command("apt-get", "update", "-qq").CombinedOutput(); uerr != nil {
			t.Fatalf("apt-get update: %v\n%s", uerr, uout)
		}
		if out2, err := download(); err != nil {
			t.Fatalf("apt-get download: %v\n%s\n%s", err, out, out2)
		}
	}
	if err := os.WriteFile(filepath.Join(cache, ".complete"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	found, _ := filepath.Glob(filepath.Join(cache, "*.deb"))
	return found
}

// helloWheel builds a pure-Python wheel of the package lxctm-hello.
func helloWheel(t testing.TB) ([]byte, string) {
	t.Helper()
	files := []struct{ name, content string }{
		{"lxctm_hello/__init__.py", "HELLO = \"hello from a local index\"\n"},
		{"lxctm_hello-1.0.dist-info/METADATA", "Metadata-Version: 2.1\nName: lxctm-hello\nVersion: 1.0\n"},
		{"lxctm_hello-1.0.dist-info/WHEEL", "Wheel-Version: 1.0\nGenerator: lxctm-e2e\nRoot-Is-Purelib: true\nTag: py3-none-any\n"},
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	var record strings.Builder
	for _, f := range files {
		w, err := zw.Create(f.name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write([]byte(f.content)); err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256([]byte(f.content))
		fmt.Fprintf(&record, "%s,sha256=%s,%d\n", f.name, base64.RawURLEncoding.EncodeToString(sum[:]), len(f.content))
	}
	record.WriteString("lxctm_hello-1.0.dist-info/RECORD,,\n")
	w, err := zw.Create("lxctm_hello-1.0.dist-info/RECORD")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte(record.String())); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), "lxctm_hello-1.0-py3-none-any.whl"
}
