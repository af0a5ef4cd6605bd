package controller

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
	"templatemanager.dev/lxc-template-manager/internal/configmanager"
	"templatemanager.dev/lxc-template-manager/internal/pvesim/fake"
)

// scriptsPhaseCase is one edge of ScriptsCompleted: the template it needs and what to expect of
// a container made from it.
type scriptsPhaseCase struct {
	name     string
	template func(*lxcv1.LXCTemplateSpec)
	run      func(t *testing.T, f *pipelineFixture, tmpl *lxcv1.LXCTemplate, c *lxcv1.LXCContainer)
}

// TestScriptsPhase covers the edges of ScriptsCompleted on guest stand-ins. Scripts say what
// their run does with fake-guest directives (see fake.Guest).
func TestScriptsPhase(t *testing.T) {
	f := newGuestFixture(t, "phase-scripts")
	for i, tc := range scriptsPhaseCases() {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			name := fmt.Sprintf("sc%d", i)
			tmpl := f.templateWith(t, name, tc.template)
			c := f.containerOf(name, tmpl)
			create(t, c)
			tc.run(t, f, tmpl, c)
		})
	}
}

// scriptsPhaseCases lists the cases of TestScriptsPhase; a case's index names its objects.
func scriptsPhaseCases() []scriptsPhaseCase {
	return []scriptsPhaseCase{{
		name:     "in order: pending → ScriptsCompleted=True after each script in list order",
		template: scriptsInOrderTemplate,
		run:      scriptsInOrder,
	}, {
		name:     "package install first: packages → scripts",
		template: scriptsAfterPackagesTemplate,
		run:      scriptsAfterPackages,
	}, {
		name:     "done-marker skip: completed → completed without running finished scripts again; a changed script runs alone",
		template: scriptsDoneMarkerTemplate,
		run:      scriptsDoneMarkerSkip,
	}, {
		name:     "failure stops: running → ScriptsCompleted=False ScriptFailed, later scripts not run",
		template: scriptsFailingTemplate,
		run:      scriptsFailureStops,
	}, {
		name:     "retry on a new generation: failed → run again once → completed",
		template: scriptsFailingTemplate,
		run:      scriptsRetryOnGeneration,
	}, {
		name:     "retry on a new bundle: failed → run again once config-manager deployed what it needs → completed",
		template: scriptsNeedsFileTemplate,
		run:      scriptsRetryOnBundle,
	}, {
		name:     "retry on request: failed → run again once after reconcile-requested-at → completed",
		template: scriptsFailingTemplate,
		run:      scriptsRetryOnRequest,
	}, {
		name:     "lost run: running → interrupted by a reboot → started again → completed",
		template: scriptsLostRunTemplate,
		run:      scriptsLostRun,
	}, {
		name:     "timeout: running → ScriptsCompleted=False ScriptFailed timed out",
		template: scriptsTimeoutTemplate,
		run:      scriptsTimeout,
	}}
}

// scriptsFailingTemplate has three scripts; the second exits 7 on its first run and 0 after.
func scriptsFailingTemplate(s *lxcv1.LXCTemplateSpec) {
	s.Scripts = []lxcv1.Script{
		script("first", "# fake-guest: exit=0\n"),
		script("second", "#!/bin/bash\n# fake-guest: exit=7,0\n# fake-guest-print: boom\n"),
		script("third", "# fake-guest: exit=0\n"),
	}
}

// scriptsFailedOnce waits for the stall of script second and checks that nothing was retried or
// run after it.
func scriptsFailedOnce(t *testing.T, f *pipelineFixture, c *lxcv1.LXCContainer) *fake.Guest {
	t.Helper()
	eventually(t, time.Minute, conditionIs(c, lxcv1.ScriptsCompletedCondition, metav1.ConditionFalse, lxcv1.ScriptFailedReason,
		"script second exited 7; last output:\nboom"))
	if err := conditionIs(c, lxcv1.StalledCondition, metav1.ConditionTrue, lxcv1.ScriptFailedReason, "script second exited 7")(); err != nil {
		t.Error(err)
	}
	g := f.guestOf(t, c)
	if got := scriptNames(g); !slices.Equal(got, []string{"first", "second"}) {
		t.Errorf("runs after the failure: %v, want first, second", got)
	}
	if st := c.Status.Scripts; len(st) != 3 || st[1].ExitCode == nil || *st[1].ExitCode != 7 || st[2].ExitCode != nil {
		t.Errorf("status.scripts = %+v", st)
	}
	if _, ok := g.ReadFile(configmanager.FirstRunMarker); ok {
		t.Error("the first-run marker is there although a script failed: a retry would not be a first run")
	}
	return g
}

// scriptsRetriedOnce expects second to have run exactly twice and third once, and the container Ready.
func scriptsRetriedOnce(t *testing.T, c *lxcv1.LXCContainer, g *fake.Guest) {
	t.Helper()
	readyWithin(t, c, time.Minute)
	if got := scriptNames(g); !slices.Equal(got, []string{"first", "second", "second", "third"}) {
		t.Errorf("runs = %v, want first, second, second (the retry), third", got)
	}
}

func scriptsInOrderTemplate(s *lxcv1.LXCTemplateSpec) {
	s.Scripts = []lxcv1.Script{script("alpha", "# fake-guest: sleep=200ms\n"), script("beta", "# fake-guest: exit=0\n"), script("gamma", "echo no directives\n")}
}

func scriptsInOrder(t *testing.T, f *pipelineFixture, _ *lxcv1.LXCTemplate, c *lxcv1.LXCContainer) {
	readyWithin(t, c, time.Minute)
	if err := conditionIs(c, lxcv1.ScriptsCompletedCondition, metav1.ConditionTrue, lxcv1.SucceededReason, "0 packages installed, 3 scripts completed")(); err != nil {
		t.Error(err)
	}
	g := f.guestOf(t, c)
	if got := scriptNames(g); !slices.Equal(got, []string{"alpha", "beta", "gamma"}) {
		t.Errorf("runs = %v, want alpha, beta, gamma", got)
	}
	if _, ok := g.ReadFile(configmanager.FirstRunMarker); !ok {
		t.Error("no first-run marker after every script succeeded: CONFIG_MANAGER_FIRST_RUN stays true")
	}
	runs := g.Runs()
	for i := 1; i < len(runs); i++ {
		if runs[i].Start.Before(runs[i-1].Start.Add(runs[i-1].Duration)) {
			t.Errorf("%s started before %s ended", runs[i].ID, runs[i-1].ID)
		}
	}
	for _, st := range c.Status.Scripts {
		if st.ExitCode == nil || *st.ExitCode != 0 || st.StartedAt == nil || st.FinishedAt == nil {
			t.Errorf("status of script %s = %+v", st.Name, st)
		}
	}
}

func scriptsAfterPackagesTemplate(s *lxcv1.LXCTemplateSpec) {
	s.Packages = []lxcv1.PackageList{{Manager: lxcv1.PackageManagerPip, Names: []lxcv1.PackageName{"requests"}}, {Manager: lxcv1.PackageManagerApt, Names: []lxcv1.PackageName{"curl", "jq"}}}
	s.Scripts = []lxcv1.Script{script("setup", "# fake-guest: exit=0\n")}
}

func scriptsAfterPackages(t *testing.T, f *pipelineFixture, _ *lxcv1.LXCTemplate, c *lxcv1.LXCContainer) {
	readyWithin(t, c, time.Minute)
	if err := conditionIs(c, lxcv1.ScriptsCompletedCondition, metav1.ConditionTrue, lxcv1.SucceededReason, "3 packages installed, 1 scripts completed")(); err != nil {
		t.Error(err)
	}
	ids := runIDs(f.guestOf(t, c))
	if len(ids) != 3 || !strings.HasPrefix(ids[0], "packages-apt-") || !strings.HasPrefix(ids[1], "packages-pip-") || !strings.HasPrefix(ids[2], "script-setup-") {
		t.Errorf("runs = %v, want apt, then pip, then the script", ids)
	}
	if c.Status.PackagesHash == "" {
		t.Error("status.packagesHash is empty after the installs")
	}
}

func scriptsDoneMarkerTemplate(s *lxcv1.LXCTemplateSpec) {
	s.Scripts = []lxcv1.Script{script("one", "# fake-guest: exit=0\n"), script("two", "# fake-guest: exit=0\n")}
}

func scriptsDoneMarkerSkip(t *testing.T, f *pipelineFixture, tmpl *lxcv1.LXCTemplate, c *lxcv1.LXCContainer) {
	readyWithin(t, c, time.Minute)
	g := f.guestOf(t, c)
	requestReconcile(t, c, "again")
	readyWithin(t, c, time.Minute)
	if got := scriptNames(g); !slices.Equal(got, []string{"one", "two"}) {
		t.Errorf("after a requested reconcile runs = %v, want one, two (nothing again)", got)
	}
	update(t, tmpl, func(tm *lxcv1.LXCTemplate) { tm.Spec.Scripts[1].Content = ptr("# fake-guest: exit=0\n# changed\n") })
	eventually(t, time.Minute, func() error {
		if got := scriptNames(g); !slices.Equal(got, []string{"one", "two", "two"}) {
			return fmt.Errorf("runs = %v, want one, two, two (the changed script)", got)
		}
		return nil
	})
	readyWithin(t, c, time.Minute)
}

func scriptsFailureStops(t *testing.T, f *pipelineFixture, _ *lxcv1.LXCTemplate, c *lxcv1.LXCContainer) {
	scriptsFailedOnce(t, f, c)
	if err := conditionIs(c, lxcv1.ReadyCondition, metav1.ConditionFalse, lxcv1.ScriptFailedReason)(); err != nil {
		t.Error(err)
	}
}

func scriptsRetryOnGeneration(t *testing.T, f *pipelineFixture, _ *lxcv1.LXCTemplate, c *lxcv1.LXCContainer) {
	g := scriptsFailedOnce(t, f, c)
	update(t, c, func(c *lxcv1.LXCContainer) { c.Spec.DeletionPolicy = lxcv1.DeletionPolicyRetain })
	scriptsRetriedOnce(t, c, g)
}

func scriptsNeedsFileTemplate(s *lxcv1.LXCTemplateSpec) {
	s.Scripts = []lxcv1.Script{script("first", "# fake-guest: exit=0\n"), script("second", "# fake-guest: needs=/etc/app/ready\n"), script("third", "# fake-guest: exit=0\n")}
}

func scriptsRetryOnBundle(t *testing.T, f *pipelineFixture, tmpl *lxcv1.LXCTemplate, c *lxcv1.LXCContainer) {
	eventually(t, time.Minute, conditionIs(c, lxcv1.ScriptsCompletedCondition, metav1.ConditionFalse, lxcv1.ScriptFailedReason,
		"script second exited 1; last output:\nfake-guest: /etc/app/ready is missing"))
	g := f.guestOf(t, c)
	generation := c.Generation
	update(t, tmpl, func(tm *lxcv1.LXCTemplate) {
		tm.Spec.Files = append(tm.Spec.Files, lxcv1.ManagedFile{Path: "/etc/app/ready", Content: ptr("yes\n")})
	})
	scriptsRetriedOnce(t, c, g)
	if c.Generation != generation {
		t.Errorf("the container's generation moved from %d to %d; the retry must come from the bundle alone", generation, c.Generation)
	}
}

func scriptsRetryOnRequest(t *testing.T, f *pipelineFixture, _ *lxcv1.LXCTemplate, c *lxcv1.LXCContainer) {
	g := scriptsFailedOnce(t, f, c)
	requestReconcile(t, c, "retry-please")
	scriptsRetriedOnce(t, c, g)
}

func scriptsLostRunTemplate(s *lxcv1.LXCTemplateSpec) {
	s.Scripts = []lxcv1.Script{script("long", "# fake-guest: sleep=1h,0s\n")}
}

func scriptsLostRun(t *testing.T, f *pipelineFixture, _ *lxcv1.LXCTemplate, c *lxcv1.LXCContainer) {
	eventually(t, time.Minute, conditionIs(c, lxcv1.ScriptsCompletedCondition, metav1.ConditionFalse, lxcv1.ScriptRunningReason, "running script long"))
	g := f.guestOf(t, c)
	if c.Status.Operation == "" || !strings.HasPrefix(c.Status.Operation, "script-long-") {
		t.Errorf("status.operation = %q, want the run id", c.Status.Operation)
	}
	g.Reboot()
	readyWithin(t, c, time.Minute)
	runs := g.Runs()
	if len(runs) != 2 || runs[0].State != "lost" || runs[1].State != "finished" || runs[0].ID != runs[1].ID || runs[1].Attempt != 2 {
		t.Errorf("runs = %+v, want the lost run and its second start", runs)
	}
	if c.Status.Operation != "" {
		t.Errorf("status.operation = %q after completion", c.Status.Operation)
	}
}

func scriptsTimeoutTemplate(s *lxcv1.LXCTemplateSpec) {
	s.Scripts = []lxcv1.Script{{Name: "slow", Content: ptr("# fake-guest: sleep=1h\n"), TimeoutSeconds: ptr(int32(1))}}
}

func scriptsTimeout(t *testing.T, _ *pipelineFixture, _ *lxcv1.LXCTemplate, c *lxcv1.LXCContainer) {
	eventually(t, time.Minute, conditionIs(c, lxcv1.ScriptsCompletedCondition, metav1.ConditionFalse, lxcv1.ScriptFailedReason,
		"script slow timed out after 1s (exit 124)"))
}

// scriptNames lists the template scripts a guest ran, in start order.
func scriptNames(g *fake.Guest) []string {
	var out []string
	for _, r := range runsOf(g, "script-") {
		name := strings.TrimPrefix(r.ID, "script-")
		out = append(out, name[:strings.LastIndexByte(name, '-')])
	}
	return out
}

// requestReconcile sets the reconcile-requested-at annotation and waits until it is handled.
func requestReconcile(t *testing.T, c *lxcv1.LXCContainer, stamp string) {
	t.Helper()
	update(t, c, func(c *lxcv1.LXCContainer) {
		if c.Annotations == nil {
			c.Annotations = map[string]string{}
		}
		c.Annotations[lxcv1.ReconcileRequestAnnotation] = stamp
	})
	eventually(t, time.Minute, func() error {
		if err := k8s.Get(testCtx, client.ObjectKeyFromObject(c), c); err != nil {
			return err
		}
		if c.Status.LastHandledReconcileAt != stamp {
			return fmt.Errorf("%s has not handled %s yet", c.Name, stamp)
		}
		return nil
	})
}
