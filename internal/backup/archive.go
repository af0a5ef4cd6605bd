package backup

import (
	"context"
	"fmt"
	"path"
	"regexp"
	"strings"
	"time"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
	"templatemanager.dev/lxc-template-manager/internal/proxmox"
)

// clusterAnnotation on an LXCBackup names the ProxmoxCluster its archive is on, so the archive
// can be found and deleted after its container is gone.
const clusterAnnotation = "lxc.templatemanager.dev/cluster"

// archiveLine is vzdump's log line naming the archive it writes (PVE/VZDump.pm).
var archiveLine = regexp.MustCompile(`creating vzdump archive '([^']+)'`)

// findArchive finds the archive a finished vzdump task wrote: by the name in the task's log,
// else the container's newest archive on the storage made since the task started.
func findArchive(ctx context.Context, px proxmox.Client, obj *lxcv1.LXCBackup, upid proxmox.UPID) (proxmox.BackupArchive, error) {
	st := &obj.Status
	if upid == "" {
		// No task to read: fall through to the newest archive.
	} else if lines, err := px.TaskLogTail(ctx, upid, 200); err == nil {
		for _, l := range lines {
			if m := archiveLine.FindStringSubmatch(l); m != nil {
				volid := obj.Spec.Storage + ":backup/" + path.Base(m[1])
				a, ok, err := lookUpArchive(ctx, px, st.Node, volid, int(st.VMID))
				if err != nil || ok {
					return a, err
				}
			}
		}
	}
	archives, err := px.Backups(ctx, st.Node, obj.Spec.Storage, int(st.VMID))
	if err != nil {
		return proxmox.BackupArchive{}, err
	}
	var since time.Time
	if st.StartTime != nil {
		since = st.StartTime.Add(-time.Minute)
	}
	var newest proxmox.BackupArchive
	for _, a := range archives {
		if a.Time.After(since) && a.Time.After(newest.Time) {
			newest = a
		}
	}
	if newest.Volid == "" {
		return newest, fmt.Errorf("vzdump of CT %d ended, but storage %s on %s has no archive of it", st.VMID, obj.Spec.Storage, st.Node)
	}
	return newest, nil
}

// lookUpArchive finds volid among the backups of vmid on its storage.
func lookUpArchive(ctx context.Context, px proxmox.Client, node, volid string, vmid int) (proxmox.BackupArchive, bool, error) {
	storage, _, _ := strings.Cut(volid, ":")
	archives, err := px.Backups(ctx, node, storage, vmid)
	if err != nil {
		return proxmox.BackupArchive{}, false, err
	}
	for _, a := range archives {
		if a.Volid == volid {
			return a, true, nil
		}
	}
	return proxmox.BackupArchive{}, false, nil
}
