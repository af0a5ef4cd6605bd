package controller

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fluxcd/pkg/runtime/conditions"
	"github.com/prometheus/client_golang/prometheus"
	uberzap "go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/retry"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/yaml"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
	"templatemanager.dev/lxc-template-manager/internal/proxmox"
	"templatemanager.dev/lxc-template-manager/internal/pvesim/fake"
	"templatemanager.dev/lxc-template-manager/internal/pvesim/pvesimtest"
	"templatemanager.dev/lxc-template-manager/internal/redact"
	"templatemanager.dev/lxc-template-manager/internal/shard"
	"templatemanager.dev/lxc-template-manager/internal/ssh"
	"templatemanager.dev/lxc-template-manager/internal/testenv"
	"templatemanager.dev/lxc-template-manager/internal/testkit"
)

// One control plane and one manager serve every test of the package; each test brings its own
// simulator, cluster object and namespace, so tests do not see each other's objects.
var (
	env       *testenv.Env
	k8s       client.Client
	testCtx   context.Context
	nsCounter atomic.Int32
)

const controllerNamespace = "lxctm-system"

// sharedCredentialsNamespace is allowed for ProxmoxCluster Secrets besides the controller's
// namespace, as --credentials-namespaces allows it.
const sharedCredentialsNamespace = "lxctm-shared-credentials"

func TestMain(m *testing.M) {
	flag.Parse() // managerTuning tells tests from benchmarks
	// Capped as bin/manager's (cmd/manager): what the managers may log at all is kept.
	ctrl.SetLogger(redact.CapVerbosity(zap.New(zap.WriteTo(os.Stderr), zap.UseDevMode(true), zap.Level(zapLevel()), zap.RawZapOpts(keepLog())),
		redact.MaxLogVerbosity))
	if spec := os.Getenv(chaosManagerEnv); spec != "" {
		os.Exit(runManagerProcess(spec))
	}
	// Under -short no control plane starts, and the tests that need one skip (newNamespace,
	// clusterFor and testKeys say so).
	if testkit.Short() {
		os.Exit(m.Run())
	}
	var err error
	env, err = testenv.Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	k8s = env.Client
	code := func() int {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		testCtx = ctx
		if err := startManager(ctx); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		return m.Run()
	}()
	if err := env.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, err)
	}
	os.Exit(code)
}

// managerUser is who the test manager acts as: a ServiceAccount bound to the generated role
// config/rbac/role.yaml only, so every test also shows that the role grants enough.
const managerUser = "system:serviceaccount:" + controllerNamespace + ":manager"

// managerConfig binds the generated ClusterRole to managerUser and returns a config that
// impersonates it.
func managerConfig(ctx context.Context) (*rest.Config, error) {
	data, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "config", "rbac", "role.yaml"))
	if err != nil {
		return nil, err
	}
	role := &rbacv1.ClusterRole{}
	if err := yaml.Unmarshal(data, role); err != nil {
		return nil, fmt.Errorf("config/rbac/role.yaml: %w", err)
	}
	role.Name = "lxctm-test-manager"
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: role.Name},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role.Name},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: controllerNamespace, Name: "manager"}},
	}
	// The leader-election Role of config/rbac, in the controller's namespace.
	data, err = os.ReadFile(filepath.Join(testenv.RepoRoot(), "config", "rbac", "leader_election_role.yaml"))
	if err != nil {
		return nil, err
	}
	leaderRole := &rbacv1.Role{}
	if err := yaml.Unmarshal(data, leaderRole); err != nil {
		return nil, fmt.Errorf("config/rbac/leader_election_role.yaml: %w", err)
	}
	leaderRole.Namespace = controllerNamespace
	leaderBinding := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Namespace: controllerNamespace, Name: leaderRole.Name},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: leaderRole.Name},
		Subjects:   binding.Subjects,
	}
	for _, obj := range []client.Object{role, binding, leaderRole, leaderBinding} {
		if err := k8s.Create(ctx, obj); err != nil {
			return nil, err
		}
	}
	cfg := rest.CopyConfig(env.Config)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: managerUser}
	// The role is really enforced: what it does not grant is forbidden.
	c, err := client.New(cfg, client.Options{Scheme: env.Scheme})
	if err != nil {
		return nil, err
	}
	if err := c.List(ctx, &corev1.PodList{}); !apierrors.IsForbidden(err) {
		return nil, fmt.Errorf("listing Pods as %s: got %v, want Forbidden", managerUser, err)
	}
	return cfg, nil
}

// managerRESTConfig is the impersonating config every manager of the process uses.
var managerRESTConfig *rest.Config

func startManager(ctx context.Context) error {
	for _, ns := range []string{controllerNamespace, sharedCredentialsNamespace} {
		if err := k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			return err
		}
	}
	cfg, err := managerConfig(ctx)
	if err != nil {
		return err
	}
	cfg.WrapTransport = countKubeWrites
	managerRESTConfig = cfg
	// The package's manager leaves the chaos scenarios' objects to managers of their own.
	notChaos, err := labels.Parse("!" + chaosLabel)
	if err != nil {
		return err
	}
	_, err = runManager(ctx, managerOptions{selector: notChaos, tune: managerTuning()})
	return err
}

// managerOptions say which objects a test manager reconciles and how.
type managerOptions struct {
	// selector picks the objects its caches hold.
	selector labels.Selector
	// shard picks, of those, the ones it reconciles (--watch-label-selector).
	shard shard.Selector
	tune  tuning
	// dial, when not nil, replaces how the SSH client reaches the guests.
	dial func(context.Context, string, string) (net.Conn, error)
	// done, when not nil, is closed when the manager stopped.
	done chan<- struct{}
	// lease, when not empty, is the leader-election lease the manager must hold to reconcile,
	// with the production durations; a stopped manager does not give it up, as a killed
	// process cannot.
	lease string
}

// leaseID is the manager's lease: each shard holds one of its own, as bin/manager's do.
func (o managerOptions) leaseID() string {
	if o.lease == "" {
		return ""
	}
	return o.shard.LeaderElectionID(o.lease)
}

// testFieldManager is the name the test managers write as; a shard's carries its selector's ID.
const testFieldManager = "lxctm-test-manager"

// runManager starts a manager and returns once its caches synced; it stops when ctx ends.
func runManager(ctx context.Context, o managerOptions) (ctrl.Manager, error) {
	dial, tune := o.dial, o.tune
	if dial == nil {
		dial = fake.GuestDialer(guestPort)
	}
	if tune.sshDial.Attempts == 0 {
		tune.sshDial.Attempts = 1
	}
	zero := time.Duration(0)
	mgr, err := ctrl.NewManager(managerRESTConfig, ctrl.Options{
		Scheme: env.Scheme,
		Client: client.Options{Cache: &client.CacheOptions{DisableFor: UncachedObjects()},
			FieldOwner: o.shard.FieldOwner(testFieldManager)},
		Cache:                   cache.Options{DefaultLabelSelector: o.selector},
		Metrics:                 metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress:  "0",
		Controller:              config.Controller{SkipNameValidation: ptr(true)},
		GracefulShutdownTimeout: &zero,
		LeaderElection:          o.lease != "",
		LeaderElectionID:        o.leaseID(),
		LeaderElectionNamespace: controllerNamespace,
	})
	if err != nil {
		return nil, err
	}
	if err := SetupIndexes(ctx, mgr); err != nil {
		return nil, err
	}
	reg := prometheus.NewRegistry()
	pxMetrics, err := proxmox.NewMetrics(reg)
	if err != nil {
		return nil, err
	}
	ctlMetrics, err := NewMetrics(reg)
	if err != nil {
		return nil, err
	}
	connector := &ClusterConnector{Secrets: mgr.GetAPIReader(), Factory: proxmox.NewFactory(proxmox.WithMetrics(pxMetrics)),
		Namespace: controllerNamespace, CredentialsNamespaces: []string{sharedCredentialsNamespace}}
	if err := (&ProxmoxClusterReconciler{Client: mgr.GetClient(), Connector: connector,
		Recorder: mgr.GetEventRecorder("proxmoxcluster-controller"), Shard: o.shard}).SetupWithManager(mgr); err != nil {
		return nil, err
	}
	if err := (&PackageBucketReconciler{Client: mgr.GetClient(),
		Recorder: mgr.GetEventRecorder("packagebucket-controller"), Shard: o.shard}).SetupWithManager(mgr); err != nil {
		return nil, err
	}
	if err := (&LXCTemplateReconciler{Client: mgr.GetClient(),
		Recorder: mgr.GetEventRecorder("lxctemplate-controller"), Shard: o.shard}).SetupWithManager(mgr); err != nil {
		return nil, err
	}
	if err := (&LXCContainerReconciler{
		Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Connector: connector,
		// Containers of simulators started with guests (newGuestFixture) answer SSH through
		// the fake backend's guest stand-ins; the others refuse the connection.
		SSH:                     &ssh.Dialer{Retry: tune.sshDial, ConnectTimeout: 2 * time.Second, DialContext: dial},
		Key:                     &ControllerKey{Client: mgr.GetClient(), Reader: mgr.GetAPIReader(), Namespace: controllerNamespace},
		Guests:                  &GuestCache{MaxAge: tune.guestListAge},
		Recorder:                mgr.GetEventRecorder("lxccontainer-controller"),
		Metrics:                 ctlMetrics,
		TaskPoll:                tune.taskPoll,
		Resync:                  tune.resync,
		MaxConcurrentReconciles: tune.workers,
		Shard:                   o.shard,
	}).SetupWithManager(mgr); err != nil {
		return nil, err
	}
	go func() {
		if err := mgr.Start(ctx); err != nil && ctx.Err() == nil {
			fmt.Fprintln(os.Stderr, "manager:", err)
		}
		if o.done != nil {
			close(o.done)
		}
	}()
	if !mgr.GetCache().WaitForCacheSync(ctx) {
		return nil, fmt.Errorf("caches did not sync")
	}
	return mgr, nil
}

// managerLog keeps what the managers of the test process log, at every level, so that a test
// can check what was logged (assertNoSecretInObject).
var managerLog testkit.Transcript

// keepLog copies every log entry into managerLog, as JSON like bin/manager's. Benchmarks and
// the chaos scenarios' manager processes keep nothing: no test reads it there.
func keepLog() uberzap.Option {
	return uberzap.WrapCore(func(c zapcore.Core) zapcore.Core {
		if benchmarking() || os.Getenv(chaosManagerEnv) != "" {
			return c
		}
		every := uberzap.LevelEnablerFunc(func(zapcore.Level) bool { return true })
		kept := zapcore.NewCore(zapcore.NewJSONEncoder(uberzap.NewProductionEncoderConfig()), zapcore.AddSync(&managerLog), every)
		return zapcore.NewTee(c, kept)
	})
}

func zapLevel() zapcore.Level {
	if os.Getenv("LXCTM_TEST_VERBOSE") != "" {
		return -1
	}
	return 2
}

// newNamespace creates a namespace for one test.
func newNamespace(t testing.TB, labels map[string]string) string {
	t.Helper()
	testkit.SkipUnlessFull(t, testkit.ControlPlane)
	name := fmt.Sprintf("t%d-%s", nsCounter.Add(1), strings.ToLower(strings.ReplaceAll(t.Name(), "/", "-")))
	if len(name) > 60 {
		name = name[:60]
	}
	name = strings.Trim(strings.ReplaceAll(name, "_", "-"), "-")
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
	if err := k8s.Create(testCtx, ns); err != nil {
		t.Fatal(err)
	}
	return name
}

// clusterFor creates a ProxmoxCluster and its token Secret for a simulator; badSecret replaces
// the token's secret.
func clusterFor(t testing.TB, sim *pvesimtest.Simulator, name string, mutate ...func(*lxcv1.ProxmoxCluster, *corev1.Secret)) *lxcv1.ProxmoxCluster {
	t.Helper()
	testkit.SkipUnlessFull(t, testkit.ControlPlane)
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: controllerNamespace, Name: name + "-token"},
		Data:       map[string][]byte{TokenIDKey: []byte(sim.TokenID), TokenSecretKey: []byte(sim.Secret)},
	}
	ca := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: controllerNamespace, Name: name + "-ca"},
		Data:       map[string][]byte{DefaultCAKey: sim.CAPEM},
	}
	cluster := &lxcv1.ProxmoxCluster{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: lxcv1.ProxmoxClusterSpec{
			Endpoint:       sim.URL,
			CredentialsRef: lxcv1.NamespacedObjectReference{Namespace: controllerNamespace, Name: secret.Name},
			TLS:            &lxcv1.ClusterTLS{CASecretRef: &lxcv1.SecretKeyReference{Namespace: controllerNamespace, Name: ca.Name}},
			SyncInterval:   &metav1.Duration{Duration: 2 * time.Second},
		},
	}
	for _, m := range mutate {
		m(cluster, secret)
	}
	for _, obj := range []client.Object{secret, ca, cluster} {
		if err := k8s.Create(testCtx, obj); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		for _, obj := range []client.Object{cluster, secret, ca} {
			_ = k8s.Delete(context.Background(), obj)
		}
	})
	return cluster
}

// eventually is testkit.Eventually, by the name this package's tests call it.
func eventually(t testing.TB, timeout time.Duration, fn func() error) {
	t.Helper()
	testkit.Eventually(t, timeout, fn)
}

// condition reads obj and checks one of its conditions.
func condition(obj interface {
	client.Object
	conditions.Getter
}, condType string, status metav1.ConditionStatus, reason string) func() error {
	return func() error {
		if err := k8s.Get(testCtx, client.ObjectKeyFromObject(obj), obj); err != nil {
			return err
		}
		if err := testkit.CheckCondition(obj.GetConditions(), condType, status, reason); err != nil {
			return fmt.Errorf("%s: %w", obj.GetName(), err)
		}
		return nil
	}
}

// update changes an object with mutate, re-reading it on conflicts with the controller's writes.
func update[T client.Object](t testing.TB, obj T, mutate func(T)) {
	t.Helper()
	if err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if err := k8s.Get(testCtx, client.ObjectKeyFromObject(obj), obj); err != nil {
			return err
		}
		mutate(obj)
		return k8s.Update(testCtx, obj)
	}); err != nil {
		t.Fatal(err)
	}
}
