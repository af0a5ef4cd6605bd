package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
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
	update(t, s, c, func(c *lxcv1.LXCContainer) {
		metav1.SetMetaDataAnnotation(&c.ObjectMeta, lxcv1.ReconcileRequestAnnotation, "ha-drift")
	})
	testkit.Eventually(t, 2*time.Minute, haAndPool)
	testkit.Eventually(t, time.Minute, func() error {
		if notes := eventsAbout(t, s, ns, "kept"); !containsLine(notes, lxcv1.DriftCorrectedReason, "(ha)") {
			return fmt.Errorf("no DriftCorrected Event naming ha:\n%s", strings.Join(notes, "\n"))
		}
		return nil
	})
	s.waitReady(t, ns, "kept")
}
