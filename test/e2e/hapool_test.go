package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/fluxcd/pkg/runtime/conditions"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
	"templatemanager.dev/lxc-template-manager/internal/proxmox"
	"templatemanager.dev/lxc-template-manager/internal/testkit"
)

// createPool makes a Proxmox pool through the API, as the cluster administrator would.
func (s *stack) createPool(t testing.TB, id string) {
	t.Helper()
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(s.simCA)
	hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}}}
	req, err := http.NewRequest(http.MethodPost, "https://"+s.simAddr+"/api2/json/pools", strings.NewReader(url.Values{"poolid": {id}}.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "PVEAPIToken="+s.tokenID+"="+s.token)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	res, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("create pool %s: %s", id, res.Status)
	}
}

// TestHAAndPool: bin/manager puts a template's container into its pool with the create and
// makes it an HA resource that HA keeps started on the lxc backend; the container is Ready; an
// HA resource deleted through the Proxmox API comes back at the next look, with a
// DriftCorrected Event.
func TestHAAndPool(t *testing.T) {
	t.Parallel()
	s := startStack(t)
	s.startManager(t)
	ctx := context.Background()
	ns := "hapool"
	s.createPool(t, "web")
	tmpl := s.lightTemplate(ns, "kept")
	tmpl.Spec.HA = &lxcv1.HA{State: lxcv1.HAStarted}
	tmpl.Spec.Pool = "web"
	s.create(t, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, tmpl)
	s.create(t, s.container(ns, "kept", "kept"))
	s.waitReady(t, ns, "kept")
	c := s.getContainer(t, ns, "kept")
	vmid := int(c.Status.VMID)

	haAndPool := func() error {
		h, err := s.px.HAResource(ctx, vmid)
		if err != nil || h.State != "started" {
			return fmt.Errorf("HA resource %+v, %v", h, err)
		}
		vmids, ok, err := s.px.PoolMembers(ctx, "web")
		if err != nil || !ok || len(vmids) != 1 || vmids[0] != vmid {
			return fmt.Errorf("pool web holds %v (%v, %v)", vmids, ok, err)
		}
		return nil
	}
	testkit.Eventually(t, time.Minute, haAndPool)

	if err := s.px.DeleteHAResource(ctx, vmid); err != nil {
		t.Fatal(err)
	}
	expectDriftCorrected(t, s, c, "(ha)", haAndPool)
	s.waitReady(t, ns, "kept")
}

// TestHANodeAffinity: a container on pve1 whose spec.ha.nodes prefer pve1 gets the
// node-affinity rule lxctm-VMID in /cluster/ha/rules; when the spec comes to prefer pve2, the
// HA stack relocates it there and bin/manager follows it (status.node, a Moved Event, Ready,
// running on pve2). A rule deleted through the Proxmox API comes back with a DriftCorrected
// Event; deleting the LXCContainer leaves no rule behind.
func TestHANodeAffinity(t *testing.T) {
	t.Parallel()
	s := startStack(t)
	s.startManager(t)
	ctx := context.Background()
	ns := "affinity"
	s.create(t, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, s.lightTemplate(ns, "pinned"))
	c := s.container(ns, "pinned", "pinned")
	c.Spec.Node = "pve1"
	one, two := int32(1), int32(2)
	c.Spec.HA = &lxcv1.HA{State: lxcv1.HAStarted, Nodes: []lxcv1.HANode{{Name: "pve1", Priority: &one}, {Name: "pve2"}}}
	s.create(t, c)
	s.waitReady(t, ns, "pinned")
	vmid := int(s.getContainer(t, ns, "pinned").Status.VMID)

	// Now pve2 is preferred: HA moves the running container, the controller follows.
	update(t, s, s.getContainer(t, ns, "pinned"), func(c *lxcv1.LXCContainer) {
		c.Spec.HA.Nodes = []lxcv1.HANode{{Name: "pve1"}, {Name: "pve2", Priority: &two}}
	})
	testkit.Eventually(t, 3*time.Minute, func() error {
		c := s.getContainer(t, ns, "pinned")
		if c.Status.Node != "pve2" || !conditions.IsReady(c) || c.Status.ObservedGeneration != c.Generation {
			return fmt.Errorf("status.node %s, Ready %v: %+v", c.Status.Node, conditions.IsReady(c), c.Status.Conditions)
		}
		return nil
	})
	if st, err := s.px.ContainerStatus(ctx, "pve2", vmid); err != nil || !st.Running() {
		t.Fatalf("CT %d on pve2: %+v, %v", vmid, st, err)
	}
	if notes := eventsAbout(t, s, ns, "pinned"); !containsLine(notes, "Normal "+lxcv1.MovedReason, "from node pve1 to node pve2") {
		t.Errorf("no Moved Event from pve1 to pve2:\n%s", strings.Join(notes, "\n"))
	}

	ruleID := fmt.Sprintf("lxctm-%d", vmid)
	ruleIsWanted := func() error {
		r, err := s.px.HARule(ctx, ruleID)
		if err != nil {
			return fmt.Errorf("rule %s: %v", ruleID, err)
		}
		want := map[string]int{"pve1": 0, "pve2": 2}
		if len(r.Resources) != 1 || r.Resources[0] != fmt.Sprintf("ct:%d", vmid) || len(r.Nodes) != 2 ||
			r.Nodes["pve1"] != want["pve1"] || r.Nodes["pve2"] != want["pve2"] || r.Strict || r.Disabled {
			return fmt.Errorf("rule %s is %+v", ruleID, r)
		}
		return nil
	}
	testkit.Eventually(t, time.Minute, ruleIsWanted)

	if err := s.px.DeleteHARule(ctx, ruleID); err != nil {
		t.Fatal(err)
	}
	expectDriftCorrected(t, s, s.getContainer(t, ns, "pinned"), "ha.nodes", ruleIsWanted)
	s.waitReady(t, ns, "pinned")
	if c := s.getContainer(t, ns, "pinned"); c.Status.Node != "pve2" {
		t.Errorf("status.node %s after the rule came back, want pve2", c.Status.Node)
	}

	if err := s.k8s.Delete(ctx, s.getContainer(t, ns, "pinned")); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 2*time.Minute, func() error {
		if _, err := s.px.HARule(ctx, ruleID); !errors.Is(err, proxmox.ErrNotFound) {
			return fmt.Errorf("rule %s after the container was deleted: %v", ruleID, err)
		}
		return nil
	})
}
