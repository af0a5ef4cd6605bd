package pvesim

import (
	"context"
	"path/filepath"
	"strconv"
	"strings"

	"templatemanager.dev/lxc-template-manager/internal/pvesim/schema"
)

// restoreJob is a create call with restore=1 as its worker sees it.
type restoreJob struct {
	ct       *container
	node     string
	volid    string // the archive as given
	archive  string // its file on this host
	storage  string // default storage of new volumes
	given    map[string]string
	disks    []string // rootfs and mp[n] given; none restores the backup's
	existing bool     // force replaces a container of this node
	unpriv   string   // the unprivileged parameter, "" when not given
	unique   bool
	start    bool
	root     bool
}

// restoreContainer is POST /nodes/{node}/lxc with restore=1 up to the worker (pve-container
// API2/LXC.pm create_vm): an existing VMID is refused unless force names a stopped, unprotected
// container of this node, which the restore then replaces.
func (s *Server) restoreContainer(r *request) (any, error) {
	node, vmid := r.params["node"], vmidParam(r)
	force := r.bool("force")
	s.mu.Lock()
	old, exists := s.containers[vmid]
	same := exists && old.Node == node
	var err error
	if !same || !force {
		err = s.checkVMIDUnusedLocked(vmid)
	}
	protected := same && old.Conf["protection"] == "1"
	s.mu.Unlock()
	switch {
	case err != nil:
		return nil, err
	case same && s.running(r.Context(), vmid):
		return nil, pveError("can't overwrite running container")
	case protected:
		return nil, pveError("unable to restore CT %d - protection mode enabled", vmid)
	}
	if err := validateSSHKeys(r.params["ssh-public-keys"]); err != nil {
		return nil, err
	}
	if err := s.checkPool(r.params["pool"]); err != nil {
		return nil, err
	}
	params := optionParams(r, createOnly...)
	if err := checkModifyPerm(r, nil, params, nil, r.params["unprivileged"] == "1"); err != nil {
		return nil, err
	}
	job := &restoreJob{node: node, volid: r.params["ostemplate"], storage: "local", existing: same,
		unpriv: r.params["unprivileged"], unique: r.bool("unique"), start: r.bool("start"), root: r.isRoot()}
	if v := r.params["storage"]; v != "" {
		job.storage = v
	}
	if job.archive, err = s.backupFile(r, node, job.volid); err != nil {
		return nil, err
	}
	if job.given, job.disks, err = configFromParams(params, job.storage); err != nil {
		return nil, err
	}
	if job.given["rootfs"] == "" {
		if err := checkDiskStorage(job.storage); err != nil {
			return nil, err
		}
	}
	if job.unpriv == "1" {
		job.given["unprivileged"] = "1"
	}
	if job.ct, err = s.lockForCreate(node, vmid, force && same); err != nil {
		return nil, pveError("unable to restore CT %d - %v", vmid, err)
	}
	if err := s.addToPool(r.params["pool"], vmid); err != nil {
		return nil, err
	}
	s.log.Info("Restoring container", "vmid", vmid, "node", node, "archive", job.volid, "user", r.user)
	return s.tasks.start(node, "vzrestore", strconv.Itoa(vmid), r.user, func(ctx context.Context, t *task) error {
		return s.runRestore(ctx, t, job)
	}), nil
}

// backupFile checks the archive of a restore as check_volume_access with content type backup
// does and returns its file; root@pam may name any file.
func (s *Server) backupFile(r *request, node, volid string) (string, error) {
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
	vtype, _, err := volumeType(st, name)
	if err != nil {
		return "", pveError("%v", err)
	}
	if vtype != "backup" {
		return "", pveError("unable to use volume %s - content type needs to be 'backup'", volid)
	}
	return filepath.Join(s.backupDir(node, sid), strings.TrimPrefix(name, "backup/")), nil
}

// lockForCreate is create_and_lock_config: the config of a new container, or with
// allowExisting the container's own, gets lock: create; a container locked otherwise is not
// touched.
func (s *Server) lockForCreate(node string, vmid int, allowExisting bool) (*container, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ct, ok := s.containers[vmid]
	if !ok || !allowExisting {
		if err := s.checkVMIDUnusedLocked(vmid); err != nil {
			return nil, err
		}
		ct = newContainer(vmid, node)
		s.containers[vmid] = ct
	} else if err := ct.checkLock(); err != nil {
		return nil, err
	}
	ct.Conf["lock"] = "create"
	return ct, s.store.saveContainer(ct)
}
