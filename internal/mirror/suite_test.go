package mirror

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr/funcr"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"go.uber.org/zap/zapcore"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
	"templatemanager.dev/lxc-template-manager/internal/controller"
	"templatemanager.dev/lxc-template-manager/internal/outcome"
	"templatemanager.dev/lxc-template-manager/internal/testenv"
	"templatemanager.dev/lxc-template-manager/internal/testkit"
)

// One control plane and one manager (its cache, the bucket and template controllers) serve
// the tests that need a cluster; each such test has its own namespace and database.
var (
	planeOnce sync.Once
	planeErr  error
	env       *testenv.Env
	k8s       client.Client
	mgrCache  cache.Cache
	// recorder emits Events as the container controller's recorder does.
	recorder events.EventRecorder
	// stopManager ends the shared manager before the control plane goes.
	stopManager context.CancelFunc
	nsCounter   atomic.Int32
)

func TestMain(m *testing.M) {
	ctrl.SetLogger(zap.New(zap.WriteTo(os.Stderr), zap.UseDevMode(true), zap.Level(zapLevel())))
	code := m.Run()
	if env != nil {
		stopManager()
		time.Sleep(200 * time.Millisecond)
		if err := env.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, err)
		}
	}
	os.Exit(code)
}

func zapLevel() zapcore.Level {
	if os.Getenv("MIRROR_TEST_VERBOSE") != "" {
		return -1
	}
	return 2 // errors only
}

// controlPlane starts the shared control plane and manager on first use.
func controlPlane(t testing.TB) {
	t.Helper()
	testkit.SkipUnlessFull(t, testkit.ControlPlane)
	planeOnce.Do(func() {
		env, planeErr = testenv.Start()
		if planeErr != nil {
			return
		}
		k8s = env.Client
		var mgr ctrl.Manager
		mgr, planeErr = newManager(false, "")
		if planeErr != nil {
			return
		}
		if planeErr = controller.SetupIndexes(context.Background(), mgr); planeErr != nil {
			return
		}
		if planeErr = (&controller.PackageBucketReconciler{Client: mgr.GetClient(),
			Recorder: mgr.GetEventRecorder("packagebucket-controller")}).SetupWithManager(mgr); planeErr != nil {
			return
		}
		mgrCache = mgr.GetCache()
		recorder = outcome.WithShortNotes(mgr.GetEventRecorder("lxccontainer-controller"))
		var ctx context.Context
		ctx, stopManager = context.WithCancel(context.Background())
		go func() {
			if err := mgr.Start(ctx); err != nil {
				fmt.Fprintln(os.Stderr, "manager:", err)
			}
		}()
		if !mgrCache.WaitForCacheSync(context.Background()) {
			planeErr = fmt.Errorf("caches did not sync")
		}
	})
	if planeErr != nil {
		t.Fatal(planeErr)
	}
}

// newManager builds a manager on the shared control plane with the cache the mirror needs.
func newManager(leaderElect bool, id string) (ctrl.Manager, error) {
	return ctrl.NewManager(env.Config, ctrl.Options{
		Scheme:                        env.Scheme,
		Metrics:                       metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress:        "0",
		Cache:                         cache.Options{ByObject: CacheByObject()},
		LeaderElection:                leaderElect,
		LeaderElectionID:              "mirror-test",
		LeaderElectionNamespace:       "default",
		LeaderElectionReleaseOnCancel: true,
		LeaseDuration:                 durationp(3 * time.Second),
		RenewDeadline:                 durationp(2 * time.Second),
		RetryPeriod:                   durationp(200 * time.Millisecond),
		Logger:                        ctrl.Log.WithName(id),
	})
}

func durationp(d time.Duration) *time.Duration { return &d }

func newNamespace(t testing.TB) string {
	t.Helper()
	name := fmt.Sprintf("mirror-%d-%d", os.Getpid()%10000, nsCounter.Add(1))
	if err := k8s.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}); err != nil {
		t.Fatal(err)
	}
	return name
}

// running is a Mirror started by a test, with its metrics and its log lines.
type running struct {
	mirror  *Mirror
	metrics *Metrics
	reg     *prometheus.Registry
	logs    *logLines
	stop    context.CancelFunc
	done    chan error
}

type logLines struct {
	mu    sync.Mutex
	lines []string
}

func (l *logLines) add(prefix, args string) {
	l.mu.Lock()
	l.lines = append(l.lines, prefix+" "+args)
	l.mu.Unlock()
}

func (l *logLines) matching(s string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, line := range l.lines {
		if strings.Contains(line, s) {
			out = append(out, line)
		}
	}
	return out
}

func (l *logLines) all() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

// startMirror runs a Mirror on the shared cache until the test ends.
func startMirror(t *testing.T, c cache.Cache, opts Options) *running {
	t.Helper()
	reg := prometheus.NewRegistry()
	metrics, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	logs := &logLines{}
	opts.Metrics = metrics
	opts.Log = funcr.New(logs.add, funcr.Options{Verbosity: 1})
	m, err := New(c, opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{mirror: m, metrics: metrics, reg: reg, logs: logs, stop: cancel, done: make(chan error, 1)}
	go func() { r.done <- m.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-r.done:
			if err != nil {
				t.Errorf("mirror ended with %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("mirror did not stop")
		}
	})
	return r
}

func histogramOf(t *testing.T, h prometheus.Histogram) *dto.Histogram {
	t.Helper()
	var m dto.Metric
	if err := h.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetHistogram()
}

func gaugeValue(t *testing.T, g prometheus.Collector) float64 {
	t.Helper()
	ch := make(chan prometheus.Metric, 16)
	g.Collect(ch)
	close(ch)
	var sum float64
	for m := range ch {
		var d dto.Metric
		if err := m.Write(&d); err != nil {
			t.Fatal(err)
		}
		switch {
		case d.Gauge != nil:
			sum += d.Gauge.GetValue()
		case d.Counter != nil:
			sum += d.Counter.GetValue()
		}
	}
	return sum
}

// containerEvent is an Event about c as the controller's recorder writes them.
func containerEvent(c *lxcv1.LXCContainer, name, typ, reason, action, note string) *eventsv1.Event {
	return &eventsv1.Event{
		ObjectMeta: metav1.ObjectMeta{Namespace: c.Namespace, Name: name},
		EventTime:  metav1.NewMicroTime(time.Now()),
		Regarding: corev1.ObjectReference{Kind: "LXCContainer", APIVersion: lxcv1.GroupVersion.String(),
			Namespace: c.Namespace, Name: c.Name, UID: c.UID},
		Type: typ, Reason: reason, Action: action, Note: note,
		ReportingController: "templatemanager.dev/lxccontainer-controller",
		ReportingInstance:   "lxccontainer-controller-test",
	}
}

func keyOf(o client.Object) client.ObjectKey { return client.ObjectKeyFromObject(o) }

func isConflict(err error) bool { return apierrors.IsConflict(err) }
