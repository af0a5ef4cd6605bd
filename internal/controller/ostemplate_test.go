package controller

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
	"templatemanager.dev/lxc-template-manager/internal/proxmox"
	"templatemanager.dev/lxc-template-manager/internal/pvesim/pvesimtest"
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
		got, ok := resolveOSTemplate(tc.osTemplate, templates, tc.node)
		if got != tc.want || ok != (tc.want != "") {
			t.Errorf("resolveOSTemplate(%s, %s) = %q, %v; want %q", tc.osTemplate, tc.node, got, ok, tc.want)
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
	}
	for _, tc := range cases {
		if got := osTemplateRefusal(tc.osTemplate, templates, tc.node, tc.storages); got != tc.want {
			t.Errorf("osTemplateRefusal(%s, %s) = %q, want %q", tc.osTemplate, tc.node, got, tc.want)
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

// TestShortOSTemplateResolvesOnTheSimulator gives a template the short form the original store
// writes and checks that the template lists, and the container is created from, the newest
// debian-12-standard the simulator's storage holds; a short form nothing matches keeps the
// template from being Ready and says what was looked for.
func TestShortOSTemplateResolvesOnTheSimulator(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"debian-12-standard_12.2-1_amd64.tar.zst", "debian-12-standard_12.10-1_amd64.tar.zst", "debian-12-standard_12.7-1_amd64.tar.zst"} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	const newest = "local:vztmpl/debian-12-standard_12.10-1_amd64.tar.zst"
	f := newPipelineFixture(t, "short-os", pvesimtest.WithTemplateDir(dir))
	f.template.Spec.OSTemplate = "debian-12-standard"
	f.createTemplate(t)
	eventually(t, 20*time.Second, func() error {
		if err := condition(f.template, lxcv1.ReadyCondition, metav1.ConditionTrue, lxcv1.SucceededReason)(); err != nil {
			return err
		}
		want := []lxcv1.ResolvedOSTemplate{{Cluster: f.cluster.Name, Node: "pve1", VolID: newest}, {Cluster: f.cluster.Name, Node: "pve2", VolID: newest}}
		if !slices.Equal(f.template.Status.OSTemplates, want) {
			return fmt.Errorf("status.osTemplates = %v, want %v", f.template.Status.OSTemplates, want)
		}
		return nil
	})

	c := f.container("short-1")
	create(t, c)
	eventually(t, 20*time.Second, condition(c, lxcv1.ContainerCreatedCondition, metav1.ConditionTrue, lxcv1.SucceededReason))
	if c.Status.OSTemplate != newest {
		t.Errorf("status.osTemplate = %q, want %q", c.Status.OSTemplate, newest)
	}

	missing := &lxcv1.LXCTemplate{
		ObjectMeta: metav1.ObjectMeta{Namespace: f.ns, Name: "alpine"},
		Spec:       lxcv1.LXCTemplateSpec{OSTemplate: "alpine-3.20-default"},
	}
	if err := k8s.Create(testCtx, missing); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, condition(missing, lxcv1.ReadyCondition, metav1.ConditionFalse, lxcv1.OSTemplateNotFoundReason))
	if msg := conditionMessage(missing.Status.Conditions); !strings.Contains(msg, "alpine-3.20-default_<version>_<arch>") {
		t.Errorf("Ready message should say what was looked for: %q", msg)
	}
}
