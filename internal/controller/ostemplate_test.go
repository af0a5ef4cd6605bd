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
	"templatemanager.dev/lxc-template-manager/internal/pvesim/pvesimtest"
)

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
