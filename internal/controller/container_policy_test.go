package controller

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/fluxcd/pkg/runtime/conditions"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
	"templatemanager.dev/lxc-template-manager/internal/proxmox"
	"templatemanager.dev/lxc-template-manager/internal/testkit"
)

// perContainerRequests counts the simulator's requests to endpoints of one container
// (every path under /lxc/{vmid}); each policy fixture's simulator serves one LXCContainer.
func (f *pipelineFixture) perContainerRequests() int {
	n := 0
	for _, r := range f.sim.Counters().Requests {
		if strings.Contains(r.Path, "/lxc/{vmid}") {
			n += r.Count
		}
	}
	return n
}

// stalledOnPolicy waits for c to stall with PolicyViolation and checks the message names parts.
func stalledOnPolicy(t *testing.T, c *lxcv1.LXCContainer, parts ...string) {
	t.Helper()
	eventually(t, 30*time.Second, condition(c, lxcv1.StalledCondition, metav1.ConditionTrue, lxcv1.PolicyViolationReason))
	msg := conditions.GetMessage(c, lxcv1.StalledCondition)
	for _, p := range parts {
		if !strings.Contains(msg, p) {
			t.Errorf("Stalled says %q, want %q named", msg, p)
		}
	}
}

// reconcileAgain asks for one more reconcile and waits until it is handled.
func reconcileAgain(t *testing.T, c *lxcv1.LXCContainer, token string) {
	t.Helper()
	update(t, c, func(c *lxcv1.LXCContainer) {
		metav1.SetMetaDataAnnotation(&c.ObjectMeta, lxcv1.ReconcileRequestAnnotation, token)
	})
	eventually(t, 20*time.Second, func() error {
		if err := k8s.Get(testCtx, client.ObjectKeyFromObject(c), c); err != nil {
			return err
		}
		if c.Status.LastHandledReconcileAt != token {
			return fmt.Errorf("the requested reconcile is not handled yet (%q)", c.Status.LastHandledReconcileAt)
		}
		return nil
	})
}

// TestPolicyAddedLaterStallsTheContainer: a container created under no limits, then held to a
// limit its template's cores exceed, stalls with PolicyViolation naming the rule and the field;
// from then on Proxmox gets no request about it, even on a reconcile asked for.
func TestPolicyAddedLaterStallsTheContainer(t *testing.T) {
	f := newPipelineFixture(t, "policy-later")
	f.createTemplate(t)
	c, _, _ := f.started(t, f.container("later"))
	update(t, f.cluster, func(cl *lxcv1.ProxmoxCluster) {
		cl.Spec.Policy.Limits = &lxcv1.ContainerLimits{Cores: ptr(int32(1))}
	})
	stalledOnPolicy(t, c, "spec.resources.cores", "spec.policy.limits.cores")
	before := f.perContainerRequests()
	reconcileAgain(t, c, "policy-1")
	stalledOnPolicy(t, c, "spec.resources.cores")
	if after := f.perContainerRequests(); after != before {
		t.Errorf("%d requests about the container after it stalled on the policy, want none", after-before)
	}
}

// TestQuotaStopsTheContainerOverIt: with a quota of one container per namespace, the second
// is not created and says which quota; the first is created, and the cluster's status counts
// both as asked for. Once the first is deleted, the second is created on its own.
func TestQuotaStopsTheContainerOverIt(t *testing.T) {
	f := newPipelineFixture(t, "policy-quota")
	update(t, f.cluster, func(cl *lxcv1.ProxmoxCluster) {
		cl.Spec.Policy.NamespaceQuota = &lxcv1.NamespaceQuota{Containers: ptr(int64(1))}
	})
	f.createTemplate(t)
	first, _, _ := f.started(t, f.container("first"))
	second := f.container("second")
	create(t, second)
	stalledOnPolicy(t, second, "spec.policy.namespaceQuota.containers", f.ns)
	if second.Status.VMID != 0 {
		t.Errorf("the container over the quota was placed at VMID %d", second.Status.VMID)
	}
	if guests := f.guests(t); len(guests) != 1 || guests[0].VMID != int(first.Status.VMID) {
		t.Errorf("Proxmox holds %+v, want only the first container", guests)
	}
	eventually(t, 20*time.Second, func() error {
		if err := k8s.Get(testCtx, client.ObjectKeyFromObject(f.cluster), f.cluster); err != nil {
			return err
		}
		for _, u := range f.cluster.Status.NamespaceUsage {
			if u.Namespace == f.ns && u.Containers == 2 && u.Cores == 4 && u.MemoryMiB == 2048 && u.DiskGiB == 8 {
				return nil
			}
		}
		return fmt.Errorf("status.namespaceUsage is %+v, want %s with 2 containers, 4 cores, 2048 MiB, 8 GiB", f.cluster.Status.NamespaceUsage, f.ns)
	})
	// Deleting the first makes room: the second is created without being touched.
	if err := k8s.Delete(testCtx, first); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, gone(first))
	eventually(t, 30*time.Second, condition(second, lxcv1.ContainerCreatedCondition, metav1.ConditionTrue, ""))
}

// TestAdoptionWithoutMarkerNeedsAnAdoptionNamespace: an LXCContainer asking to adopt a
// container made by hand, from a namespace the policy does not name, stalls with
// PolicyViolation and leaves the container's configuration as it was (by digest).
func TestAdoptionWithoutMarkerNeedsAnAdoptionNamespace(t *testing.T) {
	f := newPipelineFixture(t, "policy-adopt")
	update(t, f.cluster, func(cl *lxcv1.ProxmoxCluster) {
		cl.Spec.Policy.AdoptionNamespaces = &metav1.LabelSelector{MatchLabels: map[string]string{"adopt": "yes"}}
	})
	f.createTemplate(t)
	upid, err := f.px.CreateContainer(testCtx, "pve1", proxmox.CreateSpec{
		VMID: 150, OSTemplate: debianTemplate, Hostname: "by-hand", Description: "made by hand",
		Storage: "local-lvm", RootFSGiB: 2, Nets: []proxmox.NetConfig{{Name: "eth0", Bridge: "vmbr0", IP: "dhcp"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	testkit.WaitTaskOK(t, testCtx, f.px, upid)
	before := f.foreignState(t, "pve1", 150)
	c := f.container("taker", func(c *lxcv1.LXCContainer) {
		c.Spec.VMID, c.Spec.Node = ptr(int32(150)), "pve1"
		c.Annotations = map[string]string{lxcv1.AdoptAnnotation: "true"}
	})
	create(t, c)
	stalledOnPolicy(t, c, "spec.policy.adoptionNamespaces", lxcv1.AdoptAnnotation, f.ns)
	reconcileAgain(t, c, "adopt-1")
	stalledOnPolicy(t, c, "spec.policy.adoptionNamespaces")
	f.expectForeignUntouched(t, before)
}
