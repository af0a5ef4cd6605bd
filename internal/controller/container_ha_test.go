package controller

import (
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"sigs.k8s.io/controller-runtime/pkg/client"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
	"templatemanager.dev/lxc-template-manager/internal/pvesim/pvesimtest"
)

// createPool makes a Proxmox pool, as the cluster administrator would.
func (f *pipelineFixture) createPool(t *testing.T, id string) {
	t.Helper()
	if code, body := f.sim.Call(t, http.MethodPost, "/pools", url.Values{"poolid": {id}}); code != http.StatusOK {
		t.Fatalf("create pool %s: %d %s", id, code, body)
	}
}

// haAndPoolAre checks CT vmid's HA state ("" for no HA resource) and pool.
func (f *pipelineFixture) haAndPoolAre(vmid int, state, pool string) func() error {
	return func() error {
		h, err := f.px.HAResource(testCtx, vmid)
		switch {
		case state == "" && err == nil:
			return fmt.Errorf("HA resource %+v, want none", h)
		case state != "" && err != nil:
			return err
		case state != "" && h.State != state:
			return fmt.Errorf("HA state %s, want %s", h.State, state)
		}
		guests, err := f.px.Guests(testCtx)
		if err != nil {
			return err
		}
		for _, g := range guests {
			if g.VMID == vmid && g.Pool != pool {
				return fmt.Errorf("CT %d is in pool %q, want %q", vmid, g.Pool, pool)
			}
		}
		return nil
	}
}

// TestHAAndPoolFollowTheSpec: the template's HA and pool reach Proxmox (/cluster/ha/resources,
// /pools) with the create; an HA resource deleted and the container taken out of its pool in
// Proxmox are set back with a DriftCorrected Event; the container's own stopped state and
// pool replace the template's, and removing spec.ha removes the HA resource.
func TestHAAndPoolFollowTheSpec(t *testing.T) {
	f := newGuestFixture(t, "ha-spec")
	f.createPool(t, "web")
	f.createPool(t, "db")
	tmpl := f.templateWith(t, "ha-web", func(s *lxcv1.LXCTemplateSpec) {
		s.HA = &lxcv1.HA{State: lxcv1.HAStarted}
		s.Pool = "web"
	})
	c := f.containerOf("ha-web-1", tmpl)
	create(t, c)
	readyWithin(t, c, 60*time.Second)
	vmid := int(c.Status.VMID)
	eventually(t, 10*time.Second, f.haAndPoolAre(vmid, "started", "web"))
	if err := eventFor(c, lxcv1.DriftCorrectedReason)(); err == nil {
		t.Fatal("a DriftCorrected Event before anything was changed outside the controller")
	}

	// Behind the controller's back: HA no longer manages it, and it left its pool.
	if err := f.px.DeleteHAResource(testCtx, vmid); err != nil {
		t.Fatal(err)
	}
	if err := f.px.RemoveFromPool(testCtx, "web", vmid); err != nil {
		t.Fatal(err)
	}
	reconcileAgain(t, c, "ha-drift")
	eventually(t, 10*time.Second, f.haAndPoolAre(vmid, "started", "web"))
	eventually(t, 10*time.Second, func() error { return eventNamed(c, lxcv1.DriftCorrectedReason, "(pool, ha)") })

	// The container's own: stopped through HA, in the db pool.
	update(t, c, func(c *lxcv1.LXCContainer) {
		c.Spec.PowerState = lxcv1.PowerStateStopped
		c.Spec.HA = &lxcv1.HA{State: lxcv1.HAStopped}
		c.Spec.Pool = "db"
	})
	eventually(t, 30*time.Second, f.haAndPoolAre(vmid, "stopped", "db"))
	eventually(t, 30*time.Second, func() error {
		st, err := f.px.ContainerStatus(testCtx, c.Status.Node, vmid)
		if err != nil || st.Status != "stopped" {
			return fmt.Errorf("status %+v, %v", st, err)
		}
		return nil
	})

	// A state changed in Proxmox is set back.
	h, err := f.px.HAResource(testCtx, vmid)
	if err != nil {
		t.Fatal(err)
	}
	h.State = "ignored"
	if err := f.px.UpdateHAResource(testCtx, vmid, h); err != nil {
		t.Fatal(err)
	}
	reconcileAgain(t, c, "ha-state-drift")
	eventually(t, 10*time.Second, f.haAndPoolAre(vmid, "stopped", "db"))
	eventually(t, 10*time.Second, func() error { return eventNamed(c, lxcv1.DriftCorrectedReason, "ha.state") })

	// Neither the container nor its template asks for HA or a pool any more.
	update(t, tmpl, func(tp *lxcv1.LXCTemplate) { tp.Spec.HA, tp.Spec.Pool = nil, "" })
	reconcileAgain(t, c, "template-without-ha")
	update(t, c, func(c *lxcv1.LXCContainer) { c.Spec.HA, c.Spec.Pool = nil, "" })
	eventually(t, 30*time.Second, f.haAndPoolAre(vmid, "", ""))
}

// TestMissingPoolStalls: a spec.pool that names no Proxmox pool stalls the create with
// DependencyNotReady naming spec.pool; once the pool exists and the spec changes, the container
// is made in it.
func TestMissingPoolStalls(t *testing.T) {
	f := newGuestFixture(t, "pool-missing")
	f.createTemplate(t)
	c := f.container("pool-nope")
	c.Spec.Pool = "nope"
	create(t, c)
	eventually(t, 30*time.Second, conditionIs(c, lxcv1.StalledCondition, metav1.ConditionTrue, lxcv1.DependencyNotReadyReason, "spec.pool", `"nope"`))
	f.createPool(t, "later")
	update(t, c, func(c *lxcv1.LXCContainer) { c.Spec.Pool = "later" })
	readyWithin(t, c, 60*time.Second)
	eventually(t, 10*time.Second, f.haAndPoolAre(int(c.Status.VMID), "", "later"))
}

// TestHAContainerDeleteDestroysIt: deleting a container HA keeps started destroys it, and its
// HA resource and pool membership go with it.
func TestHAContainerDeleteDestroysIt(t *testing.T) {
	f := newPipelineFixture(t, "ha-delete")
	f.createTemplate(t)
	f.createPool(t, "web")
	c, vmid, node := f.started(t, f.container("ha-doomed", func(c *lxcv1.LXCContainer) {
		c.Spec.HA = &lxcv1.HA{State: lxcv1.HAStarted}
		c.Spec.Pool = "web"
	}))
	eventually(t, 10*time.Second, f.haAndPoolAre(vmid, "started", "web"))
	f.deleteAndExpectDestroyed(t, c, node, vmid)
	if _, err := f.px.HAResource(testCtx, vmid); err == nil {
		t.Fatal("the HA resource outlived its container")
	}
	if vmids, _, err := f.px.PoolMembers(testCtx, "web"); err != nil || len(vmids) != 0 {
		t.Fatalf("pool web after the delete: %v, %v", vmids, err)
	}
}

// ruleNodesAre checks the nodes and strictness of CT vmid's node-affinity rule; nil nodes
// for no rule.
func (f *pipelineFixture) ruleNodesAre(vmid int, nodes map[string]int, strict bool) func() error {
	return func() error {
		r, err := f.px.HARule(testCtx, fmt.Sprintf("lxctm-%d", vmid))
		switch {
		case nodes == nil && err == nil:
			return fmt.Errorf("rule %+v, want none", r)
		case nodes == nil:
			return nil
		case err != nil:
			return err
		case !maps.Equal(r.Nodes, nodes) || r.Strict != strict || r.Disabled:
			return fmt.Errorf("rule %+v, want nodes %v strict %v", r, nodes, strict)
		}
		return nil
	}
}

// runsOn checks that status.node is node and the container runs there.
func (f *pipelineFixture) runsOn(c *lxcv1.LXCContainer, node string) func() error {
	return func() error {
		if err := k8s.Get(testCtx, client.ObjectKeyFromObject(c), c); err != nil {
			return err
		}
		if c.Status.Node != node {
			return fmt.Errorf("status.node %s, want %s", c.Status.Node, node)
		}
		st, err := f.px.ContainerStatus(testCtx, node, int(c.Status.VMID))
		if err != nil || !st.Running() {
			return fmt.Errorf("on %s: %+v, %v", node, st, err)
		}
		return nil
	}
}

// TestHANodeAffinityRule: spec.ha.nodes make the rule lxctm-VMID; the container is made on the
// preferred node; new priorities make HA relocate it and status.node follows; a rule changed
// in Proxmox is set back with DriftCorrected; removing the nodes deletes the rule only.
func TestHANodeAffinityRule(t *testing.T) {
	f := newGuestFixture(t, "ha-affinity", pvesimtest.WithNodes("pve1", "pve2"))
	f.createTemplate(t)
	two := int32(2)
	c := f.container("ha-pinned", func(c *lxcv1.LXCContainer) {
		c.Spec.HA = &lxcv1.HA{State: lxcv1.HAStarted, Nodes: []lxcv1.HANode{{Name: "pve1"}, {Name: "pve2", Priority: &two}}}
	})
	create(t, c)
	readyWithin(t, c, 60*time.Second)
	vmid := int(c.Status.VMID)
	eventually(t, 10*time.Second, f.ruleNodesAre(vmid, map[string]int{"pve1": 0, "pve2": 2}, false))
	eventually(t, 10*time.Second, f.runsOn(c, "pve2"))

	update(t, c, func(c *lxcv1.LXCContainer) {
		c.Spec.HA.Nodes = []lxcv1.HANode{{Name: "pve1", Priority: &two}, {Name: "pve2"}}
	})
	eventually(t, 10*time.Second, f.ruleNodesAre(vmid, map[string]int{"pve1": 2, "pve2": 0}, false))
	eventually(t, 60*time.Second, f.runsOn(c, "pve1"))
	readyWithin(t, c, 60*time.Second)

	r, err := f.px.HARule(testCtx, fmt.Sprintf("lxctm-%d", vmid))
	if err != nil {
		t.Fatal(err)
	}
	r.Strict = true
	if err := f.px.UpdateHARule(testCtx, r); err != nil {
		t.Fatal(err)
	}
	reconcileAgain(t, c, "rule-drift")
	eventually(t, 10*time.Second, f.ruleNodesAre(vmid, map[string]int{"pve1": 2, "pve2": 0}, false))
	eventually(t, 10*time.Second, func() error { return eventNamed(c, lxcv1.DriftCorrectedReason, "ha.strict") })

	update(t, c, func(c *lxcv1.LXCContainer) { c.Spec.HA.Nodes = nil })
	eventually(t, 10*time.Second, f.ruleNodesAre(vmid, nil, false))
	eventually(t, 10*time.Second, f.haAndPoolAre(vmid, "started", ""))
}
