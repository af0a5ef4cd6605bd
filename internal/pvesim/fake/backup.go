package fake

import (
	"archive/tar"
	"context"
	"crypto/ed25519"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"maps"
	"path"
	"slices"
	"strings"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"templatemanager.dev/lxc-template-manager/internal/pvesim"
)

var _ pvesim.Archiver = (*Backend)(nil)

// Archive writes the container's guest file system as a backup: the few files a fake guest
// holds, in the tar layout of vzdump.
func (b *Backend) Archive(ctx context.Context, vmid int, opts pvesim.ArchiveOptions, w io.Writer) error {
	b.mu.Lock()
	r, err := b.get(vmid)
	var seed []byte
	if err == nil {
		seed = slices.Clone(r.HostKey)
	}
	g := b.guests[vmid]
	b.mu.Unlock()
	if err != nil {
		return err
	}
	hostKey, err := hostKeyFile(seed)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(w)
	now := time.Now()
	// The guest's host key goes along, as /etc/ssh does in a real container's backup.
	for _, f := range []struct {
		name, data string
		mode       int64
	}{{"./etc/vzdump/pct.conf", opts.PctConf, 0o644}, {"./etc/vzdump/pct.fw", "", 0o644}, {"." + hostKeyPath, hostKey, 0o600}} {
		if f.data == "" && f.name == "."+hostKeyPath {
			continue
		}
		if err := tw.WriteHeader(&tar.Header{Name: f.name, Mode: f.mode, Size: int64(len(f.data)), ModTime: now}); err != nil {
			return err
		}
		if _, err := io.WriteString(tw, f.data); err != nil {
			return err
		}
	}
	if g != nil {
		for _, p := range g.paths() {
			if excluded(p, opts.Exclude) {
				continue
			}
			if err := g.writeTarEntry(tw, p); err != nil {
				return err
			}
		}
	}
	return tw.Close()
}

// Restore records the container of spec with the guest files of the archive.
func (b *Backend) Restore(ctx context.Context, spec pvesim.ContainerSpec, r io.Reader) error {
	files := map[string]*gfile{}
	var seed []byte
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("extract archive: %w", err)
		}
		p := path.Clean("/" + h.Name)
		data, err := io.ReadAll(tr)
		if err != nil {
			return fmt.Errorf("extract archive: %w", err)
		}
		// pct restore takes the config out of the tree, and the firewall config unless empty.
		if p == "/etc/vzdump/pct.conf" || (p == "/etc/vzdump/pct.fw" && len(data) > 0) {
			continue
		}
		if p == hostKeyPath {
			if seed, err = hostKeySeed(data); err != nil {
				return fmt.Errorf("host key in archive: %w", err)
			}
			continue
		}
		files[p] = &gfile{dir: h.Typeflag == tar.TypeDir, data: intern(data), mode: h.FileInfo().Mode().Perm(),
			uid: h.Uid, gid: h.Gid, modTime: h.ModTime}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.cts[spec.VMID]; ok {
		return fmt.Errorf("container %d already exists", spec.VMID)
	}
	r0 := &record{Spec: withoutSecrets(spec), HostKey: seed}
	g, err := b.guestLocked(spec.VMID, r0)
	if err != nil {
		return err
	}
	g.restoreFiles(files)
	g.configure(spec, false)
	b.cts[spec.VMID] = r0
	return b.saveLocked()
}

// paths lists the guest's files, parents first.
func (g *Guest) paths() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Sorted(maps.Keys(g.files))
}

func (g *Guest) writeTarEntry(tw *tar.Writer, p string) error {
	g.mu.Lock()
	f, ok := g.files[p]
	var h tar.Header
	var data []byte
	if ok {
		h = tar.Header{Name: "." + p, Mode: int64(f.mode), Uid: f.uid, Gid: f.gid, ModTime: f.modTime}
		if f.dir {
			h.Typeflag, h.Name = tar.TypeDir, strings.TrimSuffix("."+p, "/")+"/"
		} else {
			h.Typeflag, h.Size, data = tar.TypeReg, int64(len(f.data)), f.data
		}
	}
	g.mu.Unlock()
	if !ok {
		return nil
	}
	if err := tw.WriteHeader(&h); err != nil {
		return err
	}
	_, err := tw.Write(data)
	return err
}

// restoreFiles replaces the guest's file system.
func (g *Guest) restoreFiles(files map[string]*gfile) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.files = files
	for p := range files {
		g.mkdirAllLocked(path.Dir(p))
	}
	if _, ok := g.files["/"]; !ok {
		g.files["/"] = &gfile{dir: true, mode: 0o755, modTime: time.Now()}
	}
}

// excluded matches vzdump's exclusions as tar does: anchored at the root with a leading /,
// else against any trailing part of the path.
func excluded(p string, patterns []string) bool {
	for _, pat := range patterns {
		if strings.HasPrefix(pat, "/") {
			if ok, _ := path.Match(pat, p); ok {
				return true
			}
			continue
		}
		parts := strings.Split(strings.TrimPrefix(p, "/"), "/")
		for i := range parts {
			if ok, _ := path.Match(pat, strings.Join(parts[i:], "/")); ok {
				return true
			}
		}
	}
	return false
}

const hostKeyPath = "/etc/ssh/ssh_host_ed25519_key"

// hostKeyFile renders a host key seed as sshd keeps the key, empty without a seed.
func hostKeyFile(seed []byte) (string, error) {
	if len(seed) != ed25519.SeedSize {
		return "", nil
	}
	block, err := gossh.MarshalPrivateKey(ed25519.NewKeyFromSeed(seed), "")
	if err != nil {
		return "", err
	}
	return string(pem.EncodeToMemory(block)), nil
}

func hostKeySeed(data []byte) ([]byte, error) {
	key, err := gossh.ParseRawPrivateKey(data)
	if err != nil {
		return nil, err
	}
	switch k := key.(type) {
	case *ed25519.PrivateKey:
		return k.Seed(), nil
	case ed25519.PrivateKey:
		return k.Seed(), nil
	}
	return nil, fmt.Errorf("not an ed25519 key but %T", key)
}
