package mirror

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
	"templatemanager.dev/lxc-template-manager/internal/testkit"
)

// listCache is an informer cache's List over objects held in memory: the resync benchmark
// measures the mirror's writes, not an API server.
type listCache struct {
	cache.Cache
	buckets    []lxcv1.PackageBucket
	templates  []lxcv1.LXCTemplate
	containers []lxcv1.LXCContainer
}

func (c *listCache) List(_ context.Context, list client.ObjectList, _ ...client.ListOption) error {
	switch l := list.(type) {
	case *lxcv1.PackageBucketList:
		l.Items = c.buckets
	case *lxcv1.LXCTemplateList:
		l.Items = c.templates
	case *lxcv1.LXCContainerList:
		l.Items = c.containers
	}
	return nil
}

// fleet returns n objects as a real fleet has them: a fifth buckets, a fifth templates, the rest
// provisioned containers with two services each.
func fleet(n int) *listCache {
	c := &listCache{}
	for i := range n {
		meta := metav1.ObjectMeta{Namespace: fmt.Sprintf("team-%d", i%20), Name: fmt.Sprintf("obj-%d", i),
			UID: types.UID(fmt.Sprintf("00000000-0000-0000-0000-%012d", i)), ResourceVersion: fmt.Sprint(1000 + i),
			Generation: 1, CreationTimestamp: metav1.Now()}
		switch i % 5 {
		case 0:
			c.buckets = append(c.buckets, lxcv1.PackageBucket{ObjectMeta: meta, Spec: lxcv1.PackageBucketSpec{
				Manager: lxcv1.PackageManagerApt, Packages: []lxcv1.PackageName{"nginx", "curl=7.88.1", "jq"}}})
		case 1:
			tpl := benchTemplate()
			tpl.ObjectMeta = meta
			c.templates = append(c.templates, *tpl)
		default:
			ct := lxcv1.LXCContainer{ObjectMeta: meta, Spec: lxcv1.LXCContainerSpec{
				ClusterRef: lxcv1.ClusterReference{Name: "pve"}, TemplateRef: lxcv1.LocalObjectReference{Name: "obj-1"}}}
			ct.Status = lxcv1.LXCContainerStatus{Phase: "Ready", VMID: int32(100 + i), Node: "pve1", IPAddress: "169.254.1.1",
				Services: []lxcv1.DiscoveredService{{Name: "nginx", Port: 80, Protocol: "TCP", Unit: "nginx.service"},
					{Name: "ssh", Port: 22, Protocol: "TCP", Unit: "ssh.service"}}}
			apimeta.SetStatusCondition(&ct.Status.Conditions, metav1.Condition{Type: lxcv1.ReadyCondition,
				Status: metav1.ConditionTrue, Reason: lxcv1.SucceededReason})
			c.containers = append(c.containers, ct)
		}
	}
	return c
}

func benchTemplate() *lxcv1.LXCTemplate {
	return &lxcv1.LXCTemplate{Spec: lxcv1.LXCTemplateSpec{
		Description: "bench", Tags: []lxcv1.Tag{"web"}, OSTemplate: "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst",
		Resources: lxcv1.Resources{Cores: ptr.To[int32](1)},
		Scripts:   []lxcv1.Script{{Name: "page", Content: ptr.To("#!/bin/sh\necho hi\n")}},
		Files:     []lxcv1.ManagedFile{{Path: "/etc/motd", Content: ptr.To("hello\n")}},
	}}
}

// BenchmarkMirrorResync measures a full resync of 10,000 objects into an empty mirror, as at
// the first start or after the database was replaced.
func BenchmarkMirrorResync(b *testing.B) {
	ctx := context.Background()
	_, pool := newDatabase(b)
	if _, err := Migrate(ctx, pool); err != nil {
		b.Fatal(err)
	}
	c := fleet(10000)
	m, err := New(c, Options{DSN: "unused"})
	must(b, err)
	var total time.Duration
	for b.Loop() {
		b.StopTimer()
		_, err := pool.Exec(ctx, "TRUNCATE templates, package_buckets, containers, container_services, container_events")
		must(b, err)
		b.StartTimer()
		start := time.Now()
		must(b, m.resync(ctx, pool))
		total += time.Since(start)
	}
	var rows int
	must(b, pool.QueryRow(ctx, "SELECT (SELECT count(*) FROM templates) + (SELECT count(*) FROM package_buckets) + (SELECT count(*) FROM containers)").Scan(&rows))
	if rows != 10000 {
		b.Fatalf("%d rows after the resync, want 10000", rows)
	}
	b.ReportMetric(total.Seconds()/float64(b.N), "resync-10k-s")
}

// lagRecorder keeps every lag the mirror observes, for exact percentiles.
type lagRecorder struct {
	prometheus.Histogram
	mu   sync.Mutex
	lags []float64
}

func (l *lagRecorder) Observe(v float64) {
	l.mu.Lock()
	l.lags = append(l.lags, v)
	l.mu.Unlock()
	l.Histogram.Observe(v)
}

// BenchmarkMirrorLag changes container statuses at 100 per second on a real API server and
// reports the 99th percentile of the time from the change seen in the cache to its row committed.
func BenchmarkMirrorLag(b *testing.B) {
	controlPlane(b)
	ctx := context.Background()
	dsn, pool := newDatabase(b)
	ns := newNamespace(b)
	const containers, rate, seconds = 100, 100, 10
	cts := make([]*lxcv1.LXCContainer, containers)
	for i := range cts {
		cts[i] = &lxcv1.LXCContainer{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("ct-%d", i)},
			Spec: lxcv1.LXCContainerSpec{ClusterRef: lxcv1.ClusterReference{Name: "pve"}, TemplateRef: lxcv1.LocalObjectReference{Name: "web"}}}
		must(b, k8s.Create(ctx, cts[i]))
	}
	metrics, err := NewMetrics(nil)
	must(b, err)
	rec := &lagRecorder{Histogram: metrics.Lag}
	metrics.Lag = rec
	m, err := New(mgrCache, Options{DSN: dsn, Metrics: metrics})
	must(b, err)
	mctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = m.Start(mctx) }()
	defer func() { stop(); <-done }()
	testkit.Eventually(b, 30*time.Second, func() error { return rowCount(ctx, pool, "containers", ns, containers) })

	var p99 float64
	for b.Loop() {
		rec.mu.Lock()
		rec.lags = nil
		rec.mu.Unlock()
		tick := time.NewTicker(time.Second / rate)
		for i := range rate * seconds {
			<-tick.C
			c := cts[i%containers]
			c.Status.Phase = "Ready"
			c.Status.IPAddress = fmt.Sprintf("169.254.%d.%d", i/250%250, i%250+1)
			if err := k8s.Status().Update(ctx, c); err != nil {
				b.Fatal(err)
			}
		}
		tick.Stop()
		testkit.Eventually(b, 30*time.Second, func() error {
			if m.queue.len() > 0 {
				return fmt.Errorf("%d changes pending", m.queue.len())
			}
			return nil
		})
		rec.mu.Lock()
		lags := slices.Clone(rec.lags)
		rec.mu.Unlock()
		if len(lags) == 0 {
			b.Fatal("no lag observed")
		}
		slices.Sort(lags)
		p99 = lags[(len(lags)*99)/100]
	}
	b.ReportMetric(p99*1000, "lag-p99-ms")
}
