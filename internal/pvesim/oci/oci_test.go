package oci_test

import (
	"archive/tar"
	"context"
	"io"
	"path/filepath"
	"slices"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"templatemanager.dev/lxc-template-manager/internal/pvesim/oci"
	"templatemanager.dev/lxc-template-manager/internal/pvesim/oci/ocitest"
)

// A pulled image is an oci-archive whose squashed tree honours whiteouts and whose config
// carries the entrypoint and environment.
func TestPullSquashesLayersWithWhiteouts(t *testing.T) {
	reg := ocitest.StartRegistry(t)
	base := ocitest.Layer(t,
		ocitest.File{Name: "etc/", Dir: true},
		ocitest.File{Name: "etc/os-release", Content: "NAME=Debian\nID=debian\n"},
		ocitest.File{Name: "etc/gone", Content: "removed by the next layer"},
		ocitest.File{Name: "data/", Dir: true},
		ocitest.File{Name: "data/old", Content: "hidden by an opaque directory"},
	)
	top := ocitest.Layer(t,
		ocitest.File{Name: "etc/.wh.gone"},
		ocitest.File{Name: "data/", Dir: true},
		ocitest.File{Name: "data/.wh..wh..opq"},
		ocitest.File{Name: "data/new", Content: "kept"},
	)
	cfg := v1.Config{Entrypoint: []string{"/app"}, Cmd: []string{"--serve"}, Env: []string{"A=1", "B=two"}, StopSignal: "SIGINT"}
	want := ocitest.Push(t, reg+"/demo/app:v1", cfg, ocitest.Bytes(base), ocitest.Bytes(top))

	dest := filepath.Join(t.TempDir(), "app_v1.tar")
	got, err := oci.Pull(context.Background(), reg+"/demo/app:v1", dest)
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Fatalf("pulled digest %s, pushed %s", got, want)
	}
	if !oci.IsArchive(dest) {
		t.Fatal("the pulled file is not an OCI archive")
	}
	a, err := oci.Open(dest)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if d, _ := a.Digest(); d != want {
		t.Fatalf("archive digest %s, want %s", d, want)
	}
	c, err := a.Config()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.Entrypoint, []string{"/app"}) || !slices.Equal(c.Cmd, []string{"--serve"}) ||
		!slices.Equal(c.Env, []string{"A=1", "B=two"}) || c.StopSignal != "SIGINT" {
		t.Fatalf("config %+v", c)
	}
	if id := a.OSRelease(); id != "debian" {
		t.Fatalf("os-release ID %q", id)
	}
	var names []string
	tr := tar.NewReader(a.Flatten())
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, filepath.Clean(h.Name))
	}
	for _, n := range []string{"etc/os-release", "data/new"} {
		if !slices.Contains(names, n) {
			t.Errorf("%s missing from the squashed tree %v", n, names)
		}
	}
	for _, n := range []string{"etc/gone", "data/old", "etc/.wh.gone", "data/.wh..wh..opq"} {
		if slices.Contains(names, n) {
			t.Errorf("%s in the squashed tree %v", n, names)
		}
	}
}

func TestPullNeedsTheRegistry(t *testing.T) {
	dest := filepath.Join(t.TempDir(), "x.tar")
	if _, err := oci.Pull(context.Background(), "127.0.0.1:1/none:v1", dest); err == nil {
		t.Fatal("pull from a closed port succeeded")
	}
	if oci.IsArchive(dest) {
		t.Fatal("a failed pull left an archive")
	}
}
