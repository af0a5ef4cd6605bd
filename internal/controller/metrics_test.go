package controller

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
)

// TestContainersGaugeCountsTheCache: lxctm_containers counts every cached LXCContainer by
// phase at scrape time, whether this process reconciled it or not.
func TestContainersGaugeCountsTheCache(t *testing.T) {
	scheme := runtime.NewScheme()
	if err := lxcv1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	var objs []lxcv1.LXCContainer
	for i, phase := range []string{"Ready", "Ready", "Provisioning", ""} {
		objs = append(objs, lxcv1.LXCContainer{
			ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: string(rune('a' + i))},
			Status:     lxcv1.LXCContainerStatus{Phase: phase},
		})
	}
	b := fake.NewClientBuilder().WithScheme(scheme)
	for i := range objs {
		b = b.WithObjects(&objs[i])
	}
	reg := prometheus.NewRegistry()
	m, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	m.CountFrom(b.Build())
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, f := range families {
		if f.GetName() != "lxctm_containers" {
			continue
		}
		for _, mt := range f.GetMetric() {
			got[mt.GetLabel()[0].GetValue()] = mt.GetGauge().GetValue()
		}
	}
	if len(got) != 2 || got["Ready"] != 2 || got["Provisioning"] != 1 {
		t.Errorf("lxctm_containers = %v, want Ready 2, Provisioning 1", got)
	}
}
