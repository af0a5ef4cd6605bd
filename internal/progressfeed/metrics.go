package progressfeed

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the feed's Prometheus metrics.
type Metrics struct {
	Published prometheus.Counter
	Dropped   prometheus.Counter
	Errors    prometheus.Counter
}

// NewMetrics creates the metrics and registers them with reg (nil: not registered).
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		Published: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "lxctm_mirror_redis_published_total",
			Help: "Progress messages published to Redis.",
		}),
		Dropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "lxctm_mirror_redis_dropped_total",
			Help: "Progress messages dropped unpublished because the queue was full.",
		}),
		Errors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "lxctm_mirror_redis_errors_total",
			Help: "Failed attempts to publish a progress message to Redis.",
		}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.Published, m.Dropped, m.Errors} {
			if err := reg.Register(c); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}
