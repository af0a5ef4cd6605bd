package packaging

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/controller-runtime/pkg/client"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
	"templatemanager.dev/lxc-template-manager/internal/testenv"
	"templatemanager.dev/lxc-template-manager/internal/testkit"
)

// TestManagerRunsUnderPackagedRBAC applies each packaging for real and runs the manager the way
// its Deployment would: with the Deployment's arguments, POD_NAMESPACE, and the token of the
// packaged ServiceAccount, so that every API call goes through the packaged RBAC. The manager must
// become ready, take its lease, reconcile, record Events, serve metrics only to authorised
// scrapers, never be refused by the API server, and stop cleanly within the grace period.
func TestManagerRunsUnderPackagedRBAC(t *testing.T) {
	e := apiServer(t)
	bin := manager(t)
	for _, tc := range []struct {
		name   string
		objs   func(t *testing.T) []*unstructured.Unstructured
		mirror bool
	}{
		{"chart", func(t *testing.T) []*unstructured.Unstructured {
			ensureNamespace(t, e.Client, "lxctm-run")
			return helmTemplate(t, "lxctm", "lxctm-run")
		}, false},
		{"kustomize", func(t *testing.T) []*unstructured.Unstructured {
			return kustomizeBuild(t, "config/default")
		}, false},
		{"chart with the mirror", func(t *testing.T) []*unstructured.Unstructured {
			ensureNamespace(t, e.Client, "lxctm-run")
			return helmTemplate(t, "lxctm", "lxctm-run", "--set", "mirror.enabled=true", "--set", "mirror.dsnSecretRef.name=lxctm-mirror")
		}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			objs := tc.objs(t)
			applyAll(t, e.Client, objs, false)
			if t.Failed() {
				t.FailNow()
			}
			workNS := "lxctm-run-" + strings.ReplaceAll(tc.name, " ", "-")
			if !tc.mirror {
				// The DSN is set, but without --mirror nothing may connect to it.
				db := newConnectionCounter(t)
				runPackagedManager(t, e, bin, bundle{objs}, workNS, []string{"LXCTM_MIRROR_DSN=" + db.dsn()}, nil)
				if n := db.accepted(); n != 0 {
					t.Errorf("the manager without --mirror opened %d database connections", n)
				}
				return
			}
			dsn, pool := newMirrorDatabase(t)
			runPackagedManager(t, e, bin, bundle{objs}, workNS, []string{"LXCTM_MIRROR_DSN=" + dsn},
				func(bucket *lxcv1.PackageBucket, run *managerRun) {
					testkit.Eventually(t, 30*time.Second, run.while("the mirror holds the Ready bucket", func() error {
						return mirroredBucketReady(pool, bucket)
					}))
				})
		})
	}
}

// runPackagedManager runs the manager as bundle b's Deployment would, with extraEnv added to
// its environment; whileRunning, when set, checks more while it runs.
func runPackagedManager(t *testing.T, e *testenv.Env, bin string, b bundle, workNS string, extraEnv []string,
	whileRunning func(bucket *lxcv1.PackageBucket, run *managerRun)) {
	ctx := context.Background()
	cs, err := kubernetes.NewForConfig(e.Config)
	if err != nil {
		t.Fatal(err)
	}
	d := b.deployment(t)
	c := managerContainer(t, d)
	ns, sa := d.Namespace, d.Spec.Template.Spec.ServiceAccountName

	kubeconfig := writeKubeconfig(t, e, saToken(t, cs, ns, sa))
	// The manager must be told its ports; reserved ones are not taken by anything else meanwhile.
	metricsPort, probePort := testkit.ReservePort(t), testkit.ReservePort(t)
	// A later flag wins: the Deployment's own arguments, then loopback ports for this test.
	args := append(append([]string{}, c.Args...),
		fmt.Sprintf("--metrics-bind-address=127.0.0.1:%d", metricsPort),
		fmt.Sprintf("--health-probe-bind-address=127.0.0.1:%d", probePort))
	logPath := filepath.Join(t.TempDir(), "manager.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	cmd := exec.Command(bin, args...)
	// POD_NAMESPACE is what the downward API gives the Pod (checked by checkManagerContainer).
	cmd.Env = append([]string{"KUBECONFIG=" + kubeconfig, "POD_NAMESPACE=" + ns, "HOME=" + t.TempDir()}, extraEnv...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	run := &managerRun{done: make(chan struct{})}
	go func() { run.err = cmd.Wait(); close(run.done) }()
	defer func() {
		_ = cmd.Process.Kill()
		<-run.done
		if t.Failed() {
			logs, _ := os.ReadFile(logPath)
			t.Logf("manager log:\n%s", tail(string(logs), 6000))
		}
	}()

	httpClient := &http.Client{
		Timeout: 5 * time.Second,
		// The manager serves a self-signed certificate on loopback.
		Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}},
	}

	testkit.Eventually(t, 60*time.Second, run.while("the manager reports ready on /readyz", func() error {
		return expectStatus(httpClient, fmt.Sprintf("http://127.0.0.1:%d/readyz", probePort), "", http.StatusOK)
	}))

	testkit.Eventually(t, 60*time.Second, run.while("the manager holds its leader-election lease in "+ns, func() error {
		lease := &coordinationv1.Lease{}
		if err := e.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: leaderElectionID}, lease); err != nil {
			return err
		}
		if lease.Spec.HolderIdentity == nil || *lease.Spec.HolderIdentity == "" {
			return errors.New("lease has no holder")
		}
		return nil
	}))

	// A PackageBucket needs no Proxmox: its reconcile exercises watches, status patches and Events.
	ensureNamespace(t, e.Client, workNS)
	bucket := &lxcv1.PackageBucket{
		ObjectMeta: metav1.ObjectMeta{Namespace: workNS, Name: "base"},
		Spec:       lxcv1.PackageBucketSpec{Manager: "apt", Packages: []lxcv1.PackageName{"curl", "ca-certificates"}},
	}
	if err := e.Client.Create(ctx, bucket); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 60*time.Second, run.while("the PackageBucket turns Ready", func() error {
		if err := e.Client.Get(ctx, client.ObjectKeyFromObject(bucket), bucket); err != nil {
			return err
		}
		if err := testkit.CheckCondition(bucket.Status.Conditions, lxcv1.ReadyCondition, metav1.ConditionTrue, ""); err != nil {
			return err
		}
		if bucket.Status.ObservedGeneration != bucket.Generation {
			return fmt.Errorf("observedGeneration %d, generation %d", bucket.Status.ObservedGeneration, bucket.Generation)
		}
		return nil
	}))
	if bucket.Status.PackageCount != 2 {
		t.Errorf("packageCount %d, want 2", bucket.Status.PackageCount)
	}
	checkLiveHealth(t, bucket)
	if whileRunning != nil {
		whileRunning(bucket, run)
	}

	testkit.Eventually(t, 30*time.Second, run.while("an Event records the bucket's reconcile", func() error {
		events := &eventsv1.EventList{}
		if err := e.Client.List(ctx, events, client.InNamespace(workNS)); err != nil {
			return err
		}
		for _, ev := range events.Items {
			if ev.Regarding.Kind == "PackageBucket" && ev.Regarding.Name == bucket.Name {
				return nil
			}
		}
		return fmt.Errorf("%d events, none regarding the bucket", len(events.Items))
	}))

	metricsURL := fmt.Sprintf("https://127.0.0.1:%d/metrics", metricsPort)
	// The metrics server listens only once its self-signed certificate is made, which can come
	// after the first reconciles; until then its port refuses connections.
	testkit.Eventually(t, 30*time.Second, run.while("the metrics server listens", func() error {
		conn, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", metricsPort), time.Second)
		if err != nil {
			return err
		}
		return conn.Close()
	}))
	if err := expectStatus(httpClient, metricsURL, "", http.StatusUnauthorized); err != nil {
		t.Errorf("metrics without a token: %v", err)
	}
	// The manager caches authorisation answers (denials for 30s), so the refused scraper and the
	// admitted one are different accounts.
	for _, name := range []string{"outsider", "scraper"} {
		if _, err := cs.CoreV1().ServiceAccounts(workNS).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if err := expectStatus(httpClient, metricsURL, saToken(t, cs, workNS, "outsider"), http.StatusForbidden); err != nil {
		t.Errorf("metrics for a scraper without the reader role: %v", err)
	}
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: workNS + "-scraper"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: metricsReaderRole(t, b)},
		Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Namespace: workNS, Name: "scraper"}},
	}
	if err := e.Client.Create(ctx, binding); err != nil {
		t.Fatal(err)
	}
	scraperToken := saToken(t, cs, workNS, "scraper")
	var body string
	testkit.Eventually(t, 20*time.Second, run.while("the metrics reader role lets the scraper in", func() error {
		var err error
		body, err = fetch(httpClient, metricsURL, scraperToken)
		return err
	}))
	if !strings.Contains(body, `controller_runtime_reconcile_total{controller="packagebucket"`) {
		t.Errorf("metrics lack the PackageBucket controller's reconciles:\n%s", tail(body, 2000))
	}
	checkDashboardMetricsServed(t, body)

	// Stop as the kubelet does, and give the manager the Pod's grace period.
	grace := time.Duration(30) * time.Second
	if g := d.Spec.Template.Spec.TerminationGracePeriodSeconds; g != nil {
		grace = time.Duration(*g) * time.Second
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-run.done:
		if run.err != nil {
			t.Errorf("the manager exited with %v after SIGTERM", run.err)
		}
	case <-time.After(grace):
		t.Fatalf("the manager did not stop within the grace period of %s", grace)
	}
	lease := &coordinationv1.Lease{}
	if err := e.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: leaderElectionID}, lease); err != nil {
		t.Fatal(err)
	}
	if lease.Spec.HolderIdentity != nil && *lease.Spec.HolderIdentity != "" {
		t.Errorf("the stopped manager did not release its lease (holder %q)", *lease.Spec.HolderIdentity)
	}

	logs, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(logs), "\n") {
		if strings.Contains(strings.ToLower(line), "forbidden") {
			t.Errorf("the API server refused the manager something its RBAC should allow: %s", line)
		}
	}
}

// metricsReaderRole returns the name of the bundle's ClusterRole granting GET /metrics.
func metricsReaderRole(t *testing.T, b bundle) string {
	t.Helper()
	for _, u := range only(b.objs, "ClusterRole") {
		for _, r := range convert[rbacv1.ClusterRole](t, u).Rules {
			if len(r.NonResourceURLs) == 1 && r.NonResourceURLs[0] == "/metrics" {
				return u.GetName()
			}
		}
	}
	t.Fatal("no metrics reader ClusterRole")
	return ""
}

// saToken asks the API server for a token of a service account, as the kubelet does for a Pod.
func saToken(t *testing.T, cs kubernetes.Interface, ns, name string) string {
	t.Helper()
	tr, err := cs.CoreV1().ServiceAccounts(ns).CreateToken(context.Background(), name,
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr(int64(3600))}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("token for %s/%s: %v", ns, name, err)
	}
	return tr.Status.Token
}

func ptr[T any](v T) *T { return &v }

// writeKubeconfig writes a kubeconfig for the test API server that authenticates with token.
func writeKubeconfig(t *testing.T, e *testenv.Env, token string) string {
	t.Helper()
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["test"] = &clientcmdapi.Cluster{Server: e.Config.Host, CertificateAuthorityData: e.Config.CAData}
	cfg.AuthInfos["manager"] = &clientcmdapi.AuthInfo{Token: token}
	cfg.Contexts["test"] = &clientcmdapi.Context{Cluster: "test", AuthInfo: "manager"}
	cfg.CurrentContext = "test"
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatal(err)
	}
	return path
}

// managerRun is a running manager process: done is closed when it exited, err holds how.
type managerRun struct {
	done chan struct{}
	err  error
}

// while is check, for testkit.Eventually, as long as the manager runs: once it has exited,
// waiting longer is futile.
func (m *managerRun) while(what string, check func() error) func() error {
	return func() error {
		select {
		case <-m.done:
			return testkit.Permanent(fmt.Errorf("%s: the manager exited (%v)", what, m.err))
		default:
		}
		if err := check(); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		return nil
	}
}

func request(c *http.Client, url, token string) (int, string, error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return 0, "", err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), err
}

func expectStatus(c *http.Client, url, token string, want int) error {
	code, _, err := request(c, url, token)
	if err != nil {
		return err
	}
	if code != want {
		return fmt.Errorf("GET %s: %d, want %d", url, code, want)
	}
	return nil
}

func fetch(c *http.Client, url, token string) (string, error) {
	code, body, err := request(c, url, token)
	if err != nil {
		return "", err
	}
	if code != http.StatusOK {
		return "", fmt.Errorf("GET %s: %d", url, code)
	}
	return body, nil
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}

// checkLiveHealth evaluates a reconciled object as Flux (kstatus) and Argo CD (the chart README's
// health script) would.
func checkLiveHealth(t *testing.T, obj client.Object) {
	t.Helper()
	u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		t.Fatal(err)
	}
	res, err := status.Compute(&unstructured.Unstructured{Object: u})
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != status.CurrentStatus {
		t.Errorf("kstatus of the Ready %T: %s (%s)", obj, res.Status, res.Message)
	}
	if got := argoHealth(t, argoHealthScript(t), u); got.status != "Healthy" {
		t.Errorf("Argo CD health of the Ready %T: %+v", obj, got)
	}
}
