package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fluxcd/pkg/runtime/conditions"
	gossh "golang.org/x/crypto/ssh"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
	"templatemanager.dev/lxc-template-manager/internal/pvesim/lxc/lxctest"
	"templatemanager.dev/lxc-template-manager/internal/testkit"
)

// TestOSTemplateStaysResolved: containers made from a short form (debian-12-standard) stay what
// they are when a newer point release of the template lands on the node. After the newer
// tarball is added, a change of the template's tags and a 30 s Proxmox outage leave both
// containers — one InPlace, one Recreate — Ready at the same VMID, made from the same volume,
// with a file written in the guest before still there. Moving on is explicit: the
// os-template-upgrade annotation stalls the InPlace container with RecreateRequired naming
// osTemplate, and makes the Recreate one anew from the newer tarball.
func TestOSTemplateStaysResolved(t *testing.T) {
	t.Parallel()
	templates := t.TempDir()
	base := filepath.Base(lxctest.Template(t))
	const newerTarball = "debian-12-standard_12.12-1_amd64.tar.zst"
	linkOrCopy(t, lxctest.Template(t), filepath.Join(templates, base))
	s := startStack(t, "--template-dir", templates)
	s.startManager(t)
	ctx := context.Background()
	ns := "pets"
	signer := lxctest.NewSigner(t)
	userKey := lxcv1.SSHPublicKey(strings.TrimSpace(string(gossh.MarshalAuthorizedKey(signer.PublicKey()))) + " e2e@test")
	tmpl := s.lightTemplate(ns, "pet")
	tmpl.Spec.OSTemplate = "debian-12-standard"
	s.create(t, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, tmpl)
	made := "local:vztmpl/" + base
	newer := "local:vztmpl/" + newerTarball

	type pet struct {
		name     string
		strategy lxcv1.UpdateStrategy
		vmid     int32
		addr     string
	}
	pets := []*pet{{name: "inplace", strategy: lxcv1.UpdateStrategyInPlace}, {name: "recreate", strategy: lxcv1.UpdateStrategyRecreate}}
	for _, p := range pets {
		c := s.container(ns, p.name, "pet")
		c.Spec.Network = nil // the template's DHCP
		c.Spec.UpdateStrategy = p.strategy
		c.Spec.SSHPublicKeys = []lxcv1.SSHPublicKey{userKey}
		s.create(t, c)
	}
	for _, p := range pets {
		s.waitReady(t, ns, p.name)
		c := s.getContainer(t, ns, p.name)
		p.vmid, p.addr = c.Status.VMID, c.Status.IPAddress
		if c.Status.OSTemplate != made {
			t.Fatalf("%s: status.osTemplate = %q, want %q", p.name, c.Status.OSTemplate, made)
		}
		run1(t, dialContainer(t, p.addr, signer), "echo "+p.name+" > /root/pet")
	}

	// An admin downloads a newer point release; the cluster lists it at its next sync.
	linkOrCopy(t, lxctest.Template(t), filepath.Join(templates, newerTarball))
	testkit.Eventually(t, 2*time.Minute, func() error {
		pc := &lxcv1.ProxmoxCluster{}
		if err := s.k8s.Get(ctx, client2Key("", "pve"), pc); err != nil {
			return err
		}
		if !slices.ContainsFunc(pc.Status.Templates, func(ct lxcv1.ClusterTemplate) bool { return ct.VolID == newer }) {
			return fmt.Errorf("the cluster does not list %s yet", newer)
		}
		return nil
	})

	if err := s.k8s.Get(ctx, client2Key(ns, "pet"), tmpl); err != nil {
		t.Fatal(err)
	}
	tmpl.Spec.Tags = []lxcv1.Tag{"pet"}
	if err := s.k8s.Update(ctx, tmpl); err != nil {
		t.Fatal(err)
	}
	s.outage(t, 30*time.Second)

	for _, p := range pets {
		testkit.Eventually(t, 5*time.Minute, func() error {
			c := s.getContainer(t, ns, p.name)
			if st := conditions.Get(c, lxcv1.StalledCondition); st != nil {
				return fmt.Errorf("%s stalled: %s: %s", p.name, st.Reason, st.Message)
			}
			cfg, err := s.px.ContainerConfig(ctx, c.Status.Node, int(p.vmid))
			if err != nil {
				return err
			}
			if !conditions.IsReady(c) || c.Status.VMID != p.vmid || !slices.Contains(cfg.Tags, "pet") {
				return fmt.Errorf("%s: Ready %v, vmid %d (was %d), tags %v", p.name, conditions.IsReady(c), c.Status.VMID, p.vmid, cfg.Tags)
			}
			if c.Status.OSTemplate != made {
				return fmt.Errorf("%s: status.osTemplate = %q, want %q", p.name, c.Status.OSTemplate, made)
			}
			return nil
		})
		if got, err := tryRun(p.addr, signer, "cat /root/pet"); err != nil || strings.TrimSpace(got) != p.name {
			t.Errorf("%s: the file written before is gone: %q, %v", p.name, got, err)
		}
		if notes := eventsAbout(t, s, ns, p.name); containsLine(notes, lxcv1.RecreatingReason) {
			t.Errorf("%s was recreated:\n%s", p.name, strings.Join(notes, "\n"))
		}
	}

	t.Run("the upgrade annotation stalls InPlace and recreates with Recreate", func(t *testing.T) {
		for _, p := range pets {
			update(t, s, s.getContainer(t, ns, p.name), func(c *lxcv1.LXCContainer) {
				if c.Annotations == nil {
					c.Annotations = map[string]string{}
				}
				c.Annotations[lxcv1.OSTemplateUpgradeAnnotation] = lxcv1.OSTemplateUpgradeLatest
			})
		}
		testkit.Eventually(t, 2*time.Minute, func() error {
			c := s.getContainer(t, ns, "inplace")
			if st := conditions.Get(c, lxcv1.StalledCondition); st == nil || st.Reason != lxcv1.RecreateRequiredReason ||
				!strings.Contains(st.Message, "osTemplate") || !strings.Contains(st.Message, newer) {
				return fmt.Errorf("inplace is not Stalled with RecreateRequired naming osTemplate: %+v", c.Status.Conditions)
			}
			return nil
		})
		testkit.Eventually(t, 5*time.Minute, func() error {
			c := s.getContainer(t, ns, "recreate")
			if !conditions.IsReady(c) || c.Status.OSTemplate != newer {
				return fmt.Errorf("recreate: Ready %v, status.osTemplate %q", conditions.IsReady(c), c.Status.OSTemplate)
			}
			return nil
		})
		if notes := eventsAbout(t, s, ns, "recreate"); !containsLine(notes, lxcv1.RecreatingReason, "osTemplate") {
			t.Errorf("no Recreating Event:\n%s", strings.Join(notes, "\n"))
		}
		if n := s.markedGuests(t, s.getContainer(t, ns, "recreate")); n != 1 {
			t.Errorf("%d Proxmox containers carry the marker of recreate, want 1", n)
		}
	})
}

// outage makes pvesim's API drop every connection unanswered for d, through its fault
// endpoint, as a Proxmox node whose API daemons hang would.
func (s *stack) outage(t testing.TB, d time.Duration) {
	t.Helper()
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(s.simCA)
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	admin := func(method, body string) {
		req, err := http.NewRequest(method, "https://"+s.simAddr+"/_pvesim/faults", bytes.NewBufferString(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "PVEAPIToken="+s.tokenID+"="+s.token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s /_pvesim/faults: %s", method, resp.Status)
		}
	}
	admin(http.MethodPost, `{"kind":"drop","endpoint":"*"}`)
	time.Sleep(d)
	admin(http.MethodDelete, "")
}
