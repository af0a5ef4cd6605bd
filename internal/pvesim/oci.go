package pvesim

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"templatemanager.dev/lxc-template-manager/internal/pvesim/oci"
	"templatemanager.dev/lxc-template-manager/internal/pvesim/schema"
)

// checkPrivilege fails like PVE's permission check when the request's user (or token) lacks
// privilege on path; Options.Withheld says which it lacks.
func (s *Server) checkPrivilege(r *request, path, privilege string) error {
	if slices.Contains(s.opts.Withheld[r.user], privilege) {
		return permissionError(path + ", " + privilege)
	}
	return nil
}

// normalizeContentFilename is PVE::Storage::normalize_content_filename: the last path element,
// every character but [a-zA-Z0-9_.-] replaced by '_'.
func normalizeContentFilename(name string) string {
	name = strings.TrimRight(name, "\n")
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:]
	}
	return contentFilenameRE.ReplaceAllString(name, "_")
}

var contentFilenameRE = regexp.MustCompile(`[^a-zA-Z0-9_.-]`)

// ociRegistryPull is POST /nodes/{node}/storage/{storage}/oci-registry-pull (pve-storage
// API2/Storage/Status.pm): it copies an image into an oci-archive <name>.tar in the storage's
// template directory, in an ociregistrypull task. PVE runs skopeo; the simulator copies with
// go-containerregistry. The schema's reference pattern has already required a tag.
func (s *Server) ociRegistryPull(r *request) (any, error) {
	node, sid := r.params["node"], r.params["storage"]
	if err := s.checkPrivilege(r, "/storage/"+sid, "Datastore.AllocateTemplate"); err != nil {
		return nil, err
	}
	if err := s.checkPrivilege(r, "/nodes/"+node, "Sys.AccessNetwork"); err != nil {
		return nil, err
	}
	if !s.hasNode(node) {
		return nil, errNoNode(node)
	}
	st, ok := findStorage(sid)
	if !ok {
		return nil, errNoStorage(sid)
	}
	if st.plugin != "dir" {
		return nil, pveError("can't upload to storage type '%s', not a file based storage!", st.plugin)
	}
	if !st.has("vztmpl") {
		return nil, pveError("storage '%s' is not configured for content-type 'vztmpl'", sid)
	}
	if s.opts.TemplateDir == "" {
		return nil, pveError("storage '%s' has no template directory", sid)
	}
	reference := r.params["reference"]
	base := reference
	if r.has("filename") {
		base = r.params["filename"]
	}
	filename := normalizeContentFilename(base) + ".tar"
	dest := s.templatePath(filename)
	if _, err := os.Stat(dest); err == nil {
		return nil, pveError("refusing to override existing file '%s'", filename)
	}
	return s.tasks.start(node, "ociregistrypull", encodeText(filename), r.user, func(ctx context.Context, t *task) error {
		if err := t.fault(); err != nil {
			return err
		}
		tmp := fmt.Sprintf("%s.tmp.%d", dest, os.Getpid())
		t.logf("copying docker://%s to oci-archive:%s", reference, tmp)
		digest, err := oci.Pull(ctx, reference, tmp)
		if err != nil {
			_ = os.Remove(tmp)
			return err
		}
		t.logf("copied image %s", digest)
		if err := os.Rename(tmp, dest); err != nil {
			_ = os.Remove(tmp)
			return fmt.Errorf("unable to rename temporary file: %v", err)
		}
		return nil
	}), nil
}

// ociConfig is what restore_oci_archive (pve-container LXC/Create.pm) takes into a new
// container's configuration from an OCI image.
type ociConfig struct {
	ostype string // from the image's os-release; "unmanaged" when it has none
	halt   string // lxc.signal.halt: the image's StopSignal, SIGTERM by default
	cwd    string // lxc.init.cwd
}

// applyOCIImage maps the image config of an OCI archive onto conf as restore_oci_archive does:
// Entrypoint+Cmd become entrypoint (and console mode, and host-managed networks) unless they are
// /sbin/init, Env becomes env, replacing what the create call gave.
func applyOCIImage(path string, conf map[string]string) (*ociConfig, error) {
	a, err := oci.Open(path)
	if err != nil {
		return nil, err
	}
	defer a.Close()
	cfg, err := a.Config()
	if err != nil {
		return nil, err
	}
	hasCtrl := func(v string) bool { return ociCtrlRE.MatchString(v) }
	for _, list := range [][]string{cfg.Entrypoint, cfg.Cmd, cfg.Env, {cfg.WorkingDir, cfg.StopSignal, cfg.User}} {
		if slices.ContainsFunc(list, hasCtrl) {
			return nil, fmt.Errorf("OCI config value contains forbidden control characters!")
		}
	}
	initCmd := append(slices.Clone(cfg.Entrypoint), cfg.Cmd...)
	if len(initCmd) > 0 && initCmd[0] != "/sbin/init" {
		conf["entrypoint"] = cmdString(initCmd)
		conf["cmode"] = "console"
		for _, i := range netIndexes(conf) {
			key := fmt.Sprintf("net%d", i)
			n, err := schema.ParsePropertyString(netFormat, conf[key])
			if err != nil {
				continue
			}
			if _, set := n["host-managed"]; !set {
				n["host-managed"] = "1"
				conf[key] = schema.PrintPropertyString(netFormat, n)
			}
		}
	}
	if len(cfg.Env) > 0 {
		conf["env"] = strings.Join(cfg.Env, "\x00")
	}
	out := &ociConfig{ostype: "unmanaged", halt: "SIGTERM", cwd: cfg.WorkingDir}
	if cfg.StopSignal != "" {
		out.halt = cfg.StopSignal
	}
	if id := a.OSRelease(); id != "" {
		if t := detectOSType(id); t != "unmanaged" {
			out.ostype = t
		}
	}
	return out, nil
}

var ociCtrlRE = regexp.MustCompile(`[\x00-\x08\x10-\x1F\x7F]`)

// cmdString is PVE::Tools::cmd2string: each argument shell-quoted where it needs to be.
func cmdString(args []string) string {
	out := make([]string, len(args))
	for i, a := range args {
		if a != "" && safeArgRE.MatchString(a) {
			out[i] = a
			continue
		}
		out[i] = "'" + strings.ReplaceAll(a, "'", `'"'"'`) + "'"
	}
	return strings.Join(out, " ")
}

var safeArgRE = regexp.MustCompile(`^[-_.:,/=@+a-zA-Z0-9]+$`)

// isOCITemplate reports whether a create's template file is an OCI archive.
func isOCITemplate(path string) bool {
	return filepath.Ext(path) == ".tar" && oci.IsArchive(path)
}

// initConf is the part of a container's raw lxc.* configuration the simulator models.
type initConf struct {
	Halt string `json:"halt,omitempty"`
	Cwd  string `json:"cwd,omitempty"`
}
