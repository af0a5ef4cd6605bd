package controller

import (
	"strings"
	"testing"
	"time"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
	"templatemanager.dev/lxc-template-manager/internal/desired"
	"templatemanager.dev/lxc-template-manager/internal/proxmox"
)

// TestRecreateFields names what Proxmox cannot change in place.
func TestRecreateFields(t *testing.T) {
	s := &containerScope{
		obj:     &lxcv1.LXCContainer{Status: lxcv1.LXCContainerStatus{Node: "pve1", OSTemplate: "local:vztmpl/a.tar.zst"}},
		cluster: &lxcv1.ProxmoxCluster{},
		desired: &desired.Container{Storage: "local-lvm", Unprivileged: true},
	}
	s.desired.OSTemplate = "local:vztmpl/b.tar.zst"
	s.desired.Storage = "fast"
	s.desired.Unprivileged = false
	s.desired.MountPoints = []lxcv1.MountPoint{{Index: 0, Path: "/srv/data", SizeGiB: 1, Storage: "fast"}}
	cfg, err := proxmox.ParseConfigText(map[string]string{
		"rootfs": "local-lvm:vm-100-disk-0,size=4G", "unprivileged": "1",
		"mp0": "local-lvm:vm-100-disk-1,mp=/srv/data,size=1G",
	})
	if err != nil {
		t.Fatal(err)
	}
	fields := strings.Join(recreateFields(s, &cfg), "; ")
	for _, want := range []string{"osTemplate", "storage (the root disk is on local-lvm", "features.unprivileged", "mountPoints[0].storage"} {
		if !strings.Contains(fields, want) {
			t.Errorf("recreate fields %q lack %q", fields, want)
		}
	}
}

// TestRestartedSince tells a guest that restarted after the last look from one whose list
// entry is only older than the look.
func TestRestartedSince(t *testing.T) {
	now := time.Now()
	for _, c := range []struct {
		name string
		g    proxmox.Guest
		age  time.Duration
		want bool
	}{
		{"up long before the look, list read before the look", proxmox.Guest{Uptime: time.Hour, Seen: now.Add(-30 * time.Second)}, 10 * time.Second, false},
		{"up since shortly before the look, list stale", proxmox.Guest{Uptime: 5 * time.Second, Seen: now.Add(-25 * time.Second)}, 10 * time.Second, false},
		{"restarted after the look", proxmox.Guest{Uptime: 3 * time.Second, Seen: now}, time.Minute, true},
		{"stopped", proxmox.Guest{Seen: now}, time.Minute, false},
	} {
		if got := restartedSince(&c.g, c.age); got != c.want {
			t.Errorf("%s: restartedSince = %v, want %v", c.name, got, c.want)
		}
	}
}
