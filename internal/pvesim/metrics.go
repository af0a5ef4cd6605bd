package pvesim

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// codeDropped labels requests whose connection a fault closed without an answer.
const codeDropped = 0

type requestKey struct {
	Method, Path string
	Code         int
}

type taskKey struct {
	Type string
	OK   bool
}

// metrics counts requests per endpoint for Prometheus and for the JSON view benchmarks read.
type metrics struct {
	registry *prometheus.Registry
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	tasks    *prometheus.CounterVec
	running  prometheus.Gauge

	mu       sync.Mutex
	counts   map[requestKey]int
	taskRuns map[taskKey]int
}

func newMetrics() *metrics {
	m := &metrics{
		registry: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pvesim_http_requests_total",
			Help: "API requests by method, path pattern and status code (0 = connection dropped).",
		}, []string{"method", "path", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "pvesim_http_request_duration_seconds",
			Help:    "Time to answer API requests by method and path pattern.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 4, 10),
		}, []string{"method", "path"}),
		tasks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pvesim_tasks_total",
			Help: "Finished tasks by type and result (ok or error).",
		}, []string{"type", "result"}),
		running: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "pvesim_tasks_running",
			Help: "Tasks running now.",
		}),
		counts:   map[requestKey]int{},
		taskRuns: map[taskKey]int{},
	}
	m.registry.MustRegister(m.requests, m.duration, m.tasks, m.running)
	return m
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{})
}

func (m *metrics) observe(method, path string, code int, d time.Duration) {
	m.requests.WithLabelValues(method, path, strconv.Itoa(code)).Inc()
	m.duration.WithLabelValues(method, path).Observe(d.Seconds())
	m.mu.Lock()
	m.counts[requestKey{method, path, code}]++
	m.mu.Unlock()
}

func (m *metrics) taskStarted(string) { m.running.Inc() }

func (m *metrics) taskFinished(typ string, ok bool) {
	m.running.Dec()
	result := "error"
	if ok {
		result = "ok"
	}
	m.tasks.WithLabelValues(typ, result).Inc()
	m.mu.Lock()
	m.taskRuns[taskKey{typ, ok}]++
	m.mu.Unlock()
}

// RequestCount is how many requests one endpoint answered with one code.
type RequestCount struct {
	Method string `json:"method"`
	Path   string `json:"path"`
	Code   int    `json:"code"`
	Count  int    `json:"count"`
}

// TaskCount is how many tasks of one type ended one way.
type TaskCount struct {
	Type   string `json:"type"`
	Result string `json:"result"`
	Count  int    `json:"count"`
}

// Counters is the JSON view of the request and task counters since start or the last reset.
type Counters struct {
	Requests []RequestCount `json:"requests"`
	Tasks    []TaskCount    `json:"tasks"`
	// Faults counts injected faults by kind.
	Faults map[string]int `json:"faults"`
}

// Total sums the requests to an endpoint ("METHOD /pattern", "/pattern" or "" for all)
// answered with one of codes (any code when none are given).
func (c Counters) Total(endpoint string, codes ...int) int {
	n := 0
	for _, r := range c.Requests {
		if endpointMatches(endpoint, r.Method, r.Path) && (len(codes) == 0 || slices.Contains(codes, r.Code)) {
			n += r.Count
		}
	}
	return n
}

// TaskTotal sums finished tasks of a type ("" for all) with a result ("ok", "error" or "").
func (c Counters) TaskTotal(typ, result string) int {
	n := 0
	for _, t := range c.Tasks {
		if (typ == "" || t.Type == typ) && (result == "" || t.Result == result) {
			n += t.Count
		}
	}
	return n
}

func (m *metrics) snapshot() Counters {
	m.mu.Lock()
	defer m.mu.Unlock()
	c := Counters{Requests: []RequestCount{}, Tasks: []TaskCount{}}
	for k, v := range m.counts {
		c.Requests = append(c.Requests, RequestCount{k.Method, k.Path, k.Code, v})
	}
	slices.SortFunc(c.Requests, func(a, b RequestCount) int {
		if x := strings.Compare(a.Path, b.Path); x != 0 {
			return x
		}
		if x := strings.Compare(a.Method, b.Method); x != 0 {
			return x
		}
		return a.Code - b.Code
	})
	for k, v := range m.taskRuns {
		result := "error"
		if k.OK {
			result = "ok"
		}
		c.Tasks = append(c.Tasks, TaskCount{k.Type, result, v})
	}
	slices.SortFunc(c.Tasks, func(a, b TaskCount) int {
		if x := strings.Compare(a.Type, b.Type); x != 0 {
			return x
		}
		return strings.Compare(a.Result, b.Result)
	})
	return c
}

func (m *metrics) reset() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.counts = map[requestKey]int{}
	m.taskRuns = map[taskKey]int{}
}

// Counters returns the request, task and fault counters.
func (s *Server) Counters() Counters {
	c := s.metrics.snapshot()
	c.Faults = s.faults.injected()
	return c
}

// ResetCounters zeroes the JSON counters (Prometheus counters keep counting).
func (s *Server) ResetCounters() {
	s.metrics.reset()
	s.faults.mu.Lock()
	s.faults.hits = map[string]int{}
	s.faults.mu.Unlock()
}
