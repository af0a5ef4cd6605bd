package controller

import (
	"fmt"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
)

// BenchmarkReadyFleetReconcile reconciles a fleet of Ready containers and reports the Proxmox
// requests it costs: checking Ready containers for drift reads the cluster's guest list in bulk,
// so the requests per container reconcile stay far below one.
var readyFleetRuns atomic.Int32

func BenchmarkReadyFleetReconcile(b *testing.B) {
	const fleet = 20
	// Each run of the benchmark (b.N grows) has a cluster of its own: the last run's may still
	// be going away.
	f := newPipelineFixture(b, fmt.Sprintf("bench-fleet-%d", readyFleetRuns.Add(1)))
	f.createTemplate(b)
	containers := make([]*lxcv1.LXCContainer, fleet)
	for i := range containers {
		// Stopped containers are Ready without SSH, which the fake backend has not.
		containers[i] = f.container(fmt.Sprintf("c%02d", i), func(c *lxcv1.LXCContainer) { c.Spec.PowerState = lxcv1.PowerStateStopped })
		create(b, containers[i])
	}
	for _, c := range containers {
		eventually(b, 2*time.Minute, condition(c, lxcv1.ReadyCondition, metav1.ConditionTrue, ""))
	}

	start := f.sim.Counters()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		stamp := strconv.Itoa(i) + "-" + strconv.FormatInt(time.Now().UnixNano(), 10)
		for _, c := range containers {
			patch := client.MergeFrom(c.DeepCopy())
			if c.Annotations == nil {
				c.Annotations = map[string]string{}
			}
			c.Annotations[lxcv1.ReconcileRequestAnnotation] = stamp
			if err := k8s.Patch(testCtx, c, patch); err != nil {
				b.Fatal(err)
			}
		}
		for _, c := range containers {
			eventually(b, time.Minute, func() error {
				if err := k8s.Get(testCtx, client.ObjectKeyFromObject(c), c); err != nil {
					return err
				}
				if c.Status.LastHandledReconcileAt != stamp {
					return fmt.Errorf("%s has not handled %s yet", c.Name, stamp)
				}
				return nil
			})
		}
	}
	b.StopTimer()
	end := f.sim.Counters()
	reconciles := float64(b.N * fleet)
	b.ReportMetric(float64(end.Total("")-start.Total(""))/reconciles, "proxmox-requests/reconcile")
	b.ReportMetric(float64(end.Total("GET /cluster/resources")-start.Total("GET /cluster/resources"))/float64(b.N), "bulk-reads/round")
}
