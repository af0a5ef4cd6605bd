package controller

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
)

// setMaintenance puts a simulated node into HA maintenance or takes it out.
func (f *pipelineFixture) setMaintenance(t *testing.T, node string, on bool) {
	t.Helper()
	if err := f.sim.SetNodeMaintenance(node, on); err != nil {
		t.Fatal(err)
	}
}

// TestContainerAvoidsNodesInMaintenance: a new container goes to a node that is not in HA
// maintenance (pve1 would win the tie on free memory); one whose spec.node names a node in
// maintenance waits with NodeMaintenance, naming the node, and nothing is created until the
// node leaves maintenance.
func TestContainerAvoidsNodesInMaintenance(t *testing.T) {
	f := newPipelineFixture(t, "pipe-maintenance")
	f.createTemplate(t)
	f.setMaintenance(t, "pve1", true)

	if _, _, node := f.started(t, f.container("placed")); node != "pve2" {
		t.Fatalf("placed on %s while pve1 is in maintenance, want pve2", node)
	}

	pinned := f.container("pinned", func(c *lxcv1.LXCContainer) { c.Spec.Node = "pve1" })
	create(t, pinned)
	eventually(t, 20*time.Second, conditionIs(pinned, lxcv1.ReadyCondition, metav1.ConditionFalse, lxcv1.NodeMaintenanceReason,
		"node pve1 is in maintenance mode"))
	if err := conditionIs(pinned, lxcv1.ReconcilingCondition, metav1.ConditionTrue, "")(); err != nil {
		t.Errorf("a container waiting for maintenance to end is not Reconciling: %v", err)
	}
	if pinned.Status.VMID != 0 || pinned.Status.Node != "" || len(f.guests(t)) != 1 {
		t.Fatalf("placed or created while its node is in maintenance: status vmid %d node %q, %d guests",
			pinned.Status.VMID, pinned.Status.Node, len(f.guests(t)))
	}

	f.setMaintenance(t, "pve1", false)
	requestReconcile(t, pinned, "maintenance-over")
	eventually(t, 20*time.Second, conditionIs(pinned, lxcv1.ContainerStartedCondition, metav1.ConditionTrue, ""))
	if pinned.Status.Node != "pve1" {
		t.Fatalf("created on %s, want pve1", pinned.Status.Node)
	}
}
