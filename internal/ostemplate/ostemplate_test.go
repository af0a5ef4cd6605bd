package ostemplate

import (
	"testing"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
)

func TestResolveOSTemplate(t *testing.T) {
	templates := []lxcv1.ClusterTemplate{
		{Node: "pve1", Storage: "local", VolID: "local:vztmpl/debian-12-standard_12.2-1_amd64.tar.zst"},
		{Node: "pve1", Storage: "local", VolID: "local:vztmpl/debian-12-standard_12.10-1_amd64.tar.zst"},
		{Node: "pve1", Storage: "nfs", VolID: "nfs:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst"},
		{Node: "pve1", Storage: "local", VolID: "local:vztmpl/debian-12-standard-extra_12.99-1_amd64.tar.zst"},
		{Node: "pve2", Storage: "local", VolID: "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst"},
		{Node: "pve2", Storage: "local", VolID: "local:vztmpl/alpine-3.20-default_20240908_amd64.tar.xz"},
	}
	cases := []struct {
		osTemplate, node, want string
	}{
		{"debian-12-standard", "pve1", "local:vztmpl/debian-12-standard_12.10-1_amd64.tar.zst"},
		{"debian-12-standard", "pve2", "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst"},
		{"alpine-3.20-default", "pve2", "local:vztmpl/alpine-3.20-default_20240908_amd64.tar.xz"},
		{"alpine-3.20-default", "pve1", ""},
		{"debian-12", "pve1", ""},
		{"nfs:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst", "pve1", "nfs:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst"},
		{"nfs:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst", "pve2", ""},
	}
	for _, tc := range cases {
		got, ok := Resolve(tc.osTemplate, templates, tc.node)
		if got != tc.want || ok != (tc.want != "") {
			t.Errorf("Resolve(%s, %s) = %q, %v; want %q", tc.osTemplate, tc.node, got, ok, tc.want)
		}
	}
}

func TestCompareVersions(t *testing.T) {
	ordered := []string{"12.2-1", "12.7-1", "12.7.1", "12.10-1", "13.0-1", "20240908"}
	for i := range ordered {
		for j := range ordered {
			got := compareVersions(ordered[i], ordered[j])
			want := 0
			if i < j {
				want = -1
			} else if i > j {
				want = 1
			}
			if got != want {
				t.Errorf("compareVersions(%s, %s) = %d, want %d", ordered[i], ordered[j], got, want)
			}
		}
	}
}

func TestSatisfies(t *testing.T) {
	made := "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst"
	cases := []struct {
		osTemplate string
		want       bool
	}{
		{"debian-12-standard", true},
		{"debian-12", false},
		{"debian-13-standard", false},
		{made, true},
		{"local:vztmpl/debian-12-standard_12.12-1_amd64.tar.zst", false},
		{"nfs:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst", false},
	}
	for _, tc := range cases {
		if got := Satisfies(made, tc.osTemplate); got != tc.want {
			t.Errorf("Satisfies(%s, %s) = %v, want %v", made, tc.osTemplate, got, tc.want)
		}
	}
}

// TestResolvedOnOCI: an oci:// osTemplate stands for itself on each node with an active storage
// for container templates, where it is pulled when a container is created.
func TestResolvedOnOCI(t *testing.T) {
	ref := "oci://127.0.0.1:5000/team/app:v1"
	cluster := &lxcv1.ProxmoxCluster{}
	cluster.Name = "pve"
	cluster.Status.Storages = []lxcv1.ClusterStorage{
		{Node: "pve2", Name: "local", Content: "iso,vztmpl,backup", Active: true},
		{Node: "pve1", Name: "local-lvm", Content: "rootdir,images", Active: true},
		{Node: "pve1", Name: "nfs", Content: "vztmpl", Active: true},
		{Node: "pve1", Name: "local", Content: "vztmpl", Active: true},
		{Node: "pve3", Name: "local", Content: "vztmpl", Active: false},
	}
	got := ResolvedOn(ref, cluster)
	want := []lxcv1.ResolvedOSTemplate{{Cluster: "pve", Node: "pve1", VolID: ref}, {Cluster: "pve", Node: "pve2", VolID: ref}}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("ResolvedOn(%s) = %+v, want %+v", ref, got, want)
	}
	if !IsOCI(ref) || IsOCI("local:vztmpl/x.tar.zst") || OCIReference(ref) != "127.0.0.1:5000/team/app:v1" {
		t.Error("IsOCI or OCIReference")
	}
}

// TestOCIArchiveName: the archive's name carries the image, the tag and the digest's first 12
// hex digits, in the characters Proxmox keeps in a file name.
func TestOCIArchiveName(t *testing.T) {
	got := OCIArchiveName("127.0.0.1:5000/team/app:v1.2", "sha256:0123456789abcdef0123")
	if got != "app_v1.2-sha256_0123456789ab" {
		t.Errorf("OCIArchiveName = %s", got)
	}
	if OCIArchiveName("registry.example.com/app:v1", "sha256:ffffffffffff00") == got {
		t.Error("another digest gives the same name")
	}
}
