package placement

import (
	"errors"
	"strings"
	"testing"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
	"templatemanager.dev/lxc-template-manager/internal/outcome"
	"templatemanager.dev/lxc-template-manager/internal/proxmox"
)

func TestPickNode(t *testing.T) {
	nodes := []proxmox.Node{
		{Name: "pve1", Status: "online", FreeMemory: 4 << 30},
		{Name: "pve2", Status: "online", FreeMemory: 8 << 30},
		{Name: "pve3", Status: "offline", FreeMemory: 64 << 30},
		{Name: "pve4", Status: "online", FreeMemory: 8 << 30},
	}
	if got, err := PickNode(nodes, "", nil, nil); err != nil || got != "pve2" {
		t.Errorf("placement = %s, %v; want pve2 (most free memory among online, ties by name)", got, err)
	}
	if got, err := PickNode(nodes, "", nil, map[string]string{"pve2": "no storage local-lvm"}); err != nil || got != "pve4" {
		t.Errorf("placement = %s, %v; want pve4 (pve2 is refused)", got, err)
	}
	if got, err := PickNode(nodes, "pve1", nil, nil); err != nil || got != "pve1" {
		t.Errorf("requested node = %s, %v", got, err)
	}
	var wait *outcome.WaitError
	if _, err := PickNode(nodes, "pve3", nil, nil); !errors.As(err, &wait) || wait.Reason != lxcv1.NoNodeAvailableReason {
		t.Errorf("an offline requested node: %v", err)
	}
	var stall *outcome.StallError
	if _, err := PickNode(nodes, "pve9", nil, nil); !errors.As(err, &stall) {
		t.Errorf("an unknown node: %v", err)
	}
	if _, err := PickNode(nodes, "pve1", nil, map[string]string{"pve1": "no OS template local:vztmpl/x.tar.zst"}); !errors.As(err, &stall) ||
		!strings.Contains(stall.Error(), "node pve1 cannot take the container: no OS template") {
		t.Errorf("a refused requested node: %v", err)
	}
	if _, err := PickNode(nodes[2:3], "", nil, nil); !errors.As(err, &wait) {
		t.Errorf("no online node: %v", err)
	}
	refused := map[string]string{"pve1": "storage local-lvm has 1 GiB free, the container needs 8 GiB", "pve2": "no storage local-lvm", "pve4": "3 MiB of memory free, the container needs 512 MiB"}
	_, err := PickNode(nodes, "", nil, refused)
	if !errors.As(err, &stall) || stall.Reason != lxcv1.NoNodeAvailableReason {
		t.Fatalf("every node refused: %v", err)
	}
	for node, why := range refused {
		if !strings.Contains(stall.Error(), node+": "+why) {
			t.Errorf("the stall does not say why %s was refused: %s", node, stall.Error())
		}
	}
}

// TestPickNodeAvoidsMaintenance: a node in HA maintenance gets no new container, whatever its
// free memory; a requested one is waited for with NodeMaintenance; when only such nodes could
// take it, the container waits instead of stalling. An offline node is never picked.
func TestPickNodeAvoidsMaintenance(t *testing.T) {
	nodes := []proxmox.Node{
		{Name: "pve1", Status: "online", FreeMemory: 4 << 30},
		{Name: "pve2", Status: "online", FreeMemory: 8 << 30},
		{Name: "pve3", Status: "offline", FreeMemory: 64 << 30},
		{Name: "pve4", Status: "online", FreeMemory: 16 << 30},
	}
	if got, err := PickNode(nodes, "", []string{"pve4"}, nil); err != nil || got != "pve2" {
		t.Errorf("placement = %s, %v; want pve2 (pve4 is in maintenance, pve3 offline)", got, err)
	}
	if got, err := PickNode(nodes, "", []string{"pve2", "pve4"}, nil); err != nil || got != "pve1" {
		t.Errorf("placement = %s, %v; want pve1", got, err)
	}
	var wait *outcome.WaitError
	_, err := PickNode(nodes, "pve4", []string{"pve4"}, nil)
	if !errors.As(err, &wait) || wait.Reason != lxcv1.NodeMaintenanceReason || !strings.Contains(wait.Error(), "node pve4 is in maintenance mode") {
		t.Errorf("a requested node in maintenance: %v", err)
	}
	// Only nodes in maintenance could take it: wait, naming them and why the others cannot.
	_, err = PickNode(nodes, "", []string{"pve2", "pve4"}, map[string]string{"pve1": "no storage local-lvm"})
	if !errors.As(err, &wait) || wait.Reason != lxcv1.NoNodeAvailableReason ||
		!strings.Contains(wait.Error(), "until maintenance ends: pve2, pve4 in maintenance mode; pve1: no storage local-lvm") {
		t.Errorf("every node that could take it in maintenance: %v", err)
	}
	// The offline node is never picked, even when it is the only one not in maintenance.
	if got, err := PickNode(nodes, "", []string{"pve1", "pve2", "pve4"}, nil); !errors.As(err, &wait) {
		t.Errorf("placement = %s, %v; want a wait (the node left is offline)", got, err)
	}
	if got, err := PickNode(nodes, "pve3", nil, nil); !errors.As(err, &wait) || wait.Reason != lxcv1.NoNodeAvailableReason {
		t.Errorf("an offline requested node = %s, %v", got, err)
	}
}

func TestStorageRefusal(t *testing.T) {
	storages := []proxmox.Storage{
		{Name: "local", Content: []string{"vztmpl", "iso"}, Active: true, Enabled: true},
		{Name: "local-lvm", Content: []string{"rootdir", "images"}, Active: true, Enabled: true, Total: 100 << 30, Avail: 5 << 30},
		{Name: "nfs", Content: []string{"rootdir"}, Active: false, Enabled: true},
	}
	for _, c := range []struct {
		name, content string
		size          uint64
		want          string
	}{
		{"local-lvm", "rootdir", 4 << 30, ""},
		{"local-lvm", "rootdir", 8 << 30, "storage local-lvm has 5 GiB free, the container needs 8 GiB"},
		{"local", "vztmpl", 0, ""},
		{"local", "rootdir", 1 << 30, "storage local does not hold rootdir content"},
		{"nfs", "rootdir", 1 << 30, "storage nfs is not active"},
		{"ceph", "rootdir", 1 << 30, "no storage ceph"},
	} {
		if got := StorageRefusal(storages, c.name, c.content, c.size); got != c.want {
			t.Errorf("StorageRefusal(%s, %s, %d) = %q, want %q", c.name, c.content, c.size, got, c.want)
		}
	}
}

func TestOSTemplateRefusal(t *testing.T) {
	templates := []lxcv1.ClusterTemplate{
		{Node: "pve1", Storage: "nfs", VolID: "nfs:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst"},
		{Node: "pve2", Storage: "local", VolID: "local:vztmpl/alpine-3.20-default_20240908_amd64.tar.xz"},
	}
	local := []proxmox.Storage{{Name: "local", Content: []string{"vztmpl"}, Active: true, Enabled: true}}
	withNFS := append([]proxmox.Storage{{Name: "nfs", Content: []string{"vztmpl"}, Active: true, Enabled: true}}, local...)
	cases := []struct {
		osTemplate, node string
		storages         []proxmox.Storage
		want             string
	}{
		{"debian-12-standard", "pve1", withNFS, ""},
		{"debian-12-standard", "pve1", local, "no storage nfs (for the OS template)"},
		{"debian-12-standard", "pve2", withNFS, "no OS template debian-12-standard (a volume <storage>:vztmpl/debian-12-standard_<version>_<arch>.tar.*)"},
		{"debian-12-standard", "pve3", withNFS, "no OS template debian-12-standard (a volume <storage>:vztmpl/debian-12-standard_<version>_<arch>.tar.*)"},
		{"local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst", "pve2", withNFS, "no OS template local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst"},
		// A node the discovery has not listed yet is left to Proxmox for a volid.
		{"local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst", "pve3", withNFS, ""},
		{"backup:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst", "pve3", withNFS, "no storage backup (for the OS template)"},
		// An OCI image is pulled where the container goes: any storage for templates will do.
		{"oci://127.0.0.1:5000/team/app:v1", "pve3", local, ""},
		{"oci://127.0.0.1:5000/team/app:v1", "pve1", []proxmox.Storage{{Name: "local-lvm", Content: []string{"rootdir"}, Active: true, Enabled: true},
			{Name: "local", Content: []string{"vztmpl"}, Enabled: true}}, "no active storage for container templates to pull OCI image 127.0.0.1:5000/team/app:v1 to"},
	}
	for _, tc := range cases {
		if got := OSTemplateRefusal(tc.osTemplate, templates, tc.node, tc.storages); got != tc.want {
			t.Errorf("OSTemplateRefusal(%s, %s) = %q, want %q", tc.osTemplate, tc.node, got, tc.want)
		}
	}
}
