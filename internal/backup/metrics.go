package backup

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/client"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
)

// Metrics are the backup metrics. A nil *Metrics records nothing.
type Metrics struct {
	backups *prometheus.CounterVec
}

// NewMetrics registers the backup metrics with reg; the last-backup gauge is read from the
// cache at each scrape, so it follows containers as they come and go.
func NewMetrics(reg prometheus.Registerer, cache client.Reader) (*Metrics, error) {
	m := &Metrics{backups: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "lxctm_backups_total", Help: "vzdump backups that ended, by result (succeeded, failed).",
	}, []string{"result"})}
	last := &lastBackup{cache: cache, desc: prometheus.NewDesc("lxctm_last_backup_timestamp_seconds",
		"When the newest Ready LXCBackup of a container finished (0: it has a backup schedule and no backup yet).",
		[]string{"namespace", "container"}, nil)}
	for _, c := range []prometheus.Collector{m.backups, last} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *Metrics) backup(_ *lxcv1.LXCBackup, ok bool) {
	if m == nil {
		return
	}
	result := "succeeded"
	if !ok {
		result = "failed"
	}
	m.backups.WithLabelValues(result).Inc()
}

// lastBackup reports, per existing container, its newest finished backup.
type lastBackup struct {
	cache client.Reader
	desc  *prometheus.Desc
}

func (l *lastBackup) Describe(ch chan<- *prometheus.Desc) { ch <- l.desc }

func (l *lastBackup) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	containers := &lxcv1.LXCContainerList{}
	backups := &lxcv1.LXCBackupList{}
	if l.cache.List(ctx, containers) != nil || l.cache.List(ctx, backups) != nil {
		return
	}
	newest := map[[2]string]time.Time{}
	for _, b := range backups.Items {
		if b.Status.CompletionTime == nil || b.Status.Archive == "" {
			continue
		}
		k := [2]string{b.Namespace, b.Spec.ContainerRef.Name}
		if t := b.Status.CompletionTime.Time; t.After(newest[k]) {
			newest[k] = t
		}
	}
	for _, c := range containers.Items {
		k := [2]string{c.Namespace, c.Name}
		t, ok := newest[k]
		if !ok && c.Status.Backup == nil && c.Spec.Backup == nil {
			continue
		}
		v := 0.0
		if ok {
			v = float64(t.Unix())
		}
		ch <- prometheus.MustNewConstMetric(l.desc, prometheus.GaugeValue, v, c.Namespace, c.Name)
	}
}
