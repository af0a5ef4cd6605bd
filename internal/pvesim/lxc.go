package pvesim

import (
	"context"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"

	"templatemanager.dev/lxc-template-manager/internal/pvesim/schema"
)

func vmidParam(r *request) int {
	id, _ := strconv.Atoi(r.params["vmid"])
	return id
}

// target returns the container a request names, or PVE's error.
func (s *Server) target(r *request) (*container, error) {
	return s.lookup(r.params["node"], vmidParam(r))
}

// checkVMIDUnused fails like pve-cluster's check_vmid_unused; the caller holds s.mu.
func (s *Server) checkVMIDUnusedLocked(vmid int) error {
	if ct, ok := s.containers[vmid]; ok {
		return pveError("CT %d already exists on node '%s'", vmid, ct.Node)
	}
	return nil
}

// optionParams are the request parameters that are config options (not node, vmid, …).
func optionParams(r *request, drop ...string) map[string]string {
	p := maps.Clone(r.params)
	for _, k := range append([]string{"node", "vmid"}, drop...) {
		delete(p, k)
	}
	return p
}

func validateSSHKeys(keys string) error {
	for _, line := range strings.Split(keys, "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		if _, _, _, _, err := ssh.ParseAuthorizedKey([]byte(line)); err != nil {
			return pveError("SSH public key validation error")
		}
	}
	return nil
}

// templateFile checks the ostemplate of a create call as PVE's check_volume_access does and
// returns the template's file name, or an absolute path root@pam passed.
func (s *Server) templateFile(r *request, volid string) (string, error) {
	sid, name, ok := schema.ParseVolumeID(volid)
	if !ok {
		if !r.isRoot() {
			return "", pveError("Only root can pass arbitrary filesystem paths.")
		}
		return volid, nil
	}
	st, ok := findStorage(sid)
	if !ok {
		return "", errNoStorage(sid)
	}
	if st.plugin != "dir" {
		return "", pveError("unable to parse lvm volume name '%s'", name)
	}
	file, isTemplate := strings.CutPrefix(name, "vztmpl/")
	switch {
	case isTemplate && !strings.Contains(file, "/") && vztmplRE.MatchString(file):
		return file, nil
	case otherContentRE.MatchString(name):
		return "", pveError("unable to use volume %s - content type needs to be 'vztmpl'", volid)
	}
	return "", pveError("unable to parse directory volume name '%s'", name)
}

var (
	otherContentRE = regexp.MustCompile(`^(iso|backup|snippets|import)/[^/]+$`)
	bareSizeRE     = regexp.MustCompile(`^\d+(\.\d+)?$`)
	diskNoRE       = regexp.MustCompile(`disk-(\d+)`)
)

// newDiskRE is PVE's NEW_DISK_RE: STORAGE:SIZE_IN_GiB allocates a new volume.
var newDiskRE = regexp.MustCompile(`^(([^/:\s]+):)?(\d+(\.\d+)?)$`)

// checkDiskStorage fails like create's check_and_activate_storage.
func checkDiskStorage(sid string) error {
	st, ok := findStorage(sid)
	if !ok {
		return errNoStorage(sid)
	}
	if !st.has("rootdir") {
		return paramErrorf("storage", "storage '%s' does not support container directories", sid)
	}
	return nil
}

// allocateDisk turns rootfs/mp values into allocated volumes: local-lvm:8 becomes
// local-lvm:vm-100-disk-0,size=8G, local:8 local:100/vm-100-disk-0.raw,size=8G.
func allocateDisk(vmid, diskNo int, key, value string) (string, error) {
	format := rootfsFormat
	if key != "rootfs" {
		format = createSchema.Property("mp0").FormatProps
	}
	mp, err := schema.ParsePropertyString(format, value)
	if err != nil {
		return "", paramErrorf(key, "%v", err)
	}
	vol := mp["volume"]
	if mountType(vol) != "volume" {
		return value, nil
	}
	if m := newDiskRE.FindStringSubmatch(vol); m != nil {
		st, ok := findStorage(m[2])
		if !ok {
			return "", errNoStorage(m[2])
		}
		gib, _ := strconv.ParseFloat(m[3], 64)
		size := int64(gib * (1 << 30))
		mp["volume"] = newDiskVolume(st, vmid, diskNo, size)
		mp["size"] = schema.FormatSize(size)
		return schema.PrintPropertyString(format, mp), nil
	}
	return schema.PrintPropertyString(format, mp), nil
}

// detectOSType guesses ostype from the template's name, as PVE does from its contents.
func detectOSType(file string) string {
	name := strings.ToLower(file)
	for _, os := range []string{"debian", "devuan", "ubuntu", "centos", "fedora", "opensuse", "archlinux", "alpine", "gentoo", "nixos"} {
		if strings.HasPrefix(name, os) {
			return os
		}
	}
	return "unmanaged"
}

// createOnly are create parameters that never reach the config file.
var createOnly = []string{"password", "ssh-public-keys", "storage", "start", "force", "restore", "unique", "pool",
	"ignore-unpack-errors", "bwlimit", "ha-managed", "ostemplate", "unprivileged", "lock"}

func (s *Server) createContainer(r *request) (any, error) {
	node := r.params["node"]
	if !s.hasNode(node) {
		return nil, errNoNode(node)
	}
	vmid := vmidParam(r)
	if r.bool("restore") {
		return s.restoreContainer(r)
	}
	s.mu.Lock()
	err := s.checkVMIDUnusedLocked(vmid)
	s.mu.Unlock()
	if err != nil {
		return nil, err
	}
	unprivileged := r.params["unprivileged"] != "0"
	sshKeys := r.params["ssh-public-keys"]
	if err := validateSSHKeys(sshKeys); err != nil {
		return nil, err
	}
	if err := s.checkPool(r.params["pool"]); err != nil {
		return nil, err
	}
	params := optionParams(r, createOnly...)
	if err := checkModifyPerm(r, nil, params, nil, unprivileged); err != nil {
		return nil, err
	}
	ostemplate := r.params["ostemplate"]
	file, err := s.templateFile(r, ostemplate)
	if err != nil {
		return nil, err
	}
	storage := r.params["storage"]
	if storage == "" {
		storage = "local"
	}

	conf, disks, err := configFromParams(params, storage)
	if err != nil {
		return nil, err
	}
	if conf["rootfs"] == "" {
		if err := checkDiskStorage(storage); err != nil {
			return nil, err
		}
		conf["rootfs"] = storage + ":4"
		disks = append([]string{"rootfs"}, disks...)
	}
	diskNo := 0
	for _, k := range append([]string{"rootfs"}, slices.DeleteFunc(slices.Clone(disks), func(k string) bool { return k == "rootfs" })...) {
		if conf[k], err = allocateDisk(vmid, diskNo, k, conf[k]); err != nil {
			return nil, err
		}
		diskNo++
	}
	if unprivileged {
		conf["unprivileged"] = "1"
	}
	if conf["hostname"] == "" {
		conf["hostname"] = fmt.Sprintf("CT%d", vmid)
	}
	for k, def := range map[string]string{"memory": "512", "swap": "512", "arch": "amd64", "ostype": detectOSType(file)} {
		if conf[k] == "" {
			conf[k] = def
		}
	}

	s.mu.Lock()
	if err := s.checkVMIDUnusedLocked(vmid); err != nil {
		s.mu.Unlock()
		return nil, pveError("unable to create CT %d - %s", vmid, err.Error())
	}
	ct := newContainer(vmid, node)
	ct.Conf["lock"] = "create"
	ct.OSTemplate = ostemplate
	ct.SSHKeys = sshKeys
	s.containers[vmid] = ct
	err = s.store.saveContainer(ct)
	s.mu.Unlock()
	if err == nil {
		err = s.addToPool(r.params["pool"], vmid)
	}
	if err != nil {
		return nil, err
	}
	password, start := r.params["password"], r.bool("start")
	s.log.Info("Creating container", "vmid", vmid, "node", node, "template", ostemplate, "user", r.user)
	return s.tasks.start(node, "vzcreate", strconv.Itoa(vmid), r.user, func(ctx context.Context, t *task) error {
		return s.runCreate(ctx, t, ct, conf, file, password, start)
	}), nil
}

// configFromParams turns the config options of a create call into a config as PVE's
// update_pct_config does, and checks the storages of its volumes; a bare size is a new volume
// on storage. disks are the rootfs and mp[n] keys given, sorted.
func configFromParams(params map[string]string, storage string) (conf map[string]string, disks []string, err error) {
	conf = map[string]string{}
	for k, v := range params {
		switch {
		case k == "rootfs" || indexed(k, "mp"):
			if bareSizeRE.MatchString(v) {
				v = storage + ":" + v
			}
			conf[k] = v
			disks = append(disks, k)
		case indexed(k, "unused"):
			// PVE warns and ignores unused volumes on create.
		case indexed(k, "dev"):
			if err := checkDevice(k, v); err != nil {
				return nil, nil, err
			}
			conf[k] = v
		case k == "tags":
			conf[k] = normaliseTags(v)
		case indexed(k, "net"):
			if conf[k], err = canonicalNet(v); err != nil {
				return nil, nil, paramErrorf(k, "%v", err)
			}
		default:
			conf[k] = v
		}
	}
	if len(disks) > 0 && conf["rootfs"] == "" {
		return nil, nil, pveError("mount points configured, but 'rootfs' not set - aborting")
	}
	slices.Sort(disks)
	for _, k := range disks {
		mp, err := schema.ParsePropertyString(rootfsFormatFor(k), conf[k])
		if err != nil {
			return nil, nil, paramErrorf(k, "%v", err)
		}
		if mountType(mp["volume"]) != "volume" {
			continue
		}
		sid, _, ok := schema.ParseVolumeID(mp["volume"])
		if !ok {
			return nil, nil, pveError("unable to parse volume ID '%s'", mp["volume"])
		}
		if err := checkDiskStorage(sid); err != nil {
			return nil, nil, err
		}
	}
	return conf, disks, nil
}

func rootfsFormatFor(key string) map[string]*schema.Property {
	if key == "rootfs" {
		return rootfsFormat
	}
	return createSchema.Property("mp0").FormatProps
}

// runCreate is the vzcreate worker: it holds the config lock throughout, so `lock: create`
// stays visible until the container is ready, and removes every trace on failure.
func (s *Server) runCreate(ctx context.Context, t *task, ct *container, conf map[string]string, file, password string, start bool) error {
	vmid := ct.VMID
	if err := ct.lock(ctx, s.opts.LockTimeout); err != nil {
		return s.abortCreate(ctx, ct, false, err)
	}
	defer ct.unlock()
	if err := t.fault(); err != nil {
		return s.abortCreate(ctx, ct, false, err)
	}
	path := file
	if !strings.HasPrefix(file, "/") {
		path = s.templatePath(file)
		if !fileExists(path) && !s.hasTemplate(file) {
			return s.abortCreate(ctx, ct, false, fmt.Errorf("can't find file '%s'", ct.OSTemplate))
		}
	} else if !fileExists(path) {
		return s.abortCreate(ctx, ct, false, fmt.Errorf("can't find file '%s'", file))
	}
	if isOCITemplate(path) {
		t.logf("Detected OCI archive")
		oc, err := applyOCIImage(path, conf)
		if err != nil {
			return s.abortCreate(ctx, ct, false, err)
		}
		conf["ostype"] = oc.ostype
		s.mu.Lock()
		ct.Init = &initConf{Halt: oc.halt, Cwd: oc.cwd}
		s.mu.Unlock()
	}
	t.logf("extracting archive '%s'", path)
	spec, err := s.specFor(ct, conf)
	if err != nil {
		return s.abortCreate(ctx, ct, false, err)
	}
	spec.OSTemplate = path
	spec.RootPassword = password
	if err := s.backend.Create(ctx, spec); err != nil {
		return s.abortCreate(ctx, ct, true, err)
	}
	t.logf("Detected container architecture: %s", conf["arch"])
	for _, k := range []string{"rsa", "ecdsa", "ed25519"} {
		t.logf("Creating SSH host key 'ssh_host_%s_key' - this may take some time ...", k)
	}
	if err := t.pad(ctx); err != nil {
		return s.abortCreate(ctx, ct, true, err)
	}
	s.mu.Lock()
	ct.Conf = conf
	err = s.store.saveContainer(ct)
	s.mu.Unlock()
	if err != nil {
		return err
	}
	s.log.Info("Container created", "vmid", vmid, "node", ct.Node)
	if start {
		if err := s.startLocked(ctx, t, ct); err != nil {
			return err
		}
	}
	return nil
}

// abortCreate removes a container whose creation failed, as PVE destroys the disks and config.
func (s *Server) abortCreate(ctx context.Context, ct *container, created bool, cause error) error {
	if created {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		if err := s.backend.Destroy(dctx, ct.VMID); err != nil {
			s.log.Warn("Cleanup after failed create", "vmid", ct.VMID, "error", err)
		}
		cancel()
	}
	s.forget(ct)
	return fmt.Errorf("unable to create CT %d - %v", ct.VMID, cause)
}

// forget drops a container and its leases.
func (s *Server) forget(ct *container) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.containers[ct.VMID] == ct {
		delete(s.containers, ct.VMID)
		if err := s.store.removeContainer(ct.VMID); err != nil {
			s.log.Warn("Remove container state", "vmid", ct.VMID, "error", err)
		}
		// remove_vm_access: a guest that is gone leaves its pool.
		if p := s.poolOfLocked(ct.VMID); p != "" {
			delete(s.pools[p].VMs, ct.VMID)
			if err := s.store.savePools(s.pools); err != nil {
				s.log.Warn("Save pools", "vmid", ct.VMID, "error", err)
			}
		}
	}
}

func (s *Server) destroyContainer(r *request) (any, error) {
	ct, err := s.target(r)
	if err != nil {
		return nil, err
	}
	vmid := ct.VMID
	s.mu.Lock()
	err = ct.checkLock()
	protected := ct.Conf["protection"] == "1"
	s.mu.Unlock()
	if err != nil {
		return nil, err
	}
	if protected {
		return nil, pveError("can't remove CT %d - protection mode enabled", vmid)
	}
	purge := r.bool("purge")
	if !purge && s.haConfigured(vmid) {
		return nil, pveError("unable to remove CT %d - used in HA resources and purge parameter not set.", vmid)
	}
	force := r.bool("force")
	if !force && s.running(r.Context(), vmid) {
		return nil, pveError("unable to destroy CT %d - container is running", vmid)
	}
	s.log.Info("Destroying container", "vmid", vmid, "user", r.user)
	return s.lockedTask(r, ct, "vzdestroy", false, func(ctx context.Context, t *task) error {
		if s.running(ctx, vmid) {
			if !force {
				return fmt.Errorf("unable to destroy CT %d - container is running", vmid)
			}
			if err := s.backend.Stop(ctx, vmid); err != nil {
				return err
			}
		}
		if err := s.setLock(ct, "destroyed"); err != nil {
			return err
		}
		if err := s.backend.Destroy(ctx, vmid); err != nil {
			return err
		}
		for _, k := range diskKeys(ct.Conf) {
			t.logf("Logical volume \"vm-%d-disk-%s\" successfully removed.", vmid, strings.TrimPrefix(strings.TrimPrefix(k, "rootfs"), "mp"))
		}
		if purge && s.haConfigured(vmid) {
			t.logf("purging CT %d from related configurations..", vmid)
			if err := s.dropHA(vmid); err != nil {
				return err
			}
			t.logf("NOTE: removed CT %d from HA resource configuration.", vmid)
		}
		if err := t.pad(ctx); err != nil {
			return err
		}
		s.forget(ct)
		s.log.Info("Container destroyed", "vmid", vmid)
		return nil
	}), nil
}

// setLock sets or clears (with "") the config lock and saves the container.
func (s *Server) setLock(ct *container, lock string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if lock == "" {
		delete(ct.Conf, "lock")
	} else {
		ct.Conf["lock"] = lock
	}
	return s.store.saveContainer(ct)
}

func (s *Server) containerIndex(r *request) (any, error) {
	if _, err := s.target(r); err != nil {
		return nil, err
	}
	var out []map[string]string
	for _, d := range []string{"config", "pending", "status", "vncproxy", "termproxy", "vncwebsocket", "spiceproxy",
		"migrate", "clone", "rrd", "rrddata", "firewall", "snapshot", "resize", "interfaces"} {
		out = append(out, map[string]string{"subdir": d})
	}
	return out, nil
}

func (s *Server) getConfig(r *request) (any, error) {
	ct, err := s.target(r)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	conf := ct.Conf
	if !r.bool("current") {
		conf = withPending(ct.Conf, ct.Pending)
	}
	if name := r.params["snapshot"]; name != "" {
		sn := ct.snapshot(name)
		if sn == nil {
			return nil, pveError("snapshot '%s' does not exist", name)
		}
		conf = sn.Conf
	}
	out := configJSON(conf)
	out["digest"] = ct.digest()
	return out, nil
}

// specChanged says whether options a backend acts on changed (hostname, resources, features,
// interfaces, mount points); changing only others needs no Reconfigure.
func specChanged(old, new map[string]string) bool {
	for _, k := range []string{"hostname", "cores", "memory", "swap", "features"} {
		if old[k] != new[k] {
			return true
		}
	}
	for _, conf := range []map[string]string{old, new} {
		for k := range maps.Keys(conf) {
			if (indexed(k, "net") || indexed(k, "mp")) && old[k] != new[k] {
				return true
			}
		}
	}
	return false
}

func (s *Server) updateConfig(r *request) (any, error) {
	ct, err := s.target(r)
	if err != nil {
		return nil, err
	}
	vmid := ct.VMID
	params := optionParams(r, "digest", "delete", "revert")
	deletes, reverts := schema.SplitList(r.params["delete"]), schema.SplitList(r.params["revert"])
	if len(params) == 0 && !r.has("delete") && !r.has("revert") {
		return nil, pveError("no options specified")
	}
	if err := ct.lock(r.Context(), s.opts.LockTimeout); err != nil {
		return nil, err
	}
	defer ct.unlock()

	s.mu.Lock()
	old := maps.Clone(ct.Conf)
	err = ct.checkLock()
	digest := ct.digest()
	s.mu.Unlock()
	if err != nil {
		return nil, err
	}
	if want := r.params["digest"]; want != "" && want != digest {
		return nil, pveError("detected modified configuration - file changed by other user? Try again.")
	}
	unprivileged := old["unprivileged"] == "1"
	if err := checkModifyPerm(r, old, nil, deletes, unprivileged); err != nil {
		return nil, err
	}
	if err := checkModifyPerm(r, old, nil, reverts, unprivileged); err != nil {
		return nil, err
	}
	for _, opt := range reverts {
		if configSchema.Property(opt) == nil {
			return nil, paramErrorf("revert", "unknown option '%s'", opt)
		}
		if _, ok := params[opt]; ok {
			return nil, paramErrorf("revert", "you can't use '-%s' and '-revert %s' at the same time", opt, opt)
		}
	}
	for _, opt := range deletes {
		if configSchema.Property(opt) == nil {
			return nil, paramErrorf("delete", "unknown option '%s'", opt)
		}
		if _, ok := params[opt]; ok {
			return nil, paramErrorf("delete", "you can't use '-%s' and -delete %s' at the same time", opt, opt)
		}
		if slices.Contains(reverts, opt) {
			return nil, paramErrorf("delete", "you can't use '-delete %s' and '-revert %s' at the same time", opt, opt)
		}
	}
	if err := checkModifyPerm(r, old, params, nil, unprivileged); err != nil {
		return nil, err
	}

	pending := maps.Clone(ct.Pending)
	if pending == nil {
		pending = map[string]string{}
	}
	for _, opt := range reverts {
		delete(pending, opt)
		removePendingDelete(pending, opt)
	}
	for _, opt := range deletes {
		_, set := old[opt]
		if _, inPending := pending[opt]; !set && !inPending {
			continue // PVE warns: not set in current configuration
		}
		switch {
		case opt == "memory" || opt == "rootfs" || opt == "ostype":
			return nil, pveError("unable to delete required option '%s'", opt)
		case opt == "unprivileged":
			return nil, pveError("unable to delete read-only option: '%s'", opt)
		case (indexed(opt, "mp") || indexed(opt, "unused")) && old["protection"] == "1":
			return nil, pveError("can't remove CT %d drive '%s' - protection mode enabled", vmid, opt)
		}
		addPendingDelete(pending, opt)
	}
	for _, opt := range slices.Sorted(maps.Keys(params)) {
		v := params[opt]
		switch {
		case opt == "unprivileged":
			return nil, pveError("unable to modify read-only option: '%s'", opt)
		case opt == "rootfs" || indexed(opt, "mp"):
			if old["protection"] == "1" {
				return nil, pveError("can't update CT %d drive '%s' - protection mode enabled", vmid, opt)
			}
			mp, err := schema.ParsePropertyString(rootfsFormatFor(opt), v)
			if err != nil {
				return nil, paramErrorf(opt, "%v", err)
			}
			if mountType(mp["volume"]) == "volume" {
				sid, _, _ := schema.ParseVolumeID(mp["volume"])
				if st, ok := findStorage(sid); !ok {
					return nil, errNoStorage(sid)
				} else if !st.has("rootdir") {
					return nil, pveError("storage '%s' does not allow content type 'rootdir' (Container)", sid)
				}
				if newDiskRE.MatchString(mp["volume"]) {
					if v, err = allocateDisk(vmid, nextDiskNo(withPending(old, pending)), opt, v); err != nil {
						return nil, err
					}
				}
			}
		case opt == "tags":
			v = normaliseTags(v)
		case indexed(opt, "net"):
			if v, err = canonicalNet(v); err != nil {
				return nil, paramErrorf(opt, "%v", err)
			}
		case indexed(opt, "dev"):
			if err := checkDevice(opt, v); err != nil {
				return nil, err
			}
		}
		pending[opt] = v
		removePendingDelete(pending, opt)
	}
	cleanupPending(old, pending)
	conf := maps.Clone(old)
	if s.running(r.Context(), vmid) {
		hotplugPending(conf, pending)
	} else {
		applyPending(conf, pending)
	}
	if len(pending) == 0 {
		pending = nil
	}

	s.mu.Lock()
	ct.Conf, ct.Pending = conf, pending
	err = s.store.saveContainer(ct)
	s.mu.Unlock()
	if err != nil {
		return nil, err
	}
	s.log.Info("Container config updated", "vmid", vmid, "user", r.user, "changed", slices.Sorted(maps.Keys(params)), "deleted", deletes,
		"pending", slices.Sorted(maps.Keys(pending)))
	if specChanged(old, conf) {
		spec, err := s.spec(ct)
		if err != nil {
			return nil, pveError("%v", err)
		}
		if err := s.backend.Reconfigure(r.Context(), spec); err != nil {
			return nil, pveError("unable to apply pending changes - %v", err)
		}
	}
	return nil, nil
}

func nextDiskNo(conf map[string]string) int {
	used := map[string]bool{}
	for _, k := range diskKeys(conf) {
		if m := diskNoRE.FindStringSubmatch(conf[k]); m != nil {
			used[m[1]] = true
		}
	}
	for i := 0; ; i++ {
		if !used[strconv.Itoa(i)] {
			return i
		}
	}
}

func (s *Server) currentStatus(r *request) (any, error) {
	ct, err := s.target(r)
	if err != nil {
		return nil, err
	}
	running := s.running(r.Context(), ct.VMID)
	s.mu.Lock()
	snap := ct.clone()
	s.mu.Unlock()
	return s.vmStatus(snap, running, true), nil
}

// specFor builds the backend's spec from a config that is not yet the container's.
func (s *Server) specFor(ct *container, conf map[string]string) (ContainerSpec, error) {
	s.mu.Lock()
	tmp := ct.clone()
	s.mu.Unlock()
	tmp.Conf = conf
	sp := s.specOf(tmp)
	var err error
	sp.Networks, err = s.networkSpecs(ct, conf)
	return sp, err
}
