package packaging

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"templatemanager.dev/lxc-template-manager/internal/backup"
	"templatemanager.dev/lxc-template-manager/internal/controller"
	"templatemanager.dev/lxc-template-manager/internal/mirror"
	"templatemanager.dev/lxc-template-manager/internal/proxmox"
)

// The metrics the dashboard must show (DESIGN.md §4).
var requiredDashboardMetrics = []string{
	"lxctm_containers",
	"lxctm_phase_duration_seconds",
	"lxctm_proxmox_requests_total",
	"lxctm_proxmox_request_duration_seconds",
	"lxctm_ssh_operations_total",
	"lxctm_script_duration_seconds",
	"lxctm_script_failures_total",
	"lxctm_mirror_lag_seconds",
	"lxctm_last_backup_timestamp_seconds",
	"lxctm_backups_total",
}

var (
	metricName    = regexp.MustCompile(`\b[a-z_]+_[a-z_]+\b`)
	lxctmSelector = regexp.MustCompile(`\b(lxctm_[a-z_]+)(\{([^}]*)\})?`)
	matcherLabel  = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)`)
	byClause      = regexp.MustCompile(`\bby \(([^)]*)\)`)
	descName      = regexp.MustCompile(`fqName: "([^"]+)"`)
	descLabels    = regexp.MustCompile(`variableLabels: \{([^}]*)\}\}$`)
)

// dashboardExprs returns every PromQL expression of the chart's Grafana dashboard.
func dashboardExprs(t *testing.T) []string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(root, chartDir, "dashboards", "lxc-template-manager.json"))
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []json.RawMessage `json:"panels"`
	}
	if err := json.Unmarshal(data, &dash); err != nil {
		t.Fatalf("dashboard JSON: %v", err)
	}
	type panel struct {
		Panels  []json.RawMessage `json:"panels"`
		Targets []struct {
			Expr string `json:"expr"`
		} `json:"targets"`
	}
	var exprs []string
	var walk func([]json.RawMessage)
	walk = func(raw []json.RawMessage) {
		for _, r := range raw {
			var p panel
			if err := json.Unmarshal(r, &p); err != nil {
				t.Fatalf("dashboard panel: %v", err)
			}
			for _, tg := range p.Targets {
				exprs = append(exprs, tg.Expr)
			}
			walk(p.Panels)
		}
	}
	walk(dash.Panels)
	if len(exprs) == 0 {
		t.Fatal("the dashboard has no queries")
	}
	return exprs
}

// collectorRecorder keeps what the manager's metric constructors register.
type collectorRecorder struct{ collectors []prometheus.Collector }

func (r *collectorRecorder) Register(c prometheus.Collector) error {
	r.collectors = append(r.collectors, c)
	return nil
}

func (r *collectorRecorder) MustRegister(cs ...prometheus.Collector) {
	r.collectors = append(r.collectors, cs...)
}

func (r *collectorRecorder) Unregister(prometheus.Collector) bool { return false }

// managerMetrics returns the lxctm_ metrics the manager registers, with their label names.
func managerMetrics(t *testing.T) map[string][]string {
	t.Helper()
	rec := &collectorRecorder{}
	if _, err := controller.NewMetrics(rec); err != nil {
		t.Fatal(err)
	}
	if _, err := proxmox.NewMetrics(rec); err != nil {
		t.Fatal(err)
	}
	if _, err := mirror.NewMetrics(rec); err != nil {
		t.Fatal(err)
	}
	if _, err := backup.NewMetrics(rec, nil); err != nil {
		t.Fatal(err)
	}
	metrics := map[string][]string{}
	for _, c := range rec.collectors {
		ch := make(chan *prometheus.Desc, 16)
		go func() { c.Describe(ch); close(ch) }()
		for d := range ch {
			s := d.String()
			name, labels := descName.FindStringSubmatch(s), descLabels.FindStringSubmatch(s)
			if name == nil || labels == nil {
				t.Fatalf("cannot read metric description %s", s)
			}
			metrics[name[1]] = nil
			if labels[1] != "" {
				metrics[name[1]] = strings.Split(labels[1], ",")
			}
		}
	}
	return metrics
}

// histogramBase maps a histogram series name to its metric name.
func histogramBase(name string, known map[string][]string) (string, bool) {
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(name, suffix); ok {
			if _, found := known[base]; found {
				return base, suffix == "_bucket"
			}
		}
	}
	return name, false
}

// TestDashboardQueriesManagerMetrics shows that the dashboard queries the metrics the manager
// registers, by the labels they carry, and covers every metric the design names.
func TestDashboardQueriesManagerMetrics(t *testing.T) {
	known := managerMetrics(t)
	for _, m := range requiredDashboardMetrics {
		if _, ok := known[m]; !ok {
			t.Errorf("the manager registers no %s", m)
		}
	}
	queried := map[string]bool{}
	for _, expr := range dashboardExprs(t) {
		var inExpr []string
		bucket := false
		for _, m := range lxctmSelector.FindAllStringSubmatch(expr, -1) {
			name, isBucket := histogramBase(m[1], known)
			labels, ok := known[name]
			if !ok {
				t.Errorf("%q queries %s, which the manager does not register", expr, m[1])
				continue
			}
			bucket = bucket || isBucket
			queried[name] = true
			inExpr = append(inExpr, name)
			for _, l := range matcherLabel.FindAllStringSubmatch(m[3], -1) {
				if !slices.Contains(labels, l[1]) {
					t.Errorf("%q matches label %s, which %s lacks (labels %v)", expr, l[1], name, labels)
				}
			}
		}
		for _, by := range byClause.FindAllStringSubmatch(expr, -1) {
			for _, l := range strings.Split(by[1], ",") {
				l = strings.TrimSpace(l)
				if l == "le" && bucket {
					continue
				}
				for _, name := range inExpr {
					if !slices.Contains(known[name], l) {
						t.Errorf("%q groups by %s, which %s lacks (labels %v)", expr, l, name, known[name])
					}
				}
			}
		}
	}
	for _, m := range requiredDashboardMetrics {
		if !queried[m] {
			t.Errorf("the dashboard does not show %s", m)
		}
	}
}

// checkDashboardMetricsServed checks, against a running manager's /metrics, the dashboard's
// queries of metrics that are not the manager's own (controller-runtime's).
func checkDashboardMetricsServed(t *testing.T, body string) {
	t.Helper()
	for _, expr := range dashboardExprs(t) {
		for _, name := range metricName.FindAllString(expr, -1) {
			if strings.HasPrefix(name, "lxctm_") || !strings.Contains(expr, name+"{") && !strings.Contains(expr, name+")") && !strings.Contains(expr, name+"[") {
				continue
			}
			if !strings.Contains(body, "# TYPE "+name+" ") {
				t.Errorf("the dashboard queries %s, which the manager does not serve", name)
			}
		}
	}
}
