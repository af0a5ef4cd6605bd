package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
	"templatemanager.dev/lxc-template-manager/internal/testenv"
	"templatemanager.dev/lxc-template-manager/internal/testkit"
)

// phaseTypes are the five pipeline conditions the progress page shows, in order.
var phaseTypes = []string{
	lxcv1.ContainerCreatedCondition, lxcv1.ContainerStartedCondition, lxcv1.ConfigManagerDeployedCondition,
	lxcv1.ScriptsCompletedCondition, lxcv1.ServicesDiscoveredCondition,
}

// liveLatency bounds how long a status change may take to reach an open page: the console's
// promise is one second; the rest is the test's polling and a busy two-core machine.
const liveLatency = 2 * time.Second

// TestConsole drives bin/console in headless Chromium against the local stack (kube-apiserver,
// pvesim with real LXC containers, bin/manager), signed in with ServiceAccount tokens: an editor
// creates a container from the demo template with the wizard and watches every phase turn True
// on the progress page without a reload, stops and starts it (Proxmox follows) and deletes it; a
// viewer sees no action buttons and a forced action is refused by the API server, which the page
// says; an editor of another namespace sees none of it; a token the API server stops accepting
// leads back to sign-in. Screenshots of each page go to bin/console-screenshots/.
func TestConsole(t *testing.T) {
	t.Parallel()
	chromium := requireChromium(t)
	s := startStack(t)
	manager := s.startManager(t)
	ctx := context.Background()
	const ns, otherNS, name = "console", "console-other", "web-2"
	s.create(t, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: otherNS}})
	s.applyDemoTemplate(t, ns)
	editorToken := s.consoleUser(t, ns, "editor", "edit")
	viewerToken := s.consoleUser(t, ns, "viewer", "view")
	strangerToken := s.consoleUser(t, otherNS, "editor", "edit")
	leaverToken := s.consoleUser(t, ns, "leaver", "view")
	console := s.startConsole(t)
	browser := startBrowser(t, chromium)
	shots := screenshotDir(t)

	editor := browser.user(t, "editor", console, shots)
	editor.signIn(t, "/containers", editorToken)
	editor.waitFor(t, `[data-testid="container-list"]`)
	if n := editor.count(t, `[data-testid="container-row"]`); n != 0 {
		t.Errorf("the container list shows %d rows before any container exists", n)
	}
	editor.shot(t, "containers-empty")
	for _, page := range []struct{ path, shot, want string }{
		{"/", "overview", ""},
		{"/templates", "templates", "web"},
		{"/templates?tag=debian", "templates-tag-debian", "web"},
		{"/templates/" + ns + "/web", "template-web", "hello-web"},
		{"/buckets", "buckets", "web-base"},
		{"/buckets/" + ns + "/web-base", "bucket-web-base", "hello-web"},
	} {
		editor.open(t, page.path)
		editor.noError(t)
		if body := editor.text(t, "main"); !strings.Contains(body, page.want) {
			t.Errorf("%s does not show %q:\n%.600s", page.path, page.want, body)
		}
		editor.shot(t, page.shot)
	}

	// The wizard: a bad name comes back from the API server's dry run next to the field; the
	// review shows the YAML that Create applies.
	editor.open(t, "/new?namespace="+ns)
	editor.shot(t, "wizard-1-template")
	editor.pickTemplate(t, "web")
	editor.shot(t, "wizard-2-configure")
	// 8 MiB is below the CRD's minimum, which only the API server knows.
	editor.fill(t, "name", name)
	editor.fill(t, "cluster", "pve") // a namespace editor may not list ProxmoxClusters: typed in
	editor.fill(t, "memory", "8")
	editor.next(t)
	editor.waitFor(t, `[data-testid="field-error"]`)
	if msg := editor.text(t, `#f-memory ~ [data-testid="field-error"]`); !strings.Contains(msg, "16") {
		t.Errorf("the memory field's error does not give the API server's minimum, 16: %q (all: %q)", msg, editor.text(t, "form"))
	}
	editor.shot(t, "wizard-2-field-error")
	editor.fill(t, "memory", "640")
	editor.next(t)
	editor.shot(t, "wizard-3-packages")
	editor.next(t)
	editor.shot(t, "wizard-4-scripts")
	editor.next(t)
	editor.waitFor(t, `[data-testid="review-yaml"]`)
	review := editor.text(t, `[data-testid="review-yaml"]`)
	var reviewed lxcv1.LXCContainer
	if err := yaml.UnmarshalStrict([]byte(review), &reviewed); err != nil {
		t.Fatalf("the review YAML is not an LXCContainer: %v\n%s", err, review)
	}
	if reviewed.Name != name || reviewed.Namespace != ns || reviewed.Spec.TemplateRef.Name != "web" ||
		reviewed.Spec.Resources == nil || reviewed.Spec.Resources.MemoryMiB == nil || *reviewed.Spec.Resources.MemoryMiB != 640 {
		t.Errorf("the review YAML does not say what was entered:\n%s", review)
	}
	editor.shot(t, "wizard-5-review")

	// The manager waits while the progress page opens, so that every phase turns True under the
	// page's eyes.
	manager.stop(syscall.SIGTERM)
	editor.click(t, `[data-testid="wizard-create"]`)
	editor.waitFor(t, `[data-testid="phase-ContainerCreated"]`)
	detail := "/containers/" + ns + "/" + name
	if loc := editor.location(t); !strings.HasSuffix(loc, detail) {
		t.Fatalf("Create led to %s, not the container's page %s", loc, detail)
	}
	created := s.getContainer(t, ns, name)
	if created.Spec.Resources == nil || *created.Spec.Resources.MemoryMiB != 640 || created.Spec.TemplateRef.Name != "web" {
		t.Errorf("the wizard created %+v", created.Spec)
	}
	editor.markPage(t)
	initial := editor.progress(t)
	for _, typ := range phaseTypes {
		if initial.Phases[typ] == "True" {
			t.Errorf("%s is True on the page before the manager ran", typ)
		}
	}
	editor.shot(t, "container-created")

	turnedTrue := s.watchConditions(t, ns, name)
	s.startManager(t)
	seen := map[string]time.Time{}
	// Read the page every 100 ms, as a person watching it would, until it shows Ready.
	var final pageProgress
	for deadline := time.Now().Add(10 * time.Minute); ; time.Sleep(100 * time.Millisecond) {
		p := editor.progress(t)
		if !p.Marked {
			t.Fatal("the progress page reloaded or navigated; it must follow the container live")
		}
		now := time.Now()
		for _, typ := range phaseTypes {
			if _, ok := seen[typ]; !ok && p.Phases[typ] == "True" {
				seen[typ] = now
				if typ == lxcv1.ConfigManagerDeployedCondition {
					editor.shot(t, "container-progress") // half way; one shot, to keep the readings prompt
				}
			}
		}
		if p.Ready == "True" && len(p.ServiceURLs) > 0 {
			final = p
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 10 minutes the page shows phase %q, ready %q, phases %v, services %v", p.Phase, p.Ready, p.Phases, p.ServiceURLs)
		}
	}
	editor.shot(t, "container-ready")
	for _, typ := range phaseTypes {
		at, ok := turnedTrue.at(typ)
		if !ok {
			t.Errorf("the API server never reported %s True", typ)
			continue
		}
		lag := seen[typ].Sub(at)
		t.Logf("%s: on the page %v after the API server", typ, lag.Round(time.Millisecond))
		if lag > liveLatency {
			t.Errorf("%s reached the open page %v after the API server reported it (want within %v)", typ, lag, liveLatency)
		}
	}
	if final.Phase != "Ready" {
		t.Errorf("the page's phase is %q at Ready", final.Phase)
	}
	c := s.getContainer(t, ns, name)
	var url string
	for _, svc := range c.Status.Services {
		if svc.Name == "hello-web" {
			url = svc.URL
		}
	}
	if url == "" || !slices.Contains(final.ServiceURLs, url) {
		t.Errorf("the page links %v, the container's hello-web service is at %q", final.ServiceURLs, url)
	} else if body := httpGet(t, url); !strings.Contains(body, "Hello") {
		t.Errorf("the service URL the page shows answers %q", body)
	}
	if n := editor.pageRefetches(t, detail); n != 0 {
		t.Errorf("the progress page fetched itself %d times: it must follow the event stream, not poll", n)
	}
	vmid := int(c.Status.VMID)

	// Stop and start: the page says it worked, and Proxmox has the container in that state.
	editor.click(t, `[data-testid="action-stop"]`)
	editor.flash(t, "ok", "")
	editor.shot(t, "container-stopped")
	s.waitGuestStatus(t, vmid, "stopped")
	editor.open(t, detail) // without the stop's flash, so that the start's is the one read
	editor.click(t, `[data-testid="action-start"]`)
	editor.flash(t, "ok", "")
	s.waitGuestStatus(t, vmid, "running")
	testkit.Eventually(t, 5*time.Minute, func() error {
		if p := editor.progress(t); p.Ready != "True" {
			return fmt.Errorf("ready %q after start", p.Ready)
		}
		return nil
	})

	// A viewer sees the container but no action; the API server refuses a forced one, and the
	// page says so.
	viewer := browser.user(t, "viewer", console, shots)
	viewer.signIn(t, detail, viewerToken)
	viewer.waitFor(t, `[data-testid="phase-ServicesDiscovered"]`)
	if n := viewer.count(t, `[data-testid^="action-"]`); n != 0 {
		t.Errorf("the viewer is shown %d action buttons", n)
	}
	viewer.shot(t, "viewer-container")
	viewer.forcePost(t, detail+"/actions/stop")
	viewer.flash(t, "error", "forbidden")
	viewer.shot(t, "viewer-forced-stop-refused")
	if c := s.getContainer(t, ns, name); c.Spec.PowerState != "" && c.Spec.PowerState != lxcv1.PowerStateRunning {
		t.Errorf("the viewer's refused stop changed spec.powerState to %s", c.Spec.PowerState)
	}
	if st := s.guestStatus(t, vmid); st != "running" {
		t.Errorf("after the viewer's refused stop the container is %s in Proxmox", st)
	}

	// An authenticating proxy's "Authorization: Bearer" works on any request, without a cookie.
	if code, body := consoleGet(t, console+"/containers?namespace="+ns, viewerToken); code != http.StatusOK ||
		!strings.Contains(body, `data-name="`+name+`"`) {
		t.Errorf("GET /containers with the viewer's bearer token: %d\n%.400s", code, body)
	}
	if code, _ := consoleGet(t, console+"/containers", ""); code != http.StatusSeeOther {
		t.Errorf("GET /containers without a token: %d, want 303 to sign-in", code)
	}

	// An editor of another namespace sees none of these containers.
	stranger := browser.user(t, "stranger", console, shots)
	stranger.signIn(t, "/containers", strangerToken)
	stranger.waitFor(t, `[data-testid="container-list"]`)
	if n := stranger.count(t, `[data-testid="container-row"][data-namespace="`+ns+`"]`); n != 0 {
		t.Errorf("an editor of %s sees %d containers of %s", otherNS, n, ns)
	}
	stranger.shot(t, "stranger-containers")
	stranger.open(t, "/containers?namespace="+ns)
	if n := stranger.count(t, `[data-testid="container-row"]`); n != 0 {
		t.Errorf("an editor of %s lists %d containers of %s", otherNS, n, ns)
	}
	stranger.open(t, detail)
	if n := stranger.count(t, `[data-testid="phase-ContainerCreated"]`); n != 0 || !strings.Contains(strings.ToLower(stranger.text(t, "main")), "forbidden") {
		t.Errorf("an editor of %s opens %s:\n%.600s", otherNS, detail, stranger.text(t, "main"))
	}
	stranger.shot(t, "stranger-container-refused")

	// A token the API server stops accepting (its ServiceAccount is gone) leads back to sign-in.
	leaver := browser.user(t, "leaver", console, shots)
	leaver.signIn(t, "/containers", leaverToken)
	leaver.waitFor(t, `[data-testid="container-list"]`)
	if err := s.k8s.Delete(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "leaver"}}); err != nil {
		t.Fatal(err)
	}
	// The list's event stream or the next request finds the token refused; the session ends
	// either way (a request after the stream ended it finds no session at all).
	testkit.Eventually(t, time.Minute, func() error {
		loc := leaver.location(t)
		if strings.Contains(loc, "/signin?expired=1") || strings.Contains(loc, "/signin?next=") {
			return nil
		}
		leaver.open(t, "/containers")
		return fmt.Errorf("with a token the API server refuses, the console shows %s", loc)
	})
	leaver.shot(t, "signin-expired")

	// Delete, confirmed by name: the list says so, and the container is gone from Kubernetes and
	// Proxmox.
	editor.open(t, detail)
	editor.fill(t, "confirm", name)
	editor.click(t, `[data-testid="action-delete"]`)
	editor.flash(t, "ok", "")
	if loc := editor.location(t); !strings.Contains(loc, "/containers") || strings.Contains(loc, detail) {
		t.Errorf("delete led to %s, not the container list", loc)
	}
	editor.shot(t, "containers-after-delete")
	testkit.Eventually(t, 5*time.Minute, func() error {
		err := s.k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &lxcv1.LXCContainer{})
		if !apierrors.IsNotFound(err) {
			return fmt.Errorf("lxcc %s/%s after delete: %v", ns, name, err)
		}
		if s.hasGuest(t, vmid) {
			return fmt.Errorf("CT %d is still in Proxmox", vmid)
		}
		return nil
	})
	editor.open(t, "/containers")
	if n := editor.count(t, `[data-testid="container-row"][data-name="`+name+`"]`); n != 0 {
		t.Errorf("the list still shows %s after it is gone", name)
	}
}

// requireChromium returns Debian's chromium, which make deps installs.
func requireChromium(t *testing.T) string {
	t.Helper()
	testkit.SkipUnlessFull(t, "chromium (make deps)")
	path, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatal("chromium is not installed: run make deps (DEB_PACKAGES)")
	}
	return path
}

// screenshotDir is bin/console-screenshots/, for reviewers; not committed.
func screenshotDir(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(RepoRoot, "bin", "console-screenshots")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// applyDemoTemplate applies the demo's template and bucket (config/demo, as make demo applies
// them) into ns, with the package source pointing at this stack's apt repository.
func (s *stack) applyDemoTemplate(t *testing.T, ns string) {
	t.Helper()
	out, err := exec.Command(filepath.Join(RepoRoot, "bin", "kustomize"), "build", "--load-restrictor=LoadRestrictionsNone",
		filepath.Join(RepoRoot, "config", "demo")).Output()
	if err != nil {
		t.Fatalf("kustomize build config/demo: %v", err)
	}
	const demoRepo = "http://169.254.100.1:8099/"
	if !bytes.Contains(out, []byte(demoRepo)) {
		t.Fatalf("config/demo no longer points the template at %s; update the test", demoRepo)
	}
	out = bytes.ReplaceAll(out, []byte(demoRepo), []byte(s.repoURL))
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(out), 4096)
	var applied []string
	for {
		obj := &unstructured.Unstructured{}
		if err := dec.Decode(&obj.Object); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			t.Fatal(err)
		}
		if k := obj.GetKind(); k != "LXCTemplate" && k != "PackageBucket" {
			continue
		}
		obj.SetNamespace(ns)
		s.create(t, obj)
		applied = append(applied, obj.GetKind()+"/"+obj.GetName())
	}
	if len(applied) != 2 {
		t.Fatalf("config/demo gave %v, want the web template and its bucket", applied)
	}
}

// consoleUser makes a ServiceAccount holding the built-in role (edit or view) and this API's
// matching rules in ns only, and returns a token for it. The rules are config/rbac's editor or
// viewer roles but the ProxmoxCluster one, as the chart aggregates them (internal/testenv's
// NamespaceEditor grants the same); the test control plane runs no kube-controller-manager, whose
// aggregation controller fills the built-in roles, so the roles they aggregate are bound too.
func (s *stack) consoleUser(t *testing.T, ns, name, role string) string {
	t.Helper()
	ctx := context.Background()
	kind := map[string]string{"edit": "editor", "view": "viewer"}[role]
	rules := testenv.APIRoleRules(t, kind)
	api := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "lxctm-console-test-" + role}, Rules: rules}
	if err := s.k8s.Create(ctx, api); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	roles := map[string][]string{
		"edit": {"edit", "system:aggregate-to-edit", "system:aggregate-to-view", api.Name},
		"view": {"view", "system:aggregate-to-view", api.Name},
	}[role]
	s.create(t, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}})
	for _, r := range roles {
		s.create(t, &rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name + "-" + strings.ReplaceAll(r, ":", "-")},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: r},
			Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: ns, Name: name}},
		})
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", s.cp.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	hour := int64(3600)
	tr, err := cs.CoreV1().ServiceAccounts(ns).CreateToken(ctx, name,
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &hour}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("token for %s/%s: %v", ns, name, err)
	}
	return tr.Status.Token
}

// consoleBinary is bin/console built from the working tree, once per test process.
var consoleBinary struct {
	once sync.Once
	path string
	err  error
}

// startConsole runs bin/console on a loopback port against the stack's control plane and
// returns its base URL. It gets the admin kubeconfig: it must use only its address and CA.
func (s *stack) startConsole(t *testing.T) string {
	t.Helper()
	consoleBinary.once.Do(func() {
		dir, err := os.MkdirTemp("", "lxctm-e2e-console-")
		if err != nil {
			consoleBinary.err = err
			return
		}
		consoleBinary.path = filepath.Join(dir, "console")
		cmd := exec.Command("go", "build", "-o", consoleBinary.path, "./cmd/console")
		cmd.Dir = RepoRoot
		if out, err := cmd.CombinedOutput(); err != nil {
			consoleBinary.err = fmt.Errorf("go build ./cmd/console: %v\n%s", err, out)
		}
	})
	if consoleBinary.err != nil {
		t.Fatal(consoleBinary.err)
	}
	addr := "127.0.0.1:" + strconv.Itoa(testkit.ReservePort(t))
	logPath := filepath.Join(s.cp.StateDir, "console.log")
	log, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(consoleBinary.path, "--listen", addr, "--kubeconfig", s.cp.Kubeconfig)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); log.Close(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			dumpFile(t, logPath, 40)
		}
	})
	base := "http://" + addr
	testkit.Eventually(t, 30*time.Second, func() error {
		select {
		case <-done:
			data, _ := os.ReadFile(logPath)
			t.Fatalf("bin/console exited:\n%s", data)
		default:
		}
		resp, err := http.Get(base + "/healthz")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("/healthz: %s", resp.Status)
		}
		return nil
	})
	return base
}

// conditionTimes records when the test's own watch first saw each condition True.
type conditionTimes struct {
	mu    sync.Mutex
	first map[string]time.Time
}

func (c *conditionTimes) at(typ string) (time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t, ok := c.first[typ]
	return t, ok
}

// watchConditions watches the container as admin, as the console does as its user.
func (s *stack) watchConditions(t *testing.T, ns, name string) *conditionTimes {
	t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", s.cp.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	wc, err := client.NewWithWatch(cfg, client.Options{Scheme: s.k8s.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	w, err := wc.Watch(ctx, &lxcv1.LXCContainerList{}, client.InNamespace(ns), client.MatchingFields{"metadata.name": name})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); w.Stop() })
	times := &conditionTimes{first: map[string]time.Time{}}
	go func() {
		for ev := range w.ResultChan() {
			c, ok := ev.Object.(*lxcv1.LXCContainer)
			if !ok || ev.Type == watch.Deleted {
				continue
			}
			now := time.Now()
			times.mu.Lock()
			for _, cond := range c.Status.Conditions {
				if _, seen := times.first[cond.Type]; !seen && cond.Status == metav1.ConditionTrue {
					times.first[cond.Type] = now
				}
			}
			times.mu.Unlock()
		}
	}()
	return times
}

// guestStatus is the container's status as the Proxmox API reports it.
func (s *stack) guestStatus(t *testing.T, vmid int) string {
	t.Helper()
	guests, err := s.px.Guests(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range guests {
		if g.VMID == vmid {
			return g.Status
		}
	}
	return "absent"
}

func (s *stack) waitGuestStatus(t *testing.T, vmid int, want string) {
	t.Helper()
	testkit.Eventually(t, 3*time.Minute, func() error {
		if got := s.guestStatus(t, vmid); got != want {
			return fmt.Errorf("CT %d is %s in Proxmox, want %s", vmid, got, want)
		}
		return nil
	})
}

// consoleGet GETs a console URL with a bearer token (none when empty), not following redirects.
func consoleGet(t *testing.T, url, token string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	c := &http.Client{Timeout: 30 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(data)
}

// browser is one headless Chromium; each user gets a browser context of its own (own cookies).
type browser struct {
	ctx context.Context
}

func startBrowser(t *testing.T, chromium string) *browser {
	t.Helper()
	logPath := filepath.Join(t.TempDir(), "chromium.log")
	log, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		log.Close()
		if t.Failed() {
			dumpFile(t, logPath, 40)
		}
	})
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), chromedp.CombinedOutput(log),
		// /dev/shm may be small or shared with the test's containers.
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.ExecPath(chromium), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		// Loopback only: no proxy from the environment.
		chromedp.Flag("no-proxy-server", true),
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1280, 900))
	ctx, cancel := chromedp.NewContext(alloc)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting %s: %v", chromium, err)
	}
	return &browser{ctx: ctx}
}

// page is one user's tab.
type page struct {
	ctx   context.Context
	base  string
	who   string
	shots string
}

func (b *browser) user(t *testing.T, who, base, shots string) *page {
	t.Helper()
	ctx, cancel := chromedp.NewContext(b.ctx, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	// The first run opens the tab and ties it to the context it is given: the page's own, not a
	// step's deadline, which would close the tab with the step.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("opening a tab for %s: %v", who, err)
	}
	return &page{ctx: ctx, base: base, who: who, shots: shots}
}

// do runs browser steps with a deadline, failing the test with what the page shows.
func (p *page) do(t *testing.T, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, time.Minute)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		p.fail(t, what, err)
	}
}

func (p *page) fail(t *testing.T, what string, err error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 10*time.Second)
	defer cancel()
	loc, _ := chromedp.Run(ctx, chromedp.Location())
	body, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
	t.Fatalf("%s: %s: %v\nat %s:\n%.1500s", p.who, what, err, loc, body)
}

func pageRun[T any](t *testing.T, p *page, what string, a chromedp.Action[T]) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, time.Minute)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		p.fail(t, what, err)
	}
	return v
}

func (p *page) open(t *testing.T, path string) {
	t.Helper()
	p.do(t, "open "+path, chromedp.Navigate(p.base+path), chromedp.WaitReady(chromedp.CSS("body")))
}

func (p *page) signIn(t *testing.T, path, token string) {
	t.Helper()
	p.open(t, path)
	if loc := p.location(t); !strings.Contains(loc, "/signin?next=") {
		t.Fatalf("%s: %s without a session shows %s, not the sign-in page", p.who, path, loc)
	}
	p.shot(t, "signin")
	p.do(t, "sign in", chromedp.SetValue(chromedp.ID("token"), token), chromedp.Click(chromedp.ID("signin")))
	testkit.Eventually(t, 30*time.Second, func() error {
		if loc := p.location(t); !strings.HasSuffix(loc, path) {
			return fmt.Errorf("after signing in at %s, want %s", loc, path)
		}
		return nil
	})
}

func (p *page) waitFor(t *testing.T, css string) {
	t.Helper()
	p.do(t, "wait for "+css, chromedp.WaitReady(chromedp.CSS(css)))
}

// click clicks a button or link that loads a page, and waits until that page has loaded, so
// that nothing reads or photographs the page while the tab swaps documents.
func (p *page) click(t *testing.T, css string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, time.Minute)
	defer cancel()
	if _, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(css))); err != nil {
		p.fail(t, "click "+css, err)
	}
}

// fill sets the form field with that name.
func (p *page) fill(t *testing.T, name, value string) {
	t.Helper()
	p.do(t, "fill "+name, chromedp.SetValue(chromedp.CSS(`[name="`+name+`"]`), value))
}

func (p *page) next(t *testing.T) {
	t.Helper()
	p.click(t, `[data-testid="wizard-next"]`)
}

func (p *page) location(t *testing.T) string {
	t.Helper()
	return pageRun(t, p, "location", chromedp.Location())
}

func (p *page) text(t *testing.T, css string) string {
	t.Helper()
	return pageRun(t, p, "text of "+css, chromedp.Evaluate[string](
		fmt.Sprintf(`(function(){var e=document.querySelector(%q);return e?e.innerText:""})()`, css)))
}

func (p *page) count(t *testing.T, css string) int {
	t.Helper()
	return pageRun(t, p, "count "+css, chromedp.Evaluate[int](fmt.Sprintf(`document.querySelectorAll(%q).length`, css)))
}

// noError fails when the page is the console's error page or shows a list's error.
func (p *page) noError(t *testing.T) {
	t.Helper()
	const errs = `[data-testid="error"], [data-testid="list-error"]`
	if n := p.count(t, errs); n != 0 {
		t.Errorf("%s: %s shows an error: %s", p.who, p.location(t), p.text(t, errs))
	}
}

// flash waits for the page's flash message of that kind and checks that it says want.
func (p *page) flash(t *testing.T, kind, want string) {
	t.Helper()
	p.waitFor(t, `[data-testid="flash"]`)
	got := pageRun(t, p, "flash kind", chromedp.Evaluate[string](`document.querySelector('[data-testid="flash"]').dataset.kind`))
	msg := p.text(t, `[data-testid="flash"]`)
	if got != kind || !strings.Contains(strings.ToLower(msg), want) {
		t.Errorf("%s: flash %s %q, want %s saying %q", p.who, got, msg, kind, want)
	}
	if strings.Contains(msg, "goroutine") || strings.Contains(msg, ".go:") {
		t.Errorf("%s: the flash shows a stack trace: %q", p.who, msg)
	}
}

// pickTemplate chooses a template on the wizard's first step and goes on.
func (p *page) pickTemplate(t *testing.T, name string) {
	t.Helper()
	p.do(t, "pick "+name, chromedp.Click(chromedp.CSS(`input[data-testid="wizard-template"][value="`+name+`"]`)))
	p.next(t)
}

// forcePost submits the action form the page does not offer, with the session's CSRF token from
// the sign-out form, as someone editing the page would.
func (p *page) forcePost(t *testing.T, path string) {
	t.Helper()
	pageRun(t, p, "forced POST "+path, chromedp.Evaluate[bool](fmt.Sprintf(`(function(){
		var f=document.createElement("form"); f.method="post"; f.action=%q;
		var c=document.createElement("input"); c.type="hidden"; c.name="csrf";
		c.value=document.querySelector('input[name="csrf"]').value; f.appendChild(c);
		document.body.appendChild(f); f.submit(); return true})()`, path)))
	testkit.Eventually(t, 30*time.Second, func() error {
		if p.count(t, `[data-testid="flash"]`) == 0 {
			return errors.New("no flash after the forced request")
		}
		return nil
	})
}

// markPage sets a value that lives only as long as the document: a reload or navigation loses it.
func (p *page) markPage(t *testing.T) {
	t.Helper()
	pageRun(t, p, "mark the page", chromedp.Evaluate[bool](`window.__lxctmSamePage = true`))
}

// pageProgress is what the progress page shows.
type pageProgress struct {
	Marked      bool              `json:"marked"`
	Phase       string            `json:"phase"`
	Ready       string            `json:"ready"`
	Phases      map[string]string `json:"phases"`
	ServiceURLs []string          `json:"services"`
}

func (p *page) progress(t *testing.T) pageProgress {
	t.Helper()
	return pageRun(t, p, "read the progress", chromedp.Evaluate[pageProgress](`(function(){
		var q=function(s){return document.querySelector(s)};
		var phases={};
		document.querySelectorAll('[data-testid^="phase-"]').forEach(function(e){phases[e.dataset.testid.slice(6)]=e.dataset.status});
		var ready=q('[data-testid="ready"]'), phase=q('[data-testid="phase"]');
		return {marked: window.__lxctmSamePage===true, phase: phase?phase.innerText.trim():"",
			ready: ready?ready.dataset.status:"", phases: phases,
			services: Array.from(document.querySelectorAll('a[data-testid="service-url"]')).map(function(a){return a.getAttribute("href")})};
	})()`))
}

// pageRefetches counts the page's own requests for path after it loaded: polling would show here.
func (p *page) pageRefetches(t *testing.T, path string) int {
	t.Helper()
	return pageRun(t, p, "resource timings", chromedp.Evaluate[int](fmt.Sprintf(`performance.getEntriesByType("resource").filter(function(e){
		var u=new URL(e.name); return u.pathname===%q && (e.initiatorType==="fetch"||e.initiatorType==="xmlhttprequest")}).length`, path)))
}

// shot saves a screenshot of the whole page as <who>-<name>.png.
func (p *page) shot(t *testing.T, name string) {
	t.Helper()
	png := pageRun(t, p, "screenshot", chromedp.FullScreenshot(100))
	if err := os.WriteFile(filepath.Join(p.shots, p.who+"-"+name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}
