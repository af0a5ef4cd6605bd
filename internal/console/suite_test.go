package console

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"

	authnv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
	"templatemanager.dev/lxc-template-manager/internal/testenv"
	"templatemanager.dev/lxc-template-manager/internal/testkit"
)

// One control plane serves the package's tests; each works in namespaces of its own.
var (
	planeOnce sync.Once
	planeErr  error
	env       *testenv.Env
)

func TestMain(m *testing.M) {
	code := m.Run()
	if env != nil {
		if err := env.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "stopping the control plane:", err)
		}
	}
	os.Exit(code)
}

// plane returns the shared control plane, starting it on first use.
func plane(t testing.TB) *testenv.Env {
	t.Helper()
	testkit.SkipUnlessFull(t, testkit.ControlPlane)
	planeOnce.Do(func() { env, planeErr = testenv.Start() })
	if planeErr != nil {
		t.Fatal(planeErr)
	}
	return env
}

// namespace makes a namespace of the test's own.
func namespace(t testing.TB, e *testenv.Env, prefix string) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: prefix + "-"}}
	if err := e.Client.Create(context.Background(), ns); err != nil {
		t.Fatal(err)
	}
	return ns.Name
}

// console serves a console against the control plane, holding none of its credentials.
func console(t testing.TB, e *testenv.Env) *httptest.Server {
	t.Helper()
	key := make([]byte, 32)
	for i := range key {
		key[i] = byte(i)
	}
	srv, err := New(Options{Config: e.Config, CookieKey: key})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	return ts
}

// token asks the TokenRequest API for a token of ServiceAccount ns/name.
func token(t testing.TB, e *testenv.Env, ns, name string) string {
	t.Helper()
	cs, err := kubernetes.NewForConfig(e.Config)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := cs.CoreV1().ServiceAccounts(ns).CreateToken(context.Background(), name,
		&authnv1.TokenRequest{Spec: authnv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](3600)}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("TokenRequest for %s/%s: %v", ns, name, err)
	}
	return tr.Status.Token
}

// editorToken makes the namespace's editor account (built-in edit plus this API's editor rules).
func editorToken(t testing.TB, e *testenv.Env, ns string) string {
	t.Helper()
	testenv.NamespaceEditor(t, e.Client, e.Config, ns)
	return token(t, e, ns, "editor")
}

// viewerToken makes a ServiceAccount holding the built-in view role and this API's viewer rules.
func viewerToken(t testing.TB, e *testenv.Env, ns string) string {
	t.Helper()
	ctx := context.Background()
	rules := testenv.APIRoleRules(t, "viewer")
	viewRole := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: ns + "-lxctm-view"}, Rules: rules}
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "viewer"}}
	subjects := []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: ns, Name: sa.Name}}
	objs := []client.Object{viewRole, sa}
	for _, role := range []string{"view", viewRole.Name} {
		objs = append(objs, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "viewer-" + role},
			RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role}, Subjects: subjects})
	}
	for _, obj := range objs {
		if err := e.Client.Create(ctx, obj); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { _ = e.Client.Delete(context.Background(), viewRole) })
	return token(t, e, ns, "viewer")
}

// browser is an HTTP client with a cookie jar that does not follow redirects on its own.
type browser struct {
	t      testing.TB
	base   string
	c      *http.Client
	bearer string
}

func newBrowser(t testing.TB, ts *httptest.Server) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, base: ts.URL, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}}
}

// do makes one request and returns the status, the Location and the body.
func (b *browser) do(method, path string, form url.Values) (int, string, string) {
	b.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, b.base+path, body)
	if err != nil {
		b.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if b.bearer != "" {
		req.Header.Set("Authorization", "Bearer "+b.bearer)
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Location"), string(data)
}

// get fetches path, following redirects, and returns the final status and body.
func (b *browser) get(path string) (int, string) {
	b.t.Helper()
	for range 5 {
		code, loc, body := b.do(http.MethodGet, path, nil)
		if code != http.StatusSeeOther && code != http.StatusFound {
			return code, body
		}
		path = loc
	}
	b.t.Fatalf("too many redirects at %s", path)
	return 0, ""
}

// post posts form to path and follows the redirect that answers it.
func (b *browser) post(path string, form url.Values) (int, string, string) {
	b.t.Helper()
	code, loc, body := b.do(http.MethodPost, path, form)
	if code != http.StatusSeeOther {
		return code, "", body
	}
	code, body = b.get(loc)
	return code, loc, body
}

// signIn signs in through the form, as a person would.
func (b *browser) signIn(token string) {
	b.t.Helper()
	code, loc, body := b.do(http.MethodPost, "/signin", url.Values{"token": {token}, "next": {"/containers"}})
	if code != http.StatusSeeOther || loc != "/containers" {
		b.t.Fatalf("sign-in: %d %s: %s", code, loc, body)
	}
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]*)"`)

// csrf reads the page's CSRF field.
func csrf(t testing.TB, page string) string {
	t.Helper()
	m := csrfField.FindStringSubmatch(page)
	if m == nil || m[1] == "" {
		t.Fatal("the page carries no csrf field")
	}
	return m[1]
}

var rowRE = regexp.MustCompile(`data-testid="container-row" data-namespace="([^"]*)" data-name="([^"]*)"`)

// rows lists the containers a list page shows, as namespace/name.
func rows(page string) []string {
	var out []string
	for _, m := range rowRE.FindAllStringSubmatch(page, -1) {
		out = append(out, m[1]+"/"+m[2])
	}
	return out
}

var flashRE = regexp.MustCompile(`data-testid="flash" data-kind="([a-z]+)" role="status">([^<]*)<`)

// flash reads the page's flash: kind and message.
func flash(page string) (string, string) {
	m := flashRE.FindStringSubmatch(page)
	if m == nil {
		return "", ""
	}
	return m[1], m[2]
}

// fixtures makes a cluster-free world for the console: a template referencing a bucket.
func makeTemplate(t testing.TB, e *testenv.Env, ns, name string, tags ...lxcv1.Tag) *lxcv1.LXCTemplate {
	t.Helper()
	ctx := context.Background()
	bucket := &lxcv1.PackageBucket{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name + "-tools"},
		Spec: lxcv1.PackageBucketSpec{Manager: "apt", Packages: []lxcv1.PackageName{"curl", "jq", "htop"}}}
	if err := e.Client.Create(ctx, bucket); err != nil {
		t.Fatal(err)
	}
	tpl := &lxcv1.LXCTemplate{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: lxcv1.LXCTemplateSpec{
		Description: "web server", Tags: tags,
		OSTemplate:        "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst",
		Resources:         lxcv1.Resources{Cores: ptr.To[int32](1), MemoryMiB: ptr.To[int32](512)},
		Packages:          []lxcv1.PackageList{{Manager: "apt", Names: []lxcv1.PackageName{"nginx", "ca-certificates"}}},
		PackageBucketRefs: []lxcv1.LocalObjectReference{{Name: bucket.Name}},
		Scripts:           []lxcv1.Script{{Name: "install", Content: ptr.To("echo hi")}, {Name: "seed", Content: ptr.To("echo seed")}},
		Files:             []lxcv1.ManagedFile{{Path: "/etc/motd", Content: ptr.To("hello")}},
	}}
	if err := e.Client.Create(ctx, tpl); err != nil {
		t.Fatal(err)
	}
	return tpl
}

// makeContainer creates a container of template, then gives it a status as the controller would.
func makeContainer(t testing.TB, e *testenv.Env, ns, name, template string, status lxcv1.LXCContainerStatus) *lxcv1.LXCContainer {
	t.Helper()
	ctx := context.Background()
	c := &lxcv1.LXCContainer{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: lxcv1.LXCContainerSpec{
		ClusterRef: lxcv1.ClusterReference{Name: "pve"}, TemplateRef: lxcv1.LocalObjectReference{Name: template}}}
	if err := e.Client.Create(ctx, c); err != nil {
		t.Fatal(err)
	}
	if status.Phase != "" || len(status.Conditions) > 0 {
		c.Status = status
		if err := e.Client.Status().Update(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

// decode is a JSON helper for stream events.
func decode(t testing.TB, data string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(data), v); err != nil {
		t.Fatalf("event data %q: %v", data, err)
	}
}
