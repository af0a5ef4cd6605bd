// Package oci reads and writes OCI image archives (oci-archive: a tar of an OCI image layout) the
// way Proxmox VE 9.1 uses them as container templates: oci-registry-pull copies an image from a
// registry into such an archive (PVE runs skopeo; this package uses go-containerregistry), and a
// create from the archive squashes the image's layers into the root filesystem and maps the image
// config (Entrypoint, Cmd, Env, WorkingDir, StopSignal) onto the container's configuration.
package oci

import (
	"archive/tar"
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// refNameAnnotation names the image of an index entry, as skopeo writes it into index.json.
const refNameAnnotation = "org.opencontainers.image.ref.name"

// Pull copies the image reference names (REGISTRY/REPOSITORY:TAG) into an oci-archive at dest and
// returns the digest of the image's manifest. A multi-platform index resolves to linux/amd64, as
// skopeo picks the host's platform. Plain HTTP is used only for local registries (localhost,
// loopback and private addresses), as go-containerregistry decides.
func Pull(ctx context.Context, reference, dest string) (string, error) {
	ref, err := name.NewTag(reference, name.StrictValidation)
	if err != nil {
		return "", fmt.Errorf("invalid reference '%s': %w", reference, err)
	}
	img, err := remote.Image(ref, remote.WithContext(ctx), remote.WithPlatform(v1.Platform{OS: "linux", Architecture: "amd64"}))
	if err != nil {
		return "", fmt.Errorf("reading image %s: %w", reference, err)
	}
	digest, err := img.Digest()
	if err != nil {
		return "", err
	}
	dir, err := os.MkdirTemp(filepath.Dir(dest), ".oci-layout-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(dir)
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		return "", err
	}
	if err := p.AppendImage(img, layout.WithAnnotations(map[string]string{refNameAnnotation: ref.TagStr()})); err != nil {
		return "", fmt.Errorf("copying image %s: %w", reference, err)
	}
	if err := tarDir(dir, dest); err != nil {
		return "", err
	}
	return digest.String(), nil
}

// tarDir writes the regular files and directories below dir into a tar at dest.
func tarDir(dir, dest string) (err error) {
	f, err := os.Create(dest)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			_ = os.Remove(dest)
		}
	}()
	bw := bufio.NewWriter(f)
	tw := tar.NewWriter(bw)
	err = filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		hdr, err := tar.FileInfoHeader(fi, "")
		if err != nil {
			return err
		}
		hdr.Name = filepath.ToSlash(rel)
		if fi.IsDir() {
			hdr.Name += "/"
		}
		hdr.Uid, hdr.Gid, hdr.Uname, hdr.Gname = 0, 0, "", ""
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if !fi.Mode().IsRegular() {
			return nil
		}
		src, err := os.Open(p)
		if err != nil {
			return err
		}
		defer src.Close()
		_, err = io.Copy(tw, src)
		return err
	})
	if err != nil {
		return err
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return bw.Flush()
}

// IsArchive reports whether path is an OCI archive as pve-container's archive_is_oci_format
// decides: a file named .tar holding oci-layout, index.json and blobs/.
func IsArchive(p string) bool {
	if !strings.HasSuffix(p, ".tar") {
		return false
	}
	f, err := os.Open(p)
	if err != nil {
		return false
	}
	defer f.Close()
	var layoutFile, index, blobs bool
	tr := tar.NewReader(bufio.NewReader(f))
	for {
		hdr, err := tr.Next()
		if err != nil {
			break
		}
		switch n := strings.TrimPrefix(hdr.Name, "./"); {
		case n == "oci-layout":
			layoutFile = true
		case n == "index.json":
			index = true
		case strings.HasPrefix(n, "blobs/"):
			blobs = true
		}
	}
	return layoutFile && index && blobs
}

// Archive is an opened OCI archive: its layout unpacked into a temporary directory.
type Archive struct {
	dir string
	img v1.Image
}

// Open unpacks the archive at p and selects its image: the only one, or the first of several.
func Open(p string) (*Archive, error) {
	dir, err := os.MkdirTemp("", "pvesim-oci-")
	if err != nil {
		return nil, err
	}
	a := &Archive{dir: dir}
	if err := untar(p, dir); err != nil {
		a.Close()
		return nil, fmt.Errorf("unpack OCI archive: %w", err)
	}
	idx, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		a.Close()
		return nil, fmt.Errorf("read OCI layout: %w", err)
	}
	m, err := idx.IndexManifest()
	if err != nil {
		a.Close()
		return nil, fmt.Errorf("read OCI index: %w", err)
	}
	if len(m.Manifests) == 0 {
		a.Close()
		return nil, errors.New("OCI archive holds no image")
	}
	if a.img, err = idx.Image(m.Manifests[0].Digest); err != nil {
		a.Close()
		return nil, fmt.Errorf("read OCI image: %w", err)
	}
	return a, nil
}

// Close removes the unpacked layout.
func (a *Archive) Close() { _ = os.RemoveAll(a.dir) }

// Digest is the digest of the image's manifest.
func (a *Archive) Digest() (string, error) {
	d, err := a.img.Digest()
	return d.String(), err
}

// Config is the part of an image's config a container takes.
type Config struct {
	Entrypoint, Cmd, Env []string
	User, WorkingDir     string
	StopSignal           string
	Volumes              []string
}

// Config reads the image config.
func (a *Archive) Config() (Config, error) {
	cf, err := a.img.ConfigFile()
	if err != nil {
		return Config{}, fmt.Errorf("read OCI image config: %w", err)
	}
	c := cf.Config
	out := Config{Entrypoint: c.Entrypoint, Cmd: c.Cmd, Env: c.Env, User: c.User, WorkingDir: c.WorkingDir, StopSignal: c.StopSignal}
	for v := range c.Volumes {
		out.Volumes = append(out.Volumes, v)
	}
	return out, nil
}

// Flatten returns the image's layers squashed into one tar stream: later layers win and
// whiteouts (.wh.NAME, .wh..wh..opq) remove what earlier layers put there.
func (a *Archive) Flatten() io.ReadCloser { return mutate.Extract(a.img) }

// OSRelease reads the ID of etc/os-release (or usr/lib/os-release) from the squashed tree; ""
// when the image has none, as application images usually do.
func (a *Archive) OSRelease() string {
	rc := a.Flatten()
	defer rc.Close()
	tr := tar.NewReader(rc)
	id := ""
	for {
		hdr, err := tr.Next()
		if err != nil {
			return id
		}
		n := path.Clean(strings.TrimPrefix(hdr.Name, "/"))
		if (n != "etc/os-release" && n != "usr/lib/os-release") || hdr.Typeflag != tar.TypeReg {
			continue
		}
		data, err := io.ReadAll(io.LimitReader(tr, 64<<10))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(data), "\n") {
			if v, ok := strings.CutPrefix(line, "ID="); ok {
				v = strings.Trim(strings.TrimSpace(v), `"'`)
				if n == "etc/os-release" || id == "" {
					id = v
				}
			}
		}
	}
}

// untar unpacks the regular files and directories of an archive below dir, refusing names
// that leave it.
func untar(archive, dir string) error {
	f, err := os.Open(archive)
	if err != nil {
		return err
	}
	defer f.Close()
	tr := tar.NewReader(bufio.NewReader(f))
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		n := path.Clean(strings.TrimPrefix(hdr.Name, "./"))
		if n == "." {
			continue
		}
		if !filepath.IsLocal(n) {
			return fmt.Errorf("archive entry %q leaves the layout", hdr.Name)
		}
		target := filepath.Join(dir, filepath.FromSlash(n))
		switch hdr.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(target, 0o755); err != nil {
				return err
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
				return err
			}
			out, err := os.OpenFile(target, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
			if err != nil {
				return err
			}
			_, err = io.Copy(out, tr)
			if cerr := out.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
		}
	}
}
