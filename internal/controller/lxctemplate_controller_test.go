package controller

import (
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
	"templatemanager.dev/lxc-template-manager/internal/pvesim/pvesimtest"
)

func TestTemplateWaitsForMissingBucketThenBecomesReady(t *testing.T) {
	sim := pvesimtest.Start(t)
	cluster := clusterFor(t, sim, "tmpl-buckets")
	eventually(t, 20*time.Second, condition(cluster, lxcv1.ReadyCondition, metav1.ConditionTrue, ""))
	ns := newNamespace(t, nil)

	tmpl := &lxcv1.LXCTemplate{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web"},
		Spec: lxcv1.LXCTemplateSpec{
			OSTemplate:        debianTemplate,
			PackageBucketRefs: []lxcv1.LocalObjectReference{{Name: "base"}, {Name: "web-tools"}},
			Packages:          []lxcv1.PackageList{{Manager: lxcv1.PackageManagerApt, Names: []lxcv1.PackageName{"curl", "nginx"}}},
		},
	}
	base := &lxcv1.PackageBucket{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "base"},
		Spec:       lxcv1.PackageBucketSpec{Manager: lxcv1.PackageManagerApt, Packages: []lxcv1.PackageName{"ca-certificates", "curl"}},
	}
	if err := k8s.Create(testCtx, base); err != nil {
		t.Fatal(err)
	}
	if err := k8s.Create(testCtx, tmpl); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, condition(tmpl, lxcv1.ReadyCondition, metav1.ConditionFalse, lxcv1.PackageBucketNotFoundReason))
	if msg := conditionMessage(tmpl.Status.Conditions); !strings.Contains(msg, "web-tools") || strings.Contains(msg, "base") {
		t.Errorf("Ready message should name exactly the missing bucket web-tools: %q", msg)
	}

	tools := &lxcv1.PackageBucket{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web-tools"},
		Spec:       lxcv1.PackageBucketSpec{Manager: lxcv1.PackageManagerPip, Packages: []lxcv1.PackageName{"httpie==3.2.4"}},
	}
	if err := k8s.Create(testCtx, tools); err != nil {
		t.Fatal(err)
	}
	// The bucket's creation requeues the template through the index; the template's own retry
	// is minutes away, so Ready within seconds shows the watch works. (Conditions and the rest
	// of status are written by two requests, so wait for both.)
	want := []lxcv1.ResolvedPackages{
		{Manager: lxcv1.PackageManagerApt, Names: []string{"ca-certificates", "curl", "nginx"}},
		{Manager: lxcv1.PackageManagerPip, Names: []string{"httpie==3.2.4"}},
	}
	eventually(t, 10*time.Second, func() error {
		if err := condition(tmpl, lxcv1.ReadyCondition, metav1.ConditionTrue, lxcv1.SucceededReason)(); err != nil {
			return err
		}
		if got := tmpl.Status.ResolvedPackages; !equalResolved(got, want) {
			return fmt.Errorf("resolvedPackages = %+v, want %+v", got, want)
		}
		return nil
	})
	eventually(t, 5*time.Second, func() error {
		for _, b := range []*lxcv1.PackageBucket{base, tools} {
			if err := condition(b, lxcv1.ReadyCondition, metav1.ConditionTrue, "")(); err != nil {
				return err
			}
			if b.Status.UsedBy != 1 || b.Status.PackageCount != int32(len(b.Spec.Packages)) {
				return fmt.Errorf("bucket %s: usedBy %d, packageCount %d", b.Name, b.Status.UsedBy, b.Status.PackageCount)
			}
		}
		return nil
	})

	// Dropping a reference updates the bucket that lost it.
	update(t, tmpl, func(tmpl *lxcv1.LXCTemplate) { tmpl.Spec.PackageBucketRefs = tmpl.Spec.PackageBucketRefs[:1] })
	eventually(t, 5*time.Second, func() error {
		if err := condition(tools, lxcv1.ReadyCondition, metav1.ConditionTrue, "")(); err != nil {
			return err
		}
		if tools.Status.UsedBy != 0 {
			return fmt.Errorf("web-tools usedBy = %d after the template dropped it", tools.Status.UsedBy)
		}
		return nil
	})
}

func TestTemplateWithUnknownOSTemplateIsNotReady(t *testing.T) {
	sim := pvesimtest.Start(t)
	cluster := clusterFor(t, sim, "tmpl-ostemplate")
	eventually(t, 20*time.Second, condition(cluster, lxcv1.ReadyCondition, metav1.ConditionTrue, ""))
	ns := newNamespace(t, nil)
	tmpl := &lxcv1.LXCTemplate{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "alpine"},
		Spec:       lxcv1.LXCTemplateSpec{OSTemplate: "local:vztmpl/alpine-3.20-default_20240908_amd64.tar.xz"},
	}
	if err := k8s.Create(testCtx, tmpl); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, condition(tmpl, lxcv1.ReadyCondition, metav1.ConditionFalse, lxcv1.OSTemplateNotFoundReason))
	if msg := conditionMessage(tmpl.Status.Conditions); !strings.Contains(msg, "alpine-3.20-default") {
		t.Errorf("Ready message does not name the OS template: %q", msg)
	}
}

// Tests run one at a time and delete their clusters, so this test's cluster is the only one.
func TestTemplateHonoursAllowedNamespaces(t *testing.T) {
	sim := pvesimtest.Start(t)
	cluster := clusterFor(t, sim, "tmpl-allowed", func(c *lxcv1.ProxmoxCluster, _ *corev1.Secret) {
		c.Spec.AllowedNamespaces = &metav1.LabelSelector{MatchLabels: map[string]string{"lxctm-allowed": "tmpl-allowed"}}
	})
	eventually(t, 20*time.Second, condition(cluster, lxcv1.ReadyCondition, metav1.ConditionTrue, ""))

	allowed := newNamespace(t, map[string]string{"lxctm-allowed": "tmpl-allowed"})
	other := newNamespace(t, nil)
	templates := map[string]*lxcv1.LXCTemplate{}
	for _, ns := range []string{allowed, other} {
		templates[ns] = &lxcv1.LXCTemplate{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "debian"},
			Spec:       lxcv1.LXCTemplateSpec{OSTemplate: debianTemplate},
		}
		if err := k8s.Create(testCtx, templates[ns]); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, 10*time.Second, condition(templates[allowed], lxcv1.ReadyCondition, metav1.ConditionTrue, ""))
	eventually(t, 10*time.Second, condition(templates[other], lxcv1.ReadyCondition, metav1.ConditionFalse, lxcv1.OSTemplateNotFoundReason))
}

func conditionMessage(conds []metav1.Condition) string {
	for _, c := range conds {
		if c.Type == lxcv1.ReadyCondition {
			return c.Message
		}
	}
	return ""
}

func equalResolved(a, b []lxcv1.ResolvedPackages) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Manager != b[i].Manager || strings.Join(a[i].Names, ",") != strings.Join(b[i].Names, ",") {
			return false
		}
	}
	return true
}
