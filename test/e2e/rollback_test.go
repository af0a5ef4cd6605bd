package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/fluxcd/pkg/runtime/conditions"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
	"templatemanager.dev/lxc-template-manager/internal/pvesim/lxc/lxctest"
	"templatemanager.dev/lxc-template-manager/internal/testkit"
)

// TestRollbackOnFailure: with snapshotBeforeChange.rollbackOnFailure, a changed script that
// fails leaves the container as it was before the change — a file the old script wrote is
// there, one the failing script wrote before it failed is not — and Ready says RolledBack
// with the failure named. The spec is not changed, and the change is not tried again.
func TestRollbackOnFailure(t *testing.T) {
	t.Parallel()
	s := startStack(t)
	s.startManager(t)
	ctx := context.Background()
	ns := "rollback"
	signer := lxctest.NewSigner(t)
	tmpl := s.lightTemplate(ns, "app")
	tmpl.Spec.Scripts = []lxcv1.Script{{Name: "setup", Content: str("#!/bin/sh\necho old > /root/old-script\n")}}
	tmpl.Spec.SnapshotBeforeChange = &lxcv1.SnapshotBeforeChange{RollbackOnFailure: true}
	s.create(t, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, tmpl)
	c := s.guestWithKey(t, ns, "app", "app", signer, nil)

	cur := &lxcv1.LXCTemplate{}
	if err := s.k8s.Get(ctx, client.ObjectKeyFromObject(tmpl), cur); err != nil {
		t.Fatal(err)
	}
	cur.Spec.Scripts[0].Content = str("#!/bin/sh\necho new > /root/new-script\nsync\nexit 3\n")
	if err := s.k8s.Update(ctx, cur); err != nil {
		t.Fatal(err)
	}
	var ready *metav1.Condition
	testkit.Eventually(t, 5*time.Minute, func() error {
		c = s.getContainer(t, ns, "app")
		ready = conditions.Get(c, lxcv1.ReadyCondition)
		if ready == nil || ready.Reason != lxcv1.RolledBackReason || c.Annotations[lxcv1.RestoringAnnotation] != "" {
			return fmt.Errorf("Ready %+v, annotation %q", ready, c.Annotations[lxcv1.RestoringAnnotation])
		}
		return nil
	})
	if !strings.Contains(ready.Message, "setup") || !strings.Contains(ready.Message, "exited 3") {
		t.Errorf("RolledBack does not name the failure: %s", ready.Message)
	}
	restores := &lxcv1.LXCRestoreList{}
	if err := s.k8s.List(ctx, restores, client.InNamespace(ns)); err != nil || len(restores.Items) != 1 {
		t.Fatalf("LXCRestores: %d, %v", len(restores.Items), err)
	}
	if !conditions.IsReady(&restores.Items[0]) {
		t.Errorf("Ready says RolledBack while the rollback is not done: %+v", restores.Items[0].Status)
	}
	guest := dialEventually(t, c.Status.IPAddress, signer)
	if out := run1(t, guest, "cat /root/old-script; test -e /root/new-script && echo new-there || echo new-gone"); out != "old\nnew-gone\n" {
		t.Fatalf("after the rollback the guest says %q", out)
	}
	// Stalled, not looping: the failing script does not run again.
	time.Sleep(20 * time.Second)
	if out := run1(t, guest, "test -e /root/new-script && echo new-there || echo new-gone"); out != "new-gone\n" {
		t.Errorf("the failed change ran again after the rollback: %q", out)
	}
	if err := s.k8s.List(ctx, restores, client.InNamespace(ns)); err != nil || len(restores.Items) != 1 {
		t.Errorf("LXCRestores after 20 s: %d, %v", len(restores.Items), err)
	}
}
