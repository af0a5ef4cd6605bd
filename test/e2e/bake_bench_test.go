package e2e

import (
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
)

// slowTemplate is the demo's kind of template: packages from the local apt repository and three
// scripts of 3 s each.
func (s *stack) slowTemplate(ns, name string, bake bool) *lxcv1.LXCTemplate {
	tmpl := s.lightTemplate(ns, name)
	tmpl.Spec.PackageBucketRefs = []lxcv1.LocalObjectReference{{Name: "web"}}
	tmpl.Spec.Files = []lxcv1.ManagedFile{{Path: "/etc/apt/sources.list", Content: str("deb [trusted=yes] " + s.repoURL + " ./\n"), Policy: lxcv1.FilePolicyReplace}}
	tmpl.Spec.Scripts = nil
	for _, n := range []string{"one", "two", "three"} {
		tmpl.Spec.Scripts = append(tmpl.Spec.Scripts, lxcv1.Script{Name: n, Content: str("#!/bin/sh\nsleep 3\necho " + n + " > /root/" + n + "\n")})
	}
	if bake {
		tmpl.Spec.Bake = &lxcv1.Bake{Enabled: ptr(true)}
	}
	return tmpl
}

// readyTime creates a container of template on node and returns how long it took to be Ready.
func (s *stack) readyTime(b *testing.B, ns, name, template, node string, last byte) time.Duration {
	c := s.containerAt(ns, name, template, last)
	c.Spec.Node = node
	start := time.Now()
	s.create(b, c)
	s.waitReady(b, ns, name)
	return time.Since(start)
}

// BenchmarkBakedProvision: the Ready time of a container built from scratch, divided by that of
// one cloned from the template's bake (baked-speedup), on the lxc backend with bin/manager.
func BenchmarkBakedProvision(b *testing.B) {
	s := startStack(b)
	s.startManager(b)
	ns := "bakebench"
	s.create(b, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, webBucket(ns),
		s.slowTemplate(ns, "scratch", false), s.slowTemplate(ns, "baked", true))
	// The first container of the baked template places its bake.
	s.create(b, s.containerAt(ns, "seed", "baked", 249))
	s.waitReady(b, ns, "seed")
	node := s.getContainer(b, ns, "seed").Status.Node
	s.waitBake(b, ns, "baked", "", 10*time.Minute)
	b.ResetTimer()
	var scratch, baked time.Duration
	for i := range b.N {
		scratch += s.readyTime(b, ns, fmt.Sprintf("scratch-%d", i), "scratch", node, byte(230+2*(i%5)))
		baked += s.readyTime(b, ns, fmt.Sprintf("baked-%d", i), "baked", node, byte(231+2*(i%5)))
		if c := s.getContainer(b, ns, fmt.Sprintf("baked-%d", i)); c.Status.ClonedFrom == 0 {
			b.Fatalf("baked-%d was not cloned", i)
		}
	}
	b.StopTimer()
	b.ReportMetric(scratch.Seconds()/float64(b.N), "scratch-ready-s")
	b.ReportMetric(baked.Seconds()/float64(b.N), "baked-ready-s")
	b.ReportMetric(scratch.Seconds()/baked.Seconds(), "baked-speedup")
}
