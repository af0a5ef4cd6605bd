package pvesim

import (
	"context"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"templatemanager.dev/lxc-template-manager/internal/pvesim/schema"
)

type storageDef struct {
	name, plugin, content string
	total, used           int64
}

func (d storageDef) has(content string) bool {
	return slices.Contains(strings.Split(d.content, ","), content)
}

// storages exist on every node: local for templates and backups, local-lvm for container
// disks, as on a fresh Proxmox VE install. A fresh install's local has the content
// backup,iso,vztmpl; the directory plugin also allows images and rootdir (pve-storage
// DirPlugin.pm plugindata), which an administrator adds to put container disks on a plain
// directory, as here: those disks are raw files that cannot be snapshotted.
var storages = []storageDef{
	{name: "local", plugin: "dir", content: "backup,images,iso,rootdir,vztmpl", total: 100 << 30, used: 12 << 30},
	{name: "local-lvm", plugin: "lvmthin", content: "images,rootdir", total: 400 << 30, used: 40 << 30},
}

func findStorage(name string) (storageDef, bool) {
	for _, st := range storages {
		if st.name == name {
			return st, true
		}
	}
	return storageDef{}, false
}

func errNoStorage(name string) *apiError { return pveError("storage '%s' does not exist", name) }

func storageEntry(st storageDef) map[string]any {
	return map[string]any{
		"storage": st.name, "type": st.plugin, "content": st.content, "active": 1, "enabled": 1, "shared": 0,
		"total": st.total, "used": st.used, "avail": st.total - st.used,
		"used_fraction": float64(st.used) / float64(st.total),
	}
}

func (s *Server) listStorages(r *request) (any, error) {
	if !s.hasNode(r.params["node"]) {
		return nil, errNoNode(r.params["node"])
	}
	want := schema.SplitList(r.params["content"])
	out := []map[string]any{}
	for _, st := range storages {
		if name := r.params["storage"]; name != "" && name != st.name {
			continue
		}
		if len(want) > 0 && !slices.ContainsFunc(want, st.has) {
			continue
		}
		out = append(out, storageEntry(st))
	}
	return out, nil
}

func (s *Server) storageStatus(r *request) (any, error) {
	if !s.hasNode(r.params["node"]) {
		return nil, errNoNode(r.params["node"])
	}
	st, ok := findStorage(r.params["storage"])
	if !ok {
		return nil, paramErrorf("storage", "No such storage.")
	}
	e := storageEntry(st)
	delete(e, "used_fraction") // only the storage index computes it
	return e, nil
}

// vztmplRE is pve-storage's VZTMPL_EXT_RE_1; the match gives the format (tgz, txz, tzst, tbz2).
// A plain .tar (format tar) is what oci-registry-pull writes.
var vztmplRE = regexp.MustCompile(`(?i)\.tar(?:\.([gx]z|zst|bz2))?$`)

type templateFile struct {
	name  string
	size  int64
	ctime int64
}

// templates lists the OS templates of the local storage: the tarballs of the template
// directory and the backend's built-in ones.
func (s *Server) templates() []templateFile {
	var out []templateFile
	seen := map[string]bool{}
	if dir := s.opts.TemplateDir; dir != "" {
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			if e.IsDir() || !vztmplRE.MatchString(e.Name()) {
				continue
			}
			info, err := e.Info()
			if err != nil {
				continue
			}
			out = append(out, templateFile{name: e.Name(), size: info.Size(), ctime: info.ModTime().Unix()})
			seen[e.Name()] = true
		}
	}
	if b, ok := s.backend.(BuiltinTemplates); ok {
		for _, name := range b.BuiltinTemplates() {
			if !seen[name] {
				out = append(out, templateFile{name: name, size: 126 << 20, ctime: startTime.Unix()})
				seen[name] = true
			}
		}
	}
	slices.SortFunc(out, func(a, b templateFile) int { return strings.Compare(a.name, b.name) })
	return out
}

func (s *Server) hasTemplate(name string) bool {
	return slices.ContainsFunc(s.templates(), func(t templateFile) bool { return t.name == name })
}

func templateFormat(name string) string {
	if m := vztmplRE.FindStringSubmatch(name); m != nil && m[1] != "" {
		return "t" + strings.ToLower(m[1])
	}
	return "tar"
}

func (s *Server) storageContent(r *request) (any, error) {
	if !s.hasNode(r.params["node"]) {
		return nil, errNoNode(r.params["node"])
	}
	st, ok := findStorage(r.params["storage"])
	if !ok {
		return nil, errNoStorage(r.params["storage"])
	}
	want := schema.SplitList(r.params["content"])
	wanted := func(c string) bool { return len(want) == 0 || slices.Contains(want, c) }
	out := []map[string]any{}
	if st.has("vztmpl") && wanted("vztmpl") && !r.has("vmid") {
		for _, t := range s.templates() {
			out = append(out, map[string]any{
				"volid": st.name + ":vztmpl/" + t.name, "content": "vztmpl", "format": templateFormat(t.name),
				"size": t.size, "ctime": t.ctime,
			})
		}
	}
	if st.has("rootdir") && wanted("rootdir") {
		node := r.params["node"]
		for _, ct := range s.snapshotContainers(func(c *container) bool { return c.Node == node }) {
			if r.has("vmid") && r.params["vmid"] != fmt.Sprint(ct.VMID) {
				continue
			}
			for _, key := range diskKeys(ct.Conf) {
				mp, err := schema.ParsePropertyString(rootfsFormat, ct.Conf[key])
				if err != nil {
					continue
				}
				sid, name, ok := schema.ParseVolumeID(mp["volume"])
				if !ok || sid != st.name {
					continue
				}
				size, _ := schema.ParseSize(mp["size"])
				format := "raw"
				if v, ok := parseDiskVolume(mp["volume"]); ok {
					format = v.format
				}
				out = append(out, map[string]any{
					"volid": sid + ":" + name, "content": "rootdir", "format": format, "size": size, "vmid": ct.VMID,
				})
			}
		}
	}
	if st.has("backup") && wanted("backup") {
		backups, err := s.backupEntries(r.params["node"], st, r.params["vmid"])
		if err != nil {
			return nil, err
		}
		out = append(out, backups...)
	}
	// PVE::Storage::volume_list sorts by volume id, case-insensitively.
	slices.SortStableFunc(out, func(a, b map[string]any) int {
		return strings.Compare(strings.ToLower(a["volid"].(string)), strings.ToLower(b["volid"].(string)))
	})
	return out, nil
}

// diskKeys lists rootfs and the mp[n] keys of a config.
func diskKeys(conf map[string]string) []string {
	var keys []string
	for k := range conf {
		if k == "rootfs" || (strings.HasPrefix(k, "mp") && strings.Trim(k[2:], "0123456789") == "") {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys
}

func (s *Server) storageVolume(r *request) (any, error) {
	if !s.hasNode(r.params["node"]) {
		return nil, errNoNode(r.params["node"])
	}
	if _, ok := findStorage(r.params["storage"]); !ok {
		return nil, errNoStorage(r.params["storage"])
	}
	volid := r.params["volume"]
	if !strings.Contains(volid, ":") {
		volid = r.params["storage"] + ":" + volid
	}
	if sid, name, ok := schema.ParseVolumeID(volid); ok {
		if file, ok := strings.CutPrefix(name, "backup/"); ok && backupFileRE.MatchString(file) {
			return s.backupVolumeInfo(r.params["node"], volid, filepath.Join(s.backupDir(r.params["node"], sid), file))
		}
	}
	if name, ok := strings.CutPrefix(volid, "local:vztmpl/"); ok {
		for _, t := range s.templates() {
			if t.name == name {
				return map[string]any{
					"path": s.templatePath(t.name), "size": t.size, "used": t.size, "format": templateFormat(t.name),
					"volid": volid, "content": "vztmpl", "ctime": t.ctime,
				}, nil
			}
		}
	}
	return nil, pveError("volume '%s' does not exist", volid)
}

// appliances is the simulator's aplinfo index: the templates the fake backend knows.
var appliances = []map[string]string{
	{
		"template": "debian-12-standard_12.7-1_amd64.tar.zst", "package": "debian-12-standard", "version": "12.7-1",
		"type": "lxc", "os": "debian-12", "section": "system", "architecture": "amd64",
		"headline": "Debian 12 Bookworm (standard)", "description": "A small Debian Bookworm system including all standard packages.",
		"infopage":   "https://pve.proxmox.com/wiki/Linux_Container#pct_supported_distributions",
		"maintainer": "Proxmox Support Team <support@proxmox.com>", "source": "https://pve.proxmox.com/wiki/Linux_Container",
	},
}

func (s *Server) aplinfo(r *request) (any, error) {
	if !s.hasNode(r.params["node"]) {
		return nil, errNoNode(r.params["node"])
	}
	out := []map[string]string{}
	for _, a := range appliances {
		e := map[string]string{}
		for k, v := range a {
			e[k] = v
		}
		e["location"] = "file://" + s.templatePath(a["template"])
		out = append(out, e)
	}
	return out, nil
}

func (s *Server) downloadAppliance(r *request) (any, error) {
	node := r.params["node"]
	if !s.hasNode(node) {
		return nil, errNoNode(node)
	}
	tmpl := r.params["template"]
	if !slices.ContainsFunc(appliances, func(a map[string]string) bool { return a["template"] == tmpl }) {
		return nil, paramErrorf("template", "no such template")
	}
	st, ok := findStorage(r.params["storage"])
	if !ok {
		return nil, errNoStorage(r.params["storage"])
	}
	if !st.has("vztmpl") {
		return nil, pveError("storage '%s' does not support templates", st.name)
	}
	return s.tasks.start(node, "download", tmpl, r.user, func(ctx context.Context, t *task) error {
		if err := t.fault(); err != nil {
			return err
		}
		t.logf("starting template download of %s", tmpl)
		if !s.hasTemplate(tmpl) {
			// The simulator has no appliance mirror; only templates it already has "download".
			return fmt.Errorf("download of template '%s' failed: no appliance source available", tmpl)
		}
		t.logf("file %s already exists, skipping download", s.templatePath(tmpl))
		return nil
	}), nil
}

func (s *Server) downloadURL(r *request) (any, error) {
	node := r.params["node"]
	if !s.hasNode(node) {
		return nil, errNoNode(node)
	}
	st, ok := findStorage(r.params["storage"])
	if !ok {
		return nil, errNoStorage(r.params["storage"])
	}
	content, filename := r.params["content"], r.params["filename"]
	if content == "vztmpl" && !vztmplRE.MatchString(filename) && !strings.HasSuffix(filename, ".tar") {
		return nil, paramErrorf("filename", "wrong file extension")
	}
	if !st.has(content) {
		return nil, pveError("storage '%s' does not support content-type '%s'", st.name, content)
	}
	if strings.ContainsAny(filename, "/\x00") || filename == "." || filename == ".." {
		return nil, paramErrorf("filename", "invalid filename")
	}
	var newHash func() hash.Hash
	if algo := r.params["checksum-algorithm"]; algo != "" || r.has("checksum") {
		hashes := map[string]func() hash.Hash{"md5": md5.New, "sha1": sha1.New, "sha224": sha256.New224,
			"sha256": sha256.New, "sha384": sha512.New384, "sha512": sha512.New}
		if algo == "" || !r.has("checksum") {
			return nil, paramErrorf("checksum", "checksum and checksum-algorithm must be set together")
		}
		newHash = hashes[algo]
	}
	if s.opts.TemplateDir == "" {
		return nil, pveError("storage '%s' has no template directory", st.name)
	}
	url, want := r.params["url"], strings.ToLower(r.params["checksum"])
	insecure := r.params["verify-certificates"] == "0"
	dest := filepath.Join(s.opts.TemplateDir, filename)
	return s.tasks.start(node, "download", encodeText(filename), r.user, func(ctx context.Context, t *task) error {
		if err := t.fault(); err != nil {
			return err
		}
		t.logf("downloading %s to %s", url, dest)
		return download(ctx, url, dest, insecure, newHash, want, t)
	}), nil
}

func download(ctx context.Context, url, dest string, insecure bool, newHash func() hash.Hash, want string, t *task) error {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if insecure {
		tr.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // the caller asked for verify-certificates=0
	}
	client := &http.Client{Transport: tr, Timeout: 30 * time.Minute}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("download failed: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("download failed: %s", resp.Status)
	}
	tmp, err := os.CreateTemp(filepath.Dir(dest), ".download.*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	var h hash.Hash
	w := io.Writer(tmp)
	if newHash != nil {
		h = newHash()
		w = io.MultiWriter(tmp, h)
	}
	n, err := io.Copy(w, resp.Body)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("download failed: %v", err)
	}
	t.logf("downloaded %d bytes", n)
	if h != nil {
		got := hex.EncodeToString(h.Sum(nil))
		if got != want {
			return fmt.Errorf("checksum mismatch: got '%s' != expected '%s'", got, want)
		}
		t.logf("checksum verified")
	}
	return os.Rename(tmp.Name(), dest)
}

// encodeText is PVE::Tools::encode_text: control characters, ':' and '%' as %XX.
func encodeText(s string) string {
	var b strings.Builder
	for _, c := range []byte(s) {
		if c < 0x20 || c > 0x7e || c == ':' || c == '%' {
			fmt.Fprintf(&b, "%%%02X", c)
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}
