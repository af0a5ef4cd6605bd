package configmanager

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"regexp"
	"strings"
)

// Policy says how config-sync treats a managed file that already exists in the container.
type Policy string

const (
	// PolicyReplace installs the desired file whenever content, mode or owner differ.
	PolicyReplace Policy = "replace"
	// PolicyDefault writes the file only when nothing exists at its path.
	PolicyDefault Policy = "default"
	// PolicyBackup keeps a differing file that config-sync did not write as <path>.bak, then
	// installs the desired file.
	PolicyBackup Policy = "backup"
)

// ManagedFile is a file config-sync keeps in place.
type ManagedFile struct {
	// Path is absolute; see ValidateManagedPath for the characters allowed.
	Path    string
	Content []byte
	// Mode is the permission bits; zero means 0644. Setuid, setgid and sticky may be given as
	// fs.ModeSetuid, fs.ModeSetgid, fs.ModeSticky or as the octal 04000, 02000, 01000 of
	// chmod, so that a mode from the API converts with a plain fs.FileMode(n).
	Mode fs.FileMode
	// Owner is "user:group" (names or numeric ids); empty means root:root.
	Owner string
	// Policy is empty for PolicyReplace.
	Policy Policy
}

const (
	defaultFileMode fs.FileMode = 0o644
	defaultOwner                = "root:root"
	maxManagedPath              = 1024
	maxManagedFile              = 4 << 20
	maxManagedFiles             = 256
	manifestHeader              = "# config-manager manifest v1\n# policy\tmode\towner\tsha256\tpath\n"
	backupSuffix                = ".bak"
	managedModeMask fs.FileMode = fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky
)

var (
	// A component is a run of letters, digits, space and a few punctuation marks that mean
	// nothing to the manifest (tab-separated) or to a shell reading it with IFS=tab.
	pathComponentRE = regexp.MustCompile(`^[A-Za-z0-9 ._+,:=@%~-]+$`)
	ownerPartRE     = `(?:[A-Za-z_][A-Za-z0-9_.-]{0,31}|[0-9]{1,10})`
	ownerRE         = regexp.MustCompile(`^` + ownerPartRE + `:` + ownerPartRE + `$`)
)

// reservedDirs hold config-manager itself or are not files at all.
var reservedDirs = []string{ConfigDir, StateDir, "/proc", "/sys", "/dev", "/run"}

// ValidateManagedPath accepts absolute paths whose components consist of letters, digits,
// space and the marks . _ + , : = @ % ~ - only: no control characters, tabs, quotes, slashes
// doubled, "." or ".." components, or a trailing slash. Paths inside config-manager's own
// directories and in /proc, /sys, /dev and /run are refused.
func ValidateManagedPath(p string) error {
	if !strings.HasPrefix(p, "/") {
		return fmt.Errorf("path %q is not absolute", p)
	}
	if len(p) > maxManagedPath {
		return fmt.Errorf("path is longer than %d bytes", maxManagedPath)
	}
	parts := strings.Split(p[1:], "/")
	for _, c := range parts {
		switch {
		case c == "":
			return fmt.Errorf("path %q has an empty component", p)
		case c == "." || c == "..":
			return fmt.Errorf("path %q has a %q component", p, c)
		case !pathComponentRE.MatchString(c):
			return fmt.Errorf("path %q has a character outside letters, digits, space and ._+,:=@%%~-", p)
		}
	}
	for _, dir := range reservedDirs {
		if p == dir || strings.HasPrefix(p, dir+"/") {
			return fmt.Errorf("path %q is inside %s, which config-manager does not manage", p, dir)
		}
	}
	return nil
}

// ValidateOwner accepts "user:group" where each side is an account name or a numeric id.
func ValidateOwner(owner string) error {
	if !ownerRE.MatchString(owner) {
		return fmt.Errorf("owner %q is not user:group (names or numeric ids)", owner)
	}
	return nil
}

// normalize fills defaults and validates f. Errors never include the content.
func (f ManagedFile) normalize() (ManagedFile, error) {
	if err := ValidateManagedPath(f.Path); err != nil {
		return f, err
	}
	if f.Mode == 0 {
		f.Mode = defaultFileMode
	}
	f.Mode = fromUnixSpecialBits(f.Mode)
	if f.Mode&^managedModeMask != 0 {
		return f, fmt.Errorf("file %s: mode %v has bits beyond permissions, setuid, setgid and sticky", f.Path, f.Mode)
	}
	if f.Owner == "" {
		f.Owner = defaultOwner
	}
	if err := ValidateOwner(f.Owner); err != nil {
		return f, fmt.Errorf("file %s: %w", f.Path, err)
	}
	switch f.Policy {
	case "":
		f.Policy = PolicyReplace
	case PolicyReplace, PolicyDefault, PolicyBackup:
	default:
		return f, fmt.Errorf("file %s: policy %q is not replace, default or backup", f.Path, f.Policy)
	}
	if len(f.Content) > maxManagedFile {
		return f, fmt.Errorf("file %s: content is larger than %d bytes", f.Path, maxManagedFile)
	}
	return f, nil
}

// fromUnixSpecialBits moves chmod's 04000, 02000 and 01000 to Go's mode bits.
func fromUnixSpecialBits(m fs.FileMode) fs.FileMode {
	for unix, goBit := range map[fs.FileMode]fs.FileMode{0o4000: fs.ModeSetuid, 0o2000: fs.ModeSetgid, 0o1000: fs.ModeSticky} {
		if m&unix != 0 {
			m = m&^unix | goBit
		}
	}
	return m
}

// octalMode renders mode as the four octal digits chmod takes, special bits first.
func octalMode(m fs.FileMode) string {
	n := uint32(m.Perm())
	if m&fs.ModeSetuid != 0 {
		n |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		n |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		n |= 0o1000
	}
	return fmt.Sprintf("%04o", n)
}

func contentSum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// blobPath is where the desired content of a managed file waits in the container. Content is
// stored by its hash so that file names never have to be encoded and identical contents are
// stored once.
func blobPath(sum string) string { return FilesDir + "/" + sum }

// normalizeFiles validates every file and rejects duplicates, including a backup file that
// would land on another managed path.
func normalizeFiles(files []ManagedFile) ([]ManagedFile, error) {
	if len(files) > maxManagedFiles {
		return nil, fmt.Errorf("%d managed files; at most %d are allowed", len(files), maxManagedFiles)
	}
	out := make([]ManagedFile, 0, len(files))
	seen := map[string]bool{}
	for _, f := range files {
		n, err := f.normalize()
		if err != nil {
			return nil, err
		}
		if seen[n.Path] {
			return nil, fmt.Errorf("file %s is listed twice", n.Path)
		}
		seen[n.Path] = true
		out = append(out, n)
	}
	for _, f := range out {
		if f.Policy == PolicyBackup && seen[f.Path+backupSuffix] {
			return nil, fmt.Errorf("file %s: its backup %s%s is itself a managed file", f.Path, f.Path, backupSuffix)
		}
		for _, g := range out {
			if strings.HasPrefix(g.Path, f.Path+"/") {
				return nil, fmt.Errorf("file %s is a parent directory of managed file %s", f.Path, g.Path)
			}
		}
	}
	return out, nil
}

// renderManifest lists the files in order, one per line, tab-separated with the path last, so
// that a shell reading it with IFS=tab gets the path whole, spaces included.
func renderManifest(files []ManagedFile) []byte {
	var b bytes.Buffer
	b.WriteString(manifestHeader)
	for _, f := range files {
		fmt.Fprintf(&b, "%s\t%s\t%s\t%s\t%s\n", f.Policy, octalMode(f.Mode), f.Owner, contentSum(f.Content), f.Path)
	}
	return b.Bytes()
}
