package controller

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/fluxcd/pkg/runtime/conditions"
	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/client"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
	"templatemanager.dev/lxc-template-manager/internal/ssh"
)

// Metrics are the controller's own Prometheus metrics (prefix lxctm_). A nil *Metrics records
// nothing.
type Metrics struct {
	containers     *containerCounter
	phaseDuration  *prometheus.HistogramVec
	scriptDuration *prometheus.HistogramVec
	scriptFailures *prometheus.CounterVec
	sshOps         *prometheus.CounterVec
	sshDuration    *prometheus.HistogramVec
	drift          *prometheus.CounterVec
}

// NewMetrics registers the metrics with reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		containers: &containerCounter{desc: prometheus.NewDesc("lxctm_containers", "LXCContainers by phase.", []string{"phase"}, nil)},
		phaseDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "lxctm_phase_duration_seconds", Help: "Time from the start of a pipeline phase to its condition turning True.",
			Buckets: prometheus.ExponentialBuckets(0.5, 2, 12),
		}, []string{"phase"}),
		scriptDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "lxctm_script_duration_seconds", Help: "Duration of provisioning runs (package installs and scripts).",
			Buckets: prometheus.ExponentialBuckets(0.25, 2, 14),
		}, []string{"kind", "result"}),
		scriptFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lxctm_script_failures_total", Help: "Provisioning runs that exited non-zero or timed out.",
		}, []string{"kind"}),
		sshOps: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lxctm_ssh_operations_total", Help: "SSH operations by kind and result.",
		}, []string{"operation", "result"}),
		sshDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "lxctm_ssh_operation_duration_seconds", Help: "Duration of SSH operations.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 14),
		}, []string{"operation"}),
		drift: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lxctm_drift_corrected_total", Help: "Changes made to containers outside the controller, and set back to the spec, by field.",
		}, []string{"field"}),
	}
	for _, c := range []prometheus.Collector{m.containers, m.phaseDuration, m.scriptDuration, m.scriptFailures, m.sshOps, m.sshDuration, m.drift} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// observeDrift counts corrected fields.
func (m *Metrics) observeDrift(fields ...string) {
	if m == nil {
		return
	}
	for _, f := range fields {
		m.drift.WithLabelValues(f).Inc()
	}
}

// ObserveSSH is the ssh.Dialer's Observe hook.
func (m *Metrics) ObserveSSH(op string, d time.Duration, err error) {
	if m == nil {
		return
	}
	result := "ok"
	if err != nil {
		result = "error"
	}
	m.sshOps.WithLabelValues(op, result).Inc()
	m.sshDuration.WithLabelValues(op).Observe(d.Seconds())
}

// CountFrom makes lxctm_containers count the LXCContainers reader (the manager's cache) holds,
// at each scrape: every container, not only those this process happened to reconcile.
func (m *Metrics) CountFrom(reader client.Reader) {
	if m != nil {
		m.containers.reader.Store(&reader)
	}
}

// containerCounter is lxctm_containers: the cached LXCContainers by printed phase.
type containerCounter struct {
	desc   *prometheus.Desc
	reader atomic.Pointer[client.Reader]
}

func (c *containerCounter) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *containerCounter) Collect(ch chan<- prometheus.Metric) {
	r := c.reader.Load()
	if r == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	list := &lxcv1.LXCContainerList{}
	// Read only: the cache's objects are counted, not copied.
	if err := (*r).List(ctx, list, client.UnsafeDisableDeepCopy); err != nil {
		ch <- prometheus.NewInvalidMetric(c.desc, err)
		return
	}
	counts := map[string]int{}
	for i := range list.Items {
		if p := list.Items[i].Status.Phase; p != "" {
			counts[p]++
		}
	}
	for p, n := range counts {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(n), p)
	}
}

// observePhase records how long a phase took, from when the previous phase finished (or the
// object was created) to now.
func (m *Metrics) observePhase(obj *lxcv1.LXCContainer, condition string) {
	if m == nil {
		return
	}
	start := obj.CreationTimestamp.Time
	order := []string{lxcv1.ContainerCreatedCondition, lxcv1.ContainerStartedCondition, lxcv1.ConfigManagerDeployedCondition,
		lxcv1.ScriptsCompletedCondition, lxcv1.ServicesDiscoveredCondition}
	for i, c := range order {
		if c == condition && i > 0 {
			if prev := conditions.GetLastTransitionTime(obj, order[i-1]); prev != nil {
				start = prev.Time
			}
		}
	}
	m.phaseDuration.WithLabelValues(condition).Observe(time.Since(start).Seconds())
}

// observeScript records a finished run.
func (m *Metrics) observeScript(rn *run, rs ssh.RunStatus) {
	if m == nil {
		return
	}
	kind, result := "script", "succeeded"
	if rn.status == nil {
		kind = "packages"
	}
	if rs.ExitCode != 0 {
		result = "failed"
		m.scriptFailures.WithLabelValues(kind).Inc()
	}
	if !rs.StartedAt.IsZero() && !rs.FinishedAt.IsZero() {
		m.scriptDuration.WithLabelValues(kind, result).Observe(rs.FinishedAt.Sub(rs.StartedAt).Seconds())
	}
}
