package controller

import (
	"strings"
	"testing"
	"time"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
	"templatemanager.dev/lxc-template-manager/internal/desired"
	"templatemanager.dev/lxc-template-manager/internal/outcome"
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
	got, err := recreateFields(s, &cfg)
	if err != nil {
		t.Fatal(err)
	}
	fields := strings.Join(got, "; ")
	for _, want := range []string{"osTemplate", "storage (the root disk is on local-lvm", "features.unprivileged", "mountPoints[0].storage"} {
		if !strings.Contains(fields, want) {
			t.Errorf("recreate fields %q lack %q", fields, want)
		}
	}
}

// TestRecreateFieldsOSTemplate: the volume a container was made from meets a short form of any
// version, so a newer tarball never asks for a recreate; a changed osTemplate or the
// os-template-upgrade annotation does, and an unknown origin never does.
func TestRecreateFieldsOSTemplate(t *testing.T) {
	const (
		old   = "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst"
		newer = "local:vztmpl/debian-12-standard_12.12-1_amd64.tar.zst"
		trixy = "local:vztmpl/debian-13-standard_13.1-1_amd64.tar.zst"
	)
	cluster := &lxcv1.ProxmoxCluster{Status: lxcv1.ProxmoxClusterStatus{Templates: []lxcv1.ClusterTemplate{
		{Node: "pve1", Storage: "local", VolID: old}, {Node: "pve1", Storage: "local", VolID: newer},
		{Node: "pve1", Storage: "local", VolID: trixy},
	}}}
	cfg, err := proxmox.ParseConfigText(map[string]string{"rootfs": "local-lvm:vm-100-disk-0,size=4G", "unprivileged": "1"})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, made, osTemplate, annotation string
		want                               string // a part of the field named, "" for none
		invalid                            bool
	}{
		{name: "short form, a newer tarball on the node", made: old, osTemplate: "debian-12-standard"},
		{name: "short form, made from the newest", made: newer, osTemplate: "debian-12-standard"},
		{name: "short form, on another storage", made: "nfs:vztmpl/debian-12-standard_12.2-1_amd64.tar.zst", osTemplate: "debian-12-standard"},
		{name: "another short form", made: old, osTemplate: "debian-13-standard", want: "to be made from " + trixy},
		{name: "the volid made from", made: old, osTemplate: old},
		{name: "another volid", made: old, osTemplate: newer, want: "the template asks for " + newer},
		{name: "origin unknown (adopted)", made: "", osTemplate: newer},
		{name: "origin unknown, upgrade asked", made: "", osTemplate: "debian-12-standard", annotation: "latest"},
		{name: "upgrade to latest", made: old, osTemplate: "debian-12-standard", annotation: "latest", want: "=latest asks for " + newer},
		{name: "upgrade to latest, made from it", made: newer, osTemplate: "debian-12-standard", annotation: "latest"},
		{name: "upgrade to a volid", made: newer, osTemplate: "debian-12-standard", annotation: old, want: "asks for " + old},
		{name: "upgrade to the volid made from", made: old, osTemplate: "debian-12-standard", annotation: old},
		{name: "upgrade to another template's volid", made: old, osTemplate: "debian-12-standard", annotation: trixy, invalid: true},
	} {
		s := &containerScope{
			obj:     &lxcv1.LXCContainer{Status: lxcv1.LXCContainerStatus{Node: "pve1", OSTemplate: c.made}},
			cluster: cluster,
			desired: &desired.Container{Storage: "local-lvm", Unprivileged: true},
		}
		s.desired.OSTemplate = c.osTemplate
		if c.annotation != "" {
			s.obj.Annotations = map[string]string{lxcv1.OSTemplateUpgradeAnnotation: c.annotation}
		}
		fields, err := recreateFields(s, &cfg)
		if got := outcome.Of(err); c.invalid != (got.Kind == outcome.Stalled && got.Reason == lxcv1.InvalidSpecReason) {
			t.Errorf("%s: error %v, want InvalidSpec %v", c.name, err, c.invalid)
		}
		joined := strings.Join(fields, "; ")
		if (c.want == "") != (joined == "") || !strings.Contains(joined, c.want) {
			t.Errorf("%s: recreate fields %q, want one with %q", c.name, joined, c.want)
		}
		// The annotation is no part of the spec's hash: the create phase looks only when asked.
		if got, want := osTemplateUpgradePending(s), c.annotation != "" && (c.want != "" || c.invalid); got != want {
			t.Errorf("%s: osTemplateUpgradePending = %v, want %v", c.name, got, want)
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
