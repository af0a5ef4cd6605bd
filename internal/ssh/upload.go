package ssh

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/pkg/sftp"
)

// MaxReadFileSize caps ReadFile.
const MaxReadFileSize = 1 << 20

// File is a file to write into the container.
type File struct {
	// Path is absolute and clean.
	Path string
	// Content is the whole file.
	Content []byte
	// Mode is the permission bits with setuid, setgid and sticky given either as Go's
	// fs.ModeSetuid… or as Unix octal 04000…; zero means 0644.
	Mode fs.FileMode
	// Owner is "user", "user:group" or numeric "uid:gid"; empty keeps root.
	Owner string
}

var (
	ownerPart = `(?:[a-z_][a-z0-9_.-]{0,31}\$?|[0-9]{1,10})`
	ownerRE   = regexp.MustCompile(`^` + ownerPart + `(?::` + ownerPart + `)?$`)
)

// ValidateOwner accepts "user", "user:group", "uid", "uid:gid" and mixtures: lower-case
// account names as Debian's adduser allows them, or numbers.
func ValidateOwner(owner string) error {
	if !ownerRE.MatchString(owner) {
		return fmt.Errorf("owner %q is not user, user:group or uid:gid", owner)
	}
	return nil
}

// ValidatePath accepts absolute, clean paths of printable characters.
func ValidatePath(p string) error {
	switch {
	case p == "" || !strings.HasPrefix(p, "/"):
		return fmt.Errorf("path %q is not absolute", p)
	case path.Clean(p) != p:
		return fmt.Errorf("path %q is not clean", p)
	case p == "/":
		return errors.New("path / is not a file")
	case len(p) > 4096:
		return errors.New("path is longer than 4096 bytes")
	}
	for _, r := range p {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("path %q contains a control character", p)
		}
	}
	return nil
}

// ShellQuote quotes s as one word for a POSIX shell.
func ShellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// Upload writes file through SFTP: a temporary file beside the target, made private before the
// content goes in, then owner and mode, then renamed over the target, so readers see the old or
// the new file and never a partial one. Owner names are resolved by chown in the container; the
// content never appears on a command line.
func (c *Client) Upload(ctx context.Context, file File) (err error) {
	start := time.Now()
	defer func() { c.dialer.observe(OpUpload, start, err) }()
	if err := ValidatePath(file.Path); err != nil {
		return fmt.Errorf("upload: %w", err)
	}
	if file.Owner != "" {
		if err := ValidateOwner(file.Owner); err != nil {
			return fmt.Errorf("upload %s: %w", file.Path, err)
		}
	}
	mode := fileMode(file.Mode)
	ctx, cancel := c.operationContext(ctx)
	defer cancel()

	tmp, err := tempName(file.Path)
	if err != nil {
		return fmt.Errorf("upload %s: %w", file.Path, err)
	}
	err = c.withSFTP(ctx, func(sc *sftp.Client) error {
		if err := sc.MkdirAll(path.Dir(file.Path)); err != nil {
			return fmt.Errorf("create parent directory: %w", err)
		}
		if err := writeTemp(sc, tmp, file.Content); err != nil {
			_ = sc.Remove(tmp)
			return err
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("upload %s: %w", file.Path, err)
	}
	if err := c.finishUpload(ctx, tmp, file.Path, file.Owner, mode); err != nil {
		_ = c.withSFTP(context.WithoutCancel(ctx), func(sc *sftp.Client) error { return sc.Remove(tmp) })
		return fmt.Errorf("upload %s: %w", file.Path, err)
	}
	// An upload cut short (its connection lost, its process killed) cannot remove its
	// temporary file; a later upload of the same target does, once the file is old enough
	// that no upload can still be writing it (two uploads of one target may run at once).
	_ = c.withSFTP(ctx, func(sc *sftp.Client) error { return removeLeftTemporaries(sc, file.Path, time.Now()) })
	return nil
}

// leftTemporaryAge is how old a temporary file must be to be taken as left by an upload cut
// short: far longer than an upload takes, and than the guest's clock may be off.
const leftTemporaryAge = 10 * time.Minute

// removeLeftTemporaries removes the temporary files of target that earlier uploads left.
func removeLeftTemporaries(sc *sftp.Client, target string, now time.Time) error {
	entries, err := sc.ReadDir(path.Dir(target))
	if err != nil {
		return err
	}
	prefix := path.Base(tempPrefix(target))
	for _, e := range entries {
		rest, ok := strings.CutPrefix(e.Name(), prefix)
		if !ok || !e.Mode().IsRegular() || len(rest) != 2*tempRandomBytes || strings.Trim(rest, "0123456789abcdef") != "" {
			continue
		}
		if now.Sub(e.ModTime()) < leftTemporaryAge {
			continue // perhaps an upload under way
		}
		if err := sc.Remove(path.Join(path.Dir(target), e.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return nil
}

// fileMode keeps permission and special bits of m, reading Unix octal special bits as Go's.
func fileMode(m fs.FileMode) fs.FileMode {
	out := m & (fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky)
	if m&0o4000 != 0 {
		out |= fs.ModeSetuid
	}
	if m&0o2000 != 0 {
		out |= fs.ModeSetgid
	}
	if m&0o1000 != 0 {
		out |= fs.ModeSticky
	}
	if out == 0 {
		return 0o644
	}
	return out
}

// writeTemp creates tmp exclusively, private to root, and writes content into it.
func writeTemp(sc *sftp.Client, tmp string, content []byte) error {
	f, err := sc.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL)
	if err != nil {
		return fmt.Errorf("create temporary file: %w", err)
	}
	if err := f.Chmod(0o600); err != nil {
		_ = f.Close()
		return fmt.Errorf("restrict temporary file: %w", err)
	}
	if _, err := f.ReadFrom(bytes.NewReader(content)); err != nil {
		_ = f.Close()
		return fmt.Errorf("write temporary file: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close temporary file: %w", err)
	}
	return nil
}

// finishUpload sets owner and mode on tmp and renames it over target. The mode comes after the
// owner because chown clears setuid and setgid bits.
func (c *Client) finishUpload(ctx context.Context, tmp, target, owner string, mode fs.FileMode) error {
	uid, gid, numeric := numericOwner(owner)
	if owner != "" && !numeric {
		res, err := c.Exec(ctx, Command{Line: "chown -h -- " + ShellQuote(owner) + " " + ShellQuote(tmp)})
		if err != nil {
			return fmt.Errorf("set owner %s: %w", owner, err)
		}
		if res.ExitCode != 0 {
			return fmt.Errorf("set owner %s: chown exited with %d: %s", owner, res.ExitCode, firstLine(res.Stderr))
		}
	}
	return c.withSFTP(ctx, func(sc *sftp.Client) error {
		if numeric {
			if err := sc.Chown(tmp, uid, gid); err != nil {
				return fmt.Errorf("set owner %s: %w", owner, err)
			}
		}
		if err := sc.Chmod(tmp, mode); err != nil {
			return fmt.Errorf("set mode %#o: %w", mode, err)
		}
		if err := rename(sc, tmp, target); err != nil {
			return fmt.Errorf("rename into place: %w", err)
		}
		return nil
	})
}

// rename replaces target atomically where the server offers POSIX rename (OpenSSH does).
func rename(sc *sftp.Client, from, to string) error {
	if _, ok := sc.HasExtension("posix-rename@openssh.com"); ok {
		return sc.PosixRename(from, to)
	}
	if err := sc.Remove(to); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return sc.Rename(from, to)
}

// numericOwner parses "uid" or "uid:gid"; a bare uid keeps gid equal to it, as for root.
func numericOwner(owner string) (uid, gid int, ok bool) {
	if owner == "" {
		return 0, 0, false
	}
	u, g, hasGroup := strings.Cut(owner, ":")
	uid, err := strconv.Atoi(u)
	if err != nil {
		return 0, 0, false
	}
	if !hasGroup {
		return uid, uid, true
	}
	gid, err = strconv.Atoi(g)
	if err != nil {
		return 0, 0, false
	}
	return uid, gid, true
}

// tempRandomBytes is how many random bytes, hex-encoded, end a temporary file's name.
const tempRandomBytes = 8

// tempName is a hidden, random name in the target's directory, so the rename stays on one file system.
func tempName(target string) (string, error) {
	var b [tempRandomBytes]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return tempPrefix(target) + hex.EncodeToString(b[:]), nil
}

// tempPrefix is what every temporary name of target starts with.
func tempPrefix(target string) string {
	name := "." + path.Base(target)
	if len(name) > 200 {
		name = name[:200]
	}
	return path.Join(path.Dir(target), name+".lxctm-")
}

// ReadFile reads a file of at most MaxReadFileSize bytes. A missing file gives an error matching
// fs.ErrNotExist.
func (c *Client) ReadFile(ctx context.Context, p string) (data []byte, err error) {
	start := time.Now()
	defer func() { c.dialer.observe(OpReadFile, start, err) }()
	if err := ValidatePath(p); err != nil {
		return nil, fmt.Errorf("read file: %w", err)
	}
	ctx, cancel := c.operationContext(ctx)
	defer cancel()
	err = c.withSFTP(ctx, func(sc *sftp.Client) error {
		data, err = readFile(sc, p, MaxReadFileSize)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("read file %s: %w", p, err)
	}
	return data, nil
}

func readFile(sc *sftp.Client, p string, limit int64) ([]byte, error) {
	f, err := sc.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("file is larger than %d bytes", limit)
	}
	return data, nil
}

// withSFTP runs fn with the connection's SFTP client, started on first use. SFTP calls take no
// context, so cancellation closes the SFTP client; the next call starts a new one.
func (c *Client) withSFTP(ctx context.Context, fn func(*sftp.Client) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	sc, err := c.sftpClient()
	if err != nil {
		return err
	}
	stop := context.AfterFunc(ctx, func() { _ = sc.Close() })
	err = fn(sc)
	if !stop() {
		c.dropSFTP(sc)
		return ctx.Err()
	}
	if errors.Is(err, sftp.ErrSSHFxConnectionLost) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		c.dropSFTP(sc)
	}
	return err
}

func (c *Client) sftpClient() (*sftp.Client, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sftp != nil {
		return c.sftp, nil
	}
	sc, err := sftp.NewClient(c.conn)
	if err != nil {
		return nil, fmt.Errorf("start sftp: %w", err)
	}
	c.sftp = sc
	return sc, nil
}

func (c *Client) dropSFTP(sc *sftp.Client) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sftp == sc {
		_ = sc.Close()
		c.sftp = nil
	}
}

// operationContext bounds file operations by OperationTimeout.
func (c *Client) operationContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, c.dialer.operationTimeout())
}

func firstLine(b []byte) string {
	s, _, _ := strings.Cut(strings.TrimSpace(string(b)), "\n")
	if len(s) > 200 {
		s = s[:200]
	}
	return s
}
