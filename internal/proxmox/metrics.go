package proxmox

import (
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the Proxmox API client's Prometheus collectors. One set serves every cluster's
// client; create it once per registry.
type Metrics struct {
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	retries  *prometheus.CounterVec
}

// NewMetrics creates the collectors and registers them on reg (the manager passes
// controller-runtime's metrics.Registry). Registering on a registry that already holds them
// reuses the registered collectors. A nil reg gives unregistered collectors.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lxctm_proxmox_requests_total",
			Help: "Proxmox API HTTP requests, one per attempt, by endpoint pattern, method and " +
				"status code (or error class when no response arrived).",
		}, []string{"endpoint", "method", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "lxctm_proxmox_request_duration_seconds",
			Help:    "Latency of Proxmox API HTTP requests by endpoint pattern and method.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"endpoint", "method"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lxctm_proxmox_retries_total",
			Help: "Proxmox API calls tried again after a retryable failure, by operation and error kind.",
		}, []string{"operation", "kind"}),
	}
	if reg == nil {
		return m, nil
	}
	var err error
	if m.requests, err = register(reg, m.requests); err != nil {
		return nil, err
	}
	if m.latency, err = register(reg, m.latency); err != nil {
		return nil, err
	}
	if m.retries, err = register(reg, m.retries); err != nil {
		return nil, err
	}
	return m, nil
}

func register[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing, nil
			}
		}
		return c, err
	}
	return c, nil
}

func (m *Metrics) observe(endpoint, method, code string, d time.Duration) {
	if m == nil {
		return
	}
	m.requests.WithLabelValues(endpoint, method, code).Inc()
	m.latency.WithLabelValues(endpoint, method).Observe(d.Seconds())
}

func (m *Metrics) retried(operation string, kind Kind) {
	if m == nil {
		return
	}
	m.retries.WithLabelValues(operation, kind.label()).Inc()
}
