// Package ocitest serves an OCI registry on loopback for tests and pushes images built from tar
// layers to it, with go-containerregistry's in-memory registry.
package ocitest

import (
	"archive/tar"
	"bytes"
	"io"
	"log"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// StartRegistry serves an empty registry on 127.0.0.1 until the test ends and returns its
// address (127.0.0.1:PORT), which go-containerregistry and the simulator reach over plain HTTP.
func StartRegistry(t testing.TB) string {
	t.Helper()
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// File is one entry of a layer: a directory when Dir, else a regular file (Mode defaults to 0644).
type File struct {
	Name    string
	Content string
	Mode    int64
	Dir     bool
}

// Layer builds an uncompressed tar layer of files.
func Layer(t testing.TB, files ...File) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		hdr := &tar.Header{Name: f.Name, Mode: f.Mode, Typeflag: tar.TypeReg, Size: int64(len(f.Content))}
		if f.Dir {
			hdr.Typeflag, hdr.Size = tar.TypeDir, 0
			if hdr.Mode == 0 {
				hdr.Mode = 0o755
			}
		} else if hdr.Mode == 0 {
			hdr.Mode = 0o644
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(tw, f.Content); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// Push builds a linux/amd64 image of layers (uncompressed tars, or an opener of one, bottom
// first) with cfg as its config, pushes it as reference (REGISTRY/REPO:TAG) and returns the
// manifest digest.
func Push(t testing.TB, reference string, cfg v1.Config, layers ...tarball.Opener) string {
	t.Helper()
	img := empty.Image
	for _, open := range layers {
		l, err := tarball.LayerFromOpener(open)
		if err != nil {
			t.Fatalf("layer: %v", err)
		}
		if img, err = mutate.AppendLayers(img, l); err != nil {
			t.Fatalf("append layer: %v", err)
		}
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture, cf.Config = "linux", "amd64", cfg
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		t.Fatal(err)
	}
	ref, err := name.NewTag(reference)
	if err != nil {
		t.Fatalf("reference %s: %v", reference, err)
	}
	if err := remote.Write(ref, img); err != nil {
		t.Fatalf("push %s: %v", reference, err)
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d.String()
}

// Bytes opens an in-memory tar as a layer.
func Bytes(b []byte) tarball.Opener {
	return func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
}
