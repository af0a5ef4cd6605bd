package progressfeed

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr/funcr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap/zapcore"
	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
	"templatemanager.dev/lxc-template-manager/internal/mirror"
	"templatemanager.dev/lxc-template-manager/internal/testenv"
	"templatemanager.dev/lxc-template-manager/internal/testkit"
)

// One control plane serves the tests that need a cluster; each runs a manager and a Redis of
// its own and works in a namespace of its own.
var (
	planeOnce sync.Once
	planeErr  error
	env       *testenv.Env
)

func TestMain(m *testing.M) {
	ctrl.SetLogger(zap.New(zap.WriteTo(os.Stderr), zap.Level(zapcore.ErrorLevel)))
	code := m.Run()
	if env != nil {
		if err := env.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "stopping the control plane:", err)
		}
	}
	os.Exit(code)
}

// cluster returns a client of the shared control plane, starting it on first use.
func cluster(t *testing.T) client.Client {
	t.Helper()
	testkit.SkipUnlessFull(t, testkit.ControlPlane)
	planeOnce.Do(func() { env, planeErr = testenv.Start() })
	if planeErr != nil {
		t.Fatal(planeErr)
	}
	return env.Client
}

// running is a Feed under test, in a manager of its own as the manager binary runs it.
type running struct {
	feed    *Feed
	metrics *Metrics
	log     *testkit.Transcript
}

// startFeed runs a manager with the feed on the shared control plane until the test ends, and
// returns once the feed watches the cache.
func startFeed(t *testing.T, opts Options) *running {
	t.Helper()
	metrics, err := NewMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	r := &running{metrics: metrics, log: &testkit.Transcript{}}
	opts.Metrics = metrics
	opts.Log = funcr.New(func(prefix, args string) { fmt.Fprintln(r.log, prefix, args) }, funcr.Options{Verbosity: 1})
	// As cmd/manager does, so that the secret scan sees go-redis's lines too.
	redis.SetLogger(LibraryLog{Log: opts.Log.WithName("go-redis")})
	mgr, err := ctrl.NewManager(env.Config, ctrl.Options{
		Scheme:                 env.Scheme,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Cache:                  cache.Options{ByObject: mirror.CacheByObject()},
	})
	if err != nil {
		t.Fatal(err)
	}
	if r.feed, err = New(mgr.GetCache(), opts); err != nil {
		t.Fatal(err)
	}
	if err := mgr.Add(r.feed); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("manager ended with %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("manager did not stop")
		}
	})
	// The feed says so once its handlers are in place: changes from then on are news.
	testkit.Eventually(t, time.Minute, func() error {
		select {
		case err := <-done:
			return testkit.Permanent(fmt.Errorf("manager ended: %v", err))
		default:
		}
		if !strings.Contains(r.log.String(), "Publishing live progress to Redis") {
			return fmt.Errorf("the feed has not started; its log:\n%s", r.log)
		}
		return nil
	})
	return r
}

// newContainer creates an LXCContainer without status in a namespace of its own.
func newContainer(t *testing.T, k8s client.Client) *lxcv1.LXCContainer {
	t.Helper()
	ctx := context.Background()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "progressfeed-"}}
	if err := k8s.Create(ctx, ns); err != nil {
		t.Fatal(err)
	}
	c := &lxcv1.LXCContainer{ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: "web-1"},
		Spec: lxcv1.LXCContainerSpec{ClusterRef: lxcv1.ClusterReference{Name: "pve"}, TemplateRef: lxcv1.LocalObjectReference{Name: "web"}}}
	if err := k8s.Create(ctx, c); err != nil {
		t.Fatal(err)
	}
	return c
}

// setConditions sets conditions in the container's status, as the controller would.
func setConditions(t *testing.T, k8s client.Client, c *lxcv1.LXCContainer, conds ...metav1.Condition) {
	t.Helper()
	ctx := context.Background()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(c), c); err != nil {
			return err
		}
		for _, cond := range conds {
			apimeta.SetStatusCondition(&c.Status.Conditions, cond)
		}
		return k8s.Status().Update(ctx, c)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// subscriber listens on a container's channel.
type subscriber struct {
	t  *testing.T
	ch <-chan *redis.Message
}

// subscribe listens on the container's channel until the test ends, from the moment it returns.
func subscribe(t *testing.T, rdb *redis.Client, uid types.UID) *subscriber {
	t.Helper()
	ps := rdb.Subscribe(context.Background(), Channel(uid))
	t.Cleanup(func() { _ = ps.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := ps.Receive(ctx); err != nil { // the subscription's confirmation
		t.Fatal(err)
	}
	return &subscriber{t: t, ch: ps.Channel()}
}

// next returns the next message as published, and decoded.
func (s *subscriber) next(timeout time.Duration) (string, Message) {
	s.t.Helper()
	select {
	case m, ok := <-s.ch:
		if !ok {
			s.t.Fatal("the subscription ended")
		}
		var msg Message
		if err := json.Unmarshal([]byte(m.Payload), &msg); err != nil {
			s.t.Fatalf("message %s: %v", m.Payload, err)
		}
		return m.Payload, msg
	case <-time.After(timeout):
		s.t.Fatalf("no message on the channel within %s", timeout)
	}
	return "", Message{}
}
