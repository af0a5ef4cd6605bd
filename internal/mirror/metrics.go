package mirror

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the mirror's Prometheus metrics.
type Metrics struct {
	Lag         prometheus.Histogram
	Rows        *prometheus.GaugeVec
	WriteErrors prometheus.Counter
	QueueDepth  prometheus.Gauge
	LastResync  prometheus.Gauge
	Connected   prometheus.Gauge
}

// NewMetrics creates the metrics and registers them with reg (nil: not registered).
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		Lag: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "lxctm_mirror_lag_seconds",
			Help: "Time from a change seen in the informer cache to its row committed in the mirror.",
			// From the usual tens of milliseconds to an outage of minutes.
			Buckets: []float64{0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900},
		}),
		Rows: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "lxctm_mirror_rows",
			Help: "Rows in each table of the mirror.",
		}, []string{"table"}),
		WriteErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "lxctm_mirror_write_errors_total",
			Help: "Failed connections, migrations and writes of the mirror.",
		}),
		QueueDepth: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "lxctm_mirror_queue_depth",
			Help: "Changes seen in the cache and not yet written to the mirror.",
		}),
		LastResync: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "lxctm_mirror_last_resync_timestamp_seconds",
			Help: "Unix time of the last full resync that completed.",
		}),
		Connected: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "lxctm_mirror_connected",
			Help: "1 while the mirror holds a working database connection.",
		}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.Lag, m.Rows, m.WriteErrors, m.QueueDepth, m.LastResync, m.Connected} {
			if err := reg.Register(c); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}
