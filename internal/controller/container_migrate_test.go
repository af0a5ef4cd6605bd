package controller

import (
	"fmt"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
)

// TestContainerDoesNotMoveToANodeInMaintenance: a spec.node change to a node in maintenance
// leaves the container where it is, waiting with NodeMaintenance; it moves once the node has
// left maintenance.
func TestContainerDoesNotMoveToANodeInMaintenance(t *testing.T) {
	f := newPipelineFixture(t, "pipe-maintenance-move")
	f.createTemplate(t)
	c, vmid, _ := f.started(t, f.container("mover", func(c *lxcv1.LXCContainer) { c.Spec.Node = "pve2" }))
	f.setMaintenance(t, "pve1", true)

	update(t, c, func(c *lxcv1.LXCContainer) { c.Spec.Node = "pve1" })
	eventually(t, 20*time.Second, conditionIs(c, lxcv1.ReadyCondition, metav1.ConditionFalse, lxcv1.NodeMaintenanceReason,
		"node pve1 is in maintenance mode", "stays on pve2"))
	if g := f.guests(t); len(g) != 1 || g[0].VMID != vmid || g[0].Node != "pve2" || g[0].Lock != "" {
		t.Fatalf("the container moved or was touched while its target is in maintenance: %+v", g)
	}

	f.setMaintenance(t, "pve1", false)
	requestReconcile(t, c, "maintenance-over")
	eventually(t, 30*time.Second, func() error {
		if err := conditionIs(c, lxcv1.ContainerStartedCondition, metav1.ConditionTrue, "")(); err != nil {
			return err
		}
		if g := f.guests(t); len(g) != 1 || g[0].Node != "pve1" || c.Status.Node != "pve1" {
			return fmt.Errorf("guests %+v, status.node %s; want the container on pve1", g, c.Status.Node)
		}
		return nil
	})
}
