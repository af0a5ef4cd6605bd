package e2e

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
	"templatemanager.dev/lxc-template-manager/internal/pvesim/lxc/lxctest"
	"templatemanager.dev/lxc-template-manager/internal/testkit"
)

// containerAt is an LXCContainer of a template with the static address .last of the subnet.
func (s *stack) containerAt(ns, name, template string, last byte) *lxcv1.LXCContainer {
	c := s.container(ns, name, template)
	a := s.subnet.Addr().As4()
	a[3] = last
	c.Spec.Network.IPv4 = netip.AddrFrom4(a).String() + "/24"
	return c
}

// waitBake waits for a ready bake of the template as it is now, of another hash than
// outdated, and returns it.
func (s *stack) waitBake(t testing.TB, ns, name, outdated string, within time.Duration) lxcv1.BakeStatus {
	t.Helper()
	var bake lxcv1.BakeStatus
	testkit.Eventually(t, within, func() error {
		tmpl := &lxcv1.LXCTemplate{}
		if err := s.k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, tmpl); err != nil {
			return err
		}
		for _, b := range tmpl.Status.Bakes {
			if b.Ready && b.TemplateHash == tmpl.Status.TemplateHash && b.TemplateHash != outdated {
				bake = b
				return nil
			}
		}
		return fmt.Errorf("no ready bake: %+v", tmpl.Status.Bakes)
	})
	return bake
}

// TestBakedTemplate: a template with bake.enabled gets a bake on the node of its first
// container: a container provisioned through the five phases and made a Proxmox template
// (template: 1 in its config). The next container is cloned from it: it carries the file the
// bake's script wrote, from before it existed, without running the script again, and is Ready
// with its own hostname, address, config.env and SSH host key. A changed template bakes anew,
// while its containers keep their Proxmox containers and run the changed script in place.
func TestBakedTemplate(t *testing.T) {
	t.Parallel()
	s := startStack(t)
	s.startManager(t)
	ctx := context.Background()
	ns := "bake"
	signer := lxctest.NewSigner(t)
	tmpl := s.lightTemplate(ns, "baked")
	tmpl.Spec.Bake = &lxcv1.Bake{Enabled: ptr(true)}
	tmpl.Spec.Scripts = []lxcv1.Script{{Name: "stamp", Content: str("#!/bin/sh\nset -e\ndate +%s > /root/baked-at\necho ran >> /root/stamp-runs\n")}}
	s.create(t, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, tmpl)

	s.guestWithKey(t, ns, "first", "baked", signer, nil)
	bake := s.waitBake(t, ns, "baked", "", 5*time.Minute)
	cfg, err := s.px.ContainerConfig(ctx, bake.Node, int(bake.VMID))
	if err != nil || !cfg.Template {
		t.Fatalf("the bake CT %d is not a Proxmox template: %+v, %v", bake.VMID, cfg.Raw, err)
	}
	bakeObj := s.getContainer(t, ns, bake.Container)
	if bakeObj.Labels[lxcv1.BakeOfLabel] != "baked" || !bakeObj.Status.Baked {
		t.Fatalf("bake container %s: labels %v, baked %v", bake.Container, bakeObj.Labels, bakeObj.Status.Baked)
	}

	before := time.Now().Unix()
	c := s.guestWithKey(t, ns, "second", "baked", signer, func(c *lxcv1.LXCContainer) {
		c.Spec.Network = s.containerAt(ns, "second", "baked", 251).Spec.Network
		c.Spec.Node = bake.Node
		c.Spec.Config = &lxcv1.ContainerConfig{Env: []lxcv1.EnvVar{{Name: "GREETING", Value: "hello-second"}}}
	})
	if c.Status.ClonedFrom != bake.VMID {
		t.Fatalf("second was not cloned from the bake CT %d: clonedFrom %d", bake.VMID, c.Status.ClonedFrom)
	}
	if n := countEvents(t, s, ns, "second", lxcv1.CloningReason); n != 1 {
		t.Errorf("%d Cloning Events, want 1", n)
	}
	if cfg, err := s.px.ContainerConfig(ctx, c.Status.Node, int(c.Status.VMID)); err != nil || cfg.Template || cfg.Hostname != "second" {
		t.Fatalf("config of the clone: %+v, %v", cfg.Raw, err)
	}

	var seen gossh.PublicKey
	guest, err := gossh.Dial("tcp", net.JoinHostPort(c.Status.IPAddress, "22"), &gossh.ClientConfig{
		User: "root", Auth: []gossh.AuthMethod{gossh.PublicKeys(signer)}, Timeout: 10 * time.Second,
		HostKeyAlgorithms: []string{gossh.KeyAlgoED25519},
		HostKeyCallback:   func(_ string, _ net.Addr, k gossh.PublicKey) error { seen = k; return nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	defer guest.Close()
	if fp := gossh.FingerprintSHA256(seen); fp != c.Status.SSHHostKey || fp == bakeObj.Status.SSHHostKey {
		t.Errorf("the clone presents host key %s; pinned %s, the bake's %s", fp, c.Status.SSHHostKey, bakeObj.Status.SSHHostKey)
	}
	out := run1(t, guest, "hostname; cat /root/baked-at; cat /root/stamp-runs; ip -4 -o addr show eth0; cat /etc/config-manager/config.env")
	lines := strings.Split(out, "\n")
	if len(lines) < 4 || lines[0] != "second" {
		t.Fatalf("the clone says:\n%s", out)
	}
	if at, err := strconv.ParseInt(lines[1], 10, 64); err != nil || at >= before {
		t.Errorf("/root/baked-at is %q: the script ran in the clone, not in the bake before it (clone made at %d)", lines[1], before)
	}
	if lines[2] != "ran" {
		t.Errorf("the script ran more than once in the clone's disk:\n%s", out)
	}
	if !strings.Contains(out, " "+c.Status.IPAddress+"/") || c.Status.IPAddress == s.getContainer(t, ns, "first").Status.IPAddress {
		t.Errorf("the clone's eth0 does not hold its own address %s:\n%s", c.Status.IPAddress, out)
	}
	if !strings.Contains(out, "GREETING=") || !strings.Contains(out, "hello-second") {
		t.Errorf("config.env of the clone lacks its own GREETING:\n%s", out)
	}

	// A changed template bakes anew; its containers are not made again: they run the changed
	// script in place.
	first := s.getContainer(t, ns, "first")
	latest := &lxcv1.LXCTemplate{}
	if err := s.k8s.Get(ctx, client.ObjectKeyFromObject(tmpl), latest); err != nil {
		t.Fatal(err)
	}
	latest.Spec.Scripts[0].Content = str("#!/bin/sh\nset -e\necho ran again >> /root/stamp-runs\n")
	if err := s.k8s.Update(ctx, latest); err != nil {
		t.Fatal(err)
	}
	rebake := s.waitBake(t, ns, "baked", bake.TemplateHash, 5*time.Minute)
	if rebake.VMID == bake.VMID || rebake.Container == bake.Container {
		t.Fatalf("the changed template kept its bake: %+v", rebake)
	}
	testkit.Eventually(t, 3*time.Minute, func() error {
		if out := run1(t, guest, "cat /root/stamp-runs"); out != "ran\nran again\n" {
			return fmt.Errorf("the clone's /root/stamp-runs is %q", out)
		}
		return nil
	})
	for _, old := range []*lxcv1.LXCContainer{first, c} {
		s.waitReady(t, ns, old.Name)
		if now := s.getContainer(t, ns, old.Name); now.Status.VMID != old.Status.VMID || now.Status.ClonedFrom != old.Status.ClonedFrom {
			t.Errorf("%s was made again: CT %d (cloned from %d), was CT %d (cloned from %d)", old.Name,
				now.Status.VMID, now.Status.ClonedFrom, old.Status.VMID, old.Status.ClonedFrom)
		}
	}

	// Deleting the template deletes its bakes, in Kubernetes and in Proxmox.
	if err := s.k8s.Delete(ctx, latest); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 2*time.Minute, func() error {
		for _, b := range []lxcv1.BakeStatus{bake, rebake} {
			if n := s.guestsAt(t, int(b.VMID)); n != 0 {
				return fmt.Errorf("the bake CT %d is still in Proxmox", b.VMID)
			}
		}
		return nil
	})
}
