package configmanager

import (
	"crypto/sha256"
	_ "embed"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io/fs"
	"regexp"
	"sort"

	"templatemanager.dev/lxc-template-manager/internal/discovery"
)

// Config is what a container's config-manager is rendered from.
type Config struct {
	// Env is written to config.env in order; a later definition of a name wins (see MergeEnv).
	Env []EnvVar
	// Files are applied by config-sync in order.
	Files []ManagedFile
	// ContainerUser is the user scripts know as CONTAINER_USER; config-sync creates it when
	// missing. Empty: the helper library finds one as the original system did.
	ContainerUser string
}

// File is a file to upload into the container.
type File struct {
	Path    string
	Mode    fs.FileMode // permission bits only
	Owner   string      // user:group
	Content []byte
}

// Directory is a directory to create (with its parents) before uploading, with its mode.
type Directory struct {
	Path  string
	Mode  fs.FileMode
	Owner string
}

// Bundle is everything config-manager installs into a container: directories first (parents
// before children), then files. Upload the manifest after the contents it names (Files keeps
// that order), then run ActivateCommand.
type Bundle struct {
	Directories []Directory
	Files       []File
}

//go:embed config-sync.sh
var configSyncScript []byte

//go:embed script-env.sh
var scriptEnv []byte

// ScriptEnv returns the helper library of script runs (see script-env.sh for the contract).
func ScriptEnv() []byte { return append([]byte(nil), scriptEnv...) }

// ScriptRunEnv is what every script run's environment adds: bash loads the helper library
// before the script's first line, so the original's scripts run unchanged.
func ScriptRunEnv() map[string]string { return map[string]string{"BASH_ENV": ScriptEnvPath} }

var containerUserRE = regexp.MustCompile(`^[a-z_][a-z0-9_-]{0,31}$`)

// ValidateContainerUser accepts the user names useradd accepts by default.
func ValidateContainerUser(name string) error {
	if !containerUserRE.MatchString(name) {
		return fmt.Errorf("container user %q is not a user name (lowercase letters, digits, _ and -, at most 32)", name)
	}
	return nil
}

// ConfigSyncScript returns the config-sync script, which is the same for every container.
func ConfigSyncScript() []byte { return append([]byte(nil), configSyncScript...) }

// unitFile runs config-sync once per boot and on every restart by the controller.
const unitFile = `[Unit]
Description=Apply the files managed by LXC Template Manager
Documentation=file://` + ManifestPath + `
After=local-fs.target

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/bin/bash ` + SyncScriptPath + `
TimeoutStartSec=300

[Install]
WantedBy=multi-user.target
`

// Render validates cfg and renders the bundle. Errors name the offending variable or file but
// never quote a value or a file's content.
func Render(cfg Config) (*Bundle, error) {
	env, err := RenderEnv(cfg.Env)
	if err != nil {
		return nil, err
	}
	files, err := normalizeFiles(cfg.Files)
	if err != nil {
		return nil, err
	}
	if cfg.ContainerUser != "" {
		if err := ValidateContainerUser(cfg.ContainerUser); err != nil {
			return nil, err
		}
	}
	b := &Bundle{
		Directories: []Directory{
			{Path: ConfigDir, Mode: 0o755, Owner: defaultOwner},
			{Path: FilesDir, Mode: 0o700, Owner: defaultOwner},
			{Path: CredentialsDir, Mode: 0o700, Owner: defaultOwner},
			{Path: StateDir, Mode: 0o700, Owner: defaultOwner},
		},
	}
	add := func(path string, mode fs.FileMode, content []byte) {
		b.Files = append(b.Files, File{Path: path, Mode: mode, Owner: defaultOwner, Content: content})
	}
	add(EnvPath, 0o600, env)
	add(SyncScriptPath, 0o755, ConfigSyncScript())
	add(discovery.CollectorPath, 0o755, discovery.CollectorScript())
	// Scripts run as root, but run_as_user's commands load it too.
	add(ScriptEnvPath, 0o644, ScriptEnv())
	if cfg.ContainerUser != "" {
		add(ContainerUserPath, 0o644, []byte(cfg.ContainerUser+"\n"))
	}
	stored := map[string]bool{}
	for _, f := range files {
		sum := contentSum(f.Content)
		if stored[sum] {
			continue
		}
		stored[sum] = true
		// Contents may come from Secrets: only root reads them until config-sync installs them
		// with their own mode.
		add(blobPath(sum), 0o600, f.Content)
	}
	add(ManifestPath, 0o600, renderManifest(files))
	add(UnitPath, 0o644, []byte(unitFile))
	return b, nil
}

// Hash is a hex SHA-256 over every directory and file of the bundle — path, mode, owner and
// content, in a canonical order — so the controller can tell whether a container needs a new
// upload and sync by comparing it with the hash it recorded last.
func (b *Bundle) Hash() string {
	h := sha256.New()
	field := func(s []byte) {
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(s)))
		h.Write(n[:])
		h.Write(s)
	}
	dirs := append([]Directory(nil), b.Directories...)
	sort.Slice(dirs, func(i, j int) bool { return dirs[i].Path < dirs[j].Path })
	for _, d := range dirs {
		field([]byte("dir"))
		field([]byte(d.Path))
		field([]byte(octalMode(d.Mode)))
		field([]byte(d.Owner))
	}
	files := append([]File(nil), b.Files...)
	sort.Slice(files, func(i, j int) bool { return files[i].Path < files[j].Path })
	for _, f := range files {
		field([]byte("file"))
		field([]byte(f.Path))
		field([]byte(octalMode(f.Mode)))
		field([]byte(f.Owner))
		field(f.Content)
	}
	return hex.EncodeToString(h.Sum(nil))
}
