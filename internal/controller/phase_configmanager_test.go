package controller

import (
	"fmt"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
	"templatemanager.dev/lxc-template-manager/internal/configmanager"
)

// configManagerPhaseCase is one edge of ConfigManagerDeployed: the template it needs and what to
// expect of a container made from it.
type configManagerPhaseCase struct {
	name     string
	template func(*lxcv1.LXCTemplateSpec)
	// then runs after the first outcome and returns the outcome to expect next.
	then func(t *testing.T, f *pipelineFixture, tmpl *lxcv1.LXCTemplate, c *lxcv1.LXCContainer)
	want func(t *testing.T, f *pipelineFixture, tmpl *lxcv1.LXCTemplate, c *lxcv1.LXCContainer)
}

// TestConfigManagerPhase covers the edges of ConfigManagerDeployed on guest stand-ins.
func TestConfigManagerPhase(t *testing.T) {
	f := newGuestFixture(t, "phase-cm")
	for i, tc := range []configManagerPhaseCase{{
		name:     "first deploy: not deployed → ConfigManagerDeployed=True Succeeded",
		template: configManagerFirstDeployTemplate,
		want:     configManagerFirstDeploy,
	}, {
		name:     "changed bundle: deployed → deployed again with the new files",
		template: configManagerChangedBundleTemplate,
		then:     configManagerChangeBundle,
		want:     configManagerChangedBundle,
	}, {
		name:     "failed unit: not deployed → ConfigManagerDeployed=False ConfigSyncFailed naming the problem",
		template: configManagerFailedUnitTemplate,
		want:     configManagerFailedUnit,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			name := fmt.Sprintf("cm%d", i)
			tmpl := f.templateWith(t, name, tc.template)
			c := f.containerOf(name, tmpl)
			create(t, c)
			if tc.then != nil {
				tc.then(t, f, tmpl, c)
			}
			tc.want(t, f, tmpl, c)
		})
	}
}

func configManagerFirstDeployTemplate(s *lxcv1.LXCTemplateSpec) {
	s.Files = []lxcv1.ManagedFile{{Path: "/etc/app/app.conf", Content: ptr("port=8080\n"), Mode: "0640", Owner: "www-data:www-data"}}
	s.Config.Env = []lxcv1.EnvVar{{Name: "APP_MODE", Value: "production"}}
}

func configManagerFirstDeploy(t *testing.T, f *pipelineFixture, _ *lxcv1.LXCTemplate, c *lxcv1.LXCContainer) {
	readyWithin(t, c, time.Minute)
	if err := conditionIs(c, lxcv1.ConfigManagerDeployedCondition, metav1.ConditionTrue, lxcv1.SucceededReason,
		"config-manager applied 1 files and 1 variables")(); err != nil {
		t.Error(err)
	}
	g := f.guestOf(t, c)
	if got, _ := g.ReadFile("/etc/app/app.conf"); string(got) != "port=8080\n" {
		t.Errorf("app.conf in the guest = %q", got)
	}
	if env, _ := g.ReadFile(configmanager.EnvPath); !strings.HasSuffix(string(env), "\nAPP_MODE=\"production\"\n") {
		t.Errorf("config.env in the guest = %q", env)
	}
	if c.Status.SSHHostKey != g.HostKey() {
		t.Errorf("pinned host key %q, the guest's is %q", c.Status.SSHHostKey, g.HostKey())
	}
	if c.Status.ConfigHash == "" {
		t.Error("status.configHash is empty")
	}
}

func configManagerChangedBundleTemplate(s *lxcv1.LXCTemplateSpec) {
	s.Files = []lxcv1.ManagedFile{{Path: "/etc/app/app.conf", Content: ptr("v1\n")}}
}

// configManagerChangeBundle changes one file and adds another once the first bundle is deployed,
// and waits for the second deploy.
func configManagerChangeBundle(t *testing.T, _ *pipelineFixture, tmpl *lxcv1.LXCTemplate, c *lxcv1.LXCContainer) {
	readyWithin(t, c, time.Minute)
	hash := c.Status.ConfigHash
	update(t, tmpl, func(tm *lxcv1.LXCTemplate) {
		tm.Spec.Files[0].Content = ptr("v2\n")
		tm.Spec.Files = append(tm.Spec.Files, lxcv1.ManagedFile{Path: "/etc/app/extra.conf", Content: ptr("x\n"), Policy: lxcv1.FilePolicyDefault})
	})
	eventually(t, time.Minute, func() error {
		if err := conditionIs(c, lxcv1.ConfigManagerDeployedCondition, metav1.ConditionTrue, lxcv1.SucceededReason,
			"config-manager applied 2 files and 0 variables")(); err != nil {
			return err
		}
		if c.Status.ConfigHash == hash {
			return fmt.Errorf("status.configHash did not change")
		}
		return nil
	})
}

func configManagerChangedBundle(t *testing.T, f *pipelineFixture, _ *lxcv1.LXCTemplate, c *lxcv1.LXCContainer) {
	readyWithin(t, c, time.Minute)
	g := f.guestOf(t, c)
	for path, want := range map[string]string{"/etc/app/app.conf": "v2\n", "/etc/app/extra.conf": "x\n"} {
		if got, _ := g.ReadFile(path); string(got) != want {
			t.Errorf("%s in the guest = %q, want %q", path, got, want)
		}
	}
}

func configManagerFailedUnitTemplate(s *lxcv1.LXCTemplateSpec) {
	s.Files = []lxcv1.ManagedFile{{Path: "/etc/app/app.conf", Content: ptr("x\n"), Owner: "ghost:ghost"}}
	s.Scripts = []lxcv1.Script{script("never", "# fake-guest: exit=0\n")}
}

func configManagerFailedUnit(t *testing.T, f *pipelineFixture, _ *lxcv1.LXCTemplate, c *lxcv1.LXCContainer) {
	eventually(t, time.Minute, conditionIs(c, lxcv1.ConfigManagerDeployedCondition, metav1.ConditionFalse, lxcv1.ConfigSyncFailedReason,
		configmanager.UnitName+" did not succeed (exit-code enabled)", "error: /etc/app/app.conf: owner ghost:ghost: no user ghost"))
	if err := conditionIs(c, lxcv1.ReadyCondition, metav1.ConditionFalse, lxcv1.ConfigSyncFailedReason)(); err != nil {
		t.Error(err)
	}
	if ids := runIDs(f.guestOf(t, c)); len(ids) != 0 {
		t.Errorf("scripts ran after a failed config-sync: %v", ids)
	}
}
