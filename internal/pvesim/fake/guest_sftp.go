package fake

import (
	"bytes"
	"io"
	"io/fs"
	"os"
	"path"
	"slices"
	"sync"
	"time"

	"github.com/pkg/sftp"
)

// sftpHandler serves the guest's file system over SFTP: what Upload, ReadFile and the run
// bookkeeping of internal/ssh use (stat, mkdir, exclusive create, write, setstat, rename,
// remove, list, read).
type sftpHandler struct{ g *Guest }

var errNoEnt = os.ErrNotExist

func clean(p string) string { return path.Clean("/" + p) }

// Fileread opens a file for reading.
func (h *sftpHandler) Fileread(r *sftp.Request) (io.ReaderAt, error) {
	h.g.mu.Lock()
	defer h.g.mu.Unlock()
	f, ok := h.g.files[clean(r.Filepath)]
	if !ok {
		return nil, errNoEnt
	}
	if f.dir {
		return nil, sftp.ErrSSHFxFailure
	}
	return bytes.NewReader(f.data), nil
}

// Filewrite opens a file for writing; its content lands in the guest when the handle closes.
func (h *sftpHandler) Filewrite(r *sftp.Request) (io.WriterAt, error) {
	h.g.mu.Lock()
	defer h.g.mu.Unlock()
	p := clean(r.Filepath)
	flags := r.Pflags()
	f, exists := h.g.files[p]
	if exists && flags.Excl && flags.Creat {
		return nil, os.ErrExist
	}
	if !exists && !flags.Creat {
		return nil, errNoEnt
	}
	if parent, ok := h.g.files[path.Dir(p)]; !ok || !parent.dir {
		return nil, errNoEnt
	}
	if exists && f.dir {
		return nil, sftp.ErrSSHFxFailure
	}
	if !exists {
		f = &gfile{mode: 0o644, modTime: time.Now()}
		h.g.files[p] = f
	}
	w := &writer{h: h, path: p}
	if exists && !flags.Trunc {
		w.buf = slices.Clone(f.data)
	}
	return w, nil
}

// writer collects a file's content and stores it on Close.
type writer struct {
	h    *sftpHandler
	path string
	mu   sync.Mutex
	buf  []byte
}

func (w *writer) WriteAt(p []byte, off int64) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if end := int(off) + len(p); end > len(w.buf) {
		w.buf = append(w.buf, make([]byte, end-len(w.buf))...)
	}
	copy(w.buf[off:], p)
	return len(p), nil
}

func (w *writer) Close() error {
	w.mu.Lock()
	data := w.buf
	w.mu.Unlock()
	w.h.g.mu.Lock()
	defer w.h.g.mu.Unlock()
	if f, ok := w.h.g.files[w.path]; ok && !f.dir {
		f.data, f.modTime = intern(data), time.Now()
	}
	return nil
}

// Filecmd changes the file system.
func (h *sftpHandler) Filecmd(r *sftp.Request) error {
	h.g.mu.Lock()
	defer h.g.mu.Unlock()
	p := clean(r.Filepath)
	files := h.g.files
	switch r.Method {
	case "Setstat":
		f, ok := files[p]
		if !ok {
			return errNoEnt
		}
		flags, attrs := r.AttrFlags(), r.Attributes()
		if flags.UidGid {
			f.uid, f.gid = int(attrs.UID), int(attrs.GID)
		}
		if flags.Permissions {
			f.mode = attrs.FileMode() & (fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky)
		}
		if flags.Size && int(attrs.Size) < len(f.data) {
			f.data = f.data[:attrs.Size]
		}
		return nil
	case "Rename", "PosixRename":
		to := clean(r.Target)
		f, ok := files[p]
		if !ok {
			return errNoEnt
		}
		if f.dir {
			return sftp.ErrSSHFxOpUnsupported
		}
		if dst, ok := files[to]; ok && (dst.dir || r.Method == "Rename") {
			return sftp.ErrSSHFxFailure
		}
		files[to] = f
		delete(files, p)
		return nil
	case "Mkdir":
		if _, ok := files[p]; ok {
			return os.ErrExist
		}
		if parent, ok := files[path.Dir(p)]; !ok || !parent.dir {
			return errNoEnt
		}
		files[p] = &gfile{dir: true, mode: 0o755, modTime: time.Now()}
		return nil
	case "Remove":
		f, ok := files[p]
		if !ok {
			return errNoEnt
		}
		if f.dir {
			return sftp.ErrSSHFxFailure
		}
		delete(files, p)
		return nil
	case "Rmdir":
		f, ok := files[p]
		if !ok {
			return errNoEnt
		}
		if !f.dir || len(h.g.childrenLocked(p)) > 0 {
			return sftp.ErrSSHFxFailure
		}
		delete(files, p)
		return nil
	}
	return sftp.ErrSSHFxOpUnsupported
}

// PosixRename replaces the target atomically.
func (h *sftpHandler) PosixRename(r *sftp.Request) error { return h.Filecmd(r) }

// Filelist stats a path or lists a directory.
func (h *sftpHandler) Filelist(r *sftp.Request) (sftp.ListerAt, error) {
	h.g.mu.Lock()
	defer h.g.mu.Unlock()
	p := clean(r.Filepath)
	f, ok := h.g.files[p]
	if !ok {
		return nil, errNoEnt
	}
	switch r.Method {
	case "Stat", "Lstat":
		return lister{info(path.Base(p), f)}, nil
	case "List":
		if !f.dir {
			return nil, sftp.ErrSSHFxFailure
		}
		var out lister
		for _, name := range h.g.childrenLocked(p) {
			out = append(out, info(name, h.g.files[path.Join(p, name)]))
		}
		return out, nil
	}
	return nil, sftp.ErrSSHFxOpUnsupported
}

type lister []os.FileInfo

func (l lister) ListAt(out []os.FileInfo, off int64) (int, error) {
	if off >= int64(len(l)) {
		return 0, io.EOF
	}
	n := copy(out, l[off:])
	if n+int(off) == len(l) {
		return n, io.EOF
	}
	return n, nil
}

// fileInfo is a snapshot of a gfile.
type fileInfo struct {
	name     string
	size     int64
	mode     fs.FileMode
	modTime  time.Time
	uid, gid uint32
}

func info(name string, f *gfile) os.FileInfo {
	mode := f.mode
	if f.dir {
		mode |= fs.ModeDir
	}
	return &fileInfo{name: name, size: int64(len(f.data)), mode: mode, modTime: f.modTime, uid: uint32(f.uid), gid: uint32(f.gid)}
}

func (i *fileInfo) Name() string       { return i.name }
func (i *fileInfo) Size() int64        { return i.size }
func (i *fileInfo) Mode() fs.FileMode  { return i.mode }
func (i *fileInfo) ModTime() time.Time { return i.modTime }
func (i *fileInfo) IsDir() bool        { return i.mode.IsDir() }
func (i *fileInfo) Sys() any           { return nil }
func (i *fileInfo) Uid() uint32        { return i.uid }
func (i *fileInfo) Gid() uint32        { return i.gid }
