package console

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
	"templatemanager.dev/lxc-template-manager/internal/testkit"
)

func readyStatus(node string) lxcv1.LXCContainerStatus {
	now := metav1.Now()
	conds := []metav1.Condition{{Type: lxcv1.ReadyCondition, Status: metav1.ConditionTrue, Reason: "Succeeded", Message: "ready", LastTransitionTime: now}}
	for _, typ := range []string{lxcv1.ContainerCreatedCondition, lxcv1.ContainerStartedCondition, lxcv1.ConfigManagerDeployedCondition,
		lxcv1.ScriptsCompletedCondition, lxcv1.ServicesDiscoveredCondition} {
		conds = append(conds, metav1.Condition{Type: typ, Status: metav1.ConditionTrue, Reason: "Succeeded", LastTransitionTime: now})
	}
	return lxcv1.LXCContainerStatus{Phase: "Ready", Node: node, VMID: 100, IPAddress: "169.254.20.2", Conditions: conds}
}

// A person signs in with a ServiceAccount token through the form; a proxy sends the token
// in Authorization: Bearer on every request; no token, or one the API server refuses, leads
// to the sign-in page.
func TestSignIn(t *testing.T) {
	e := plane(t)
	ns := namespace(t, e, "signin")
	makeTemplate(t, e, ns, "web")
	makeContainer(t, e, ns, "web-1", "web", readyStatus("pve1"))
	tok := editorToken(t, e, ns)
	ts := console(t, e)

	anon := newBrowser(t, ts)
	if code, loc, _ := anon.do(http.MethodGet, "/containers?namespace="+ns, nil); code != http.StatusSeeOther || !strings.HasPrefix(loc, "/signin?next=") {
		t.Fatalf("no token: %d %s, want 303 to /signin?next=…", code, loc)
	}

	person := newBrowser(t, ts)
	person.signIn(tok)
	code, page := person.get("/containers")
	if code != http.StatusOK || !slices.Equal(rows(page), []string{ns + "/web-1"}) {
		t.Fatalf("after sign-in, /containers: %d rows %v", code, rows(page))
	}
	if !strings.Contains(page, "system:serviceaccount:"+ns+":editor") {
		t.Error("the page does not name the signed-in user")
	}

	proxy := newBrowser(t, ts)
	proxy.bearer = tok
	if code, page := proxy.get("/containers?namespace=" + ns); code != http.StatusOK || !slices.Equal(rows(page), []string{ns + "/web-1"}) {
		t.Fatalf("with Authorization: Bearer: %d rows %v", code, rows(page))
	}

	bad := newBrowser(t, ts)
	bad.bearer = "not-a-token"
	if code, loc, _ := bad.do(http.MethodGet, "/containers", nil); code != http.StatusSeeOther || loc != "/signin?expired=1" {
		t.Fatalf("invalid bearer token: %d %s, want 303 to /signin?expired=1", code, loc)
	}
	code, _, body := newBrowser(t, ts).do(http.MethodPost, "/signin", url.Values{"token": {"not-a-token"}})
	if code != http.StatusUnauthorized || !strings.Contains(body, `data-testid="signin-error"`) {
		t.Fatalf("signing in with an invalid token: %d", code)
	}

	// Deleting the ServiceAccount revokes its tokens: the signed-in session ends.
	if err := e.Client.Delete(context.Background(), &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "editor"}}); err != nil {
		t.Fatal(err)
	}
	// The API server caches an accepted token for a few seconds: allow it that long.
	testkit.Eventually(t, 30*time.Second, func() error {
		code, loc, _ := person.do(http.MethodGet, "/containers/"+ns+"/web-1", nil)
		if code != http.StatusSeeOther || loc != "/signin?expired=1" {
			return fmt.Errorf("revoked token: %d %s, want 303 to /signin?expired=1", code, loc)
		}
		return nil
	})
	if code, loc, _ := person.do(http.MethodGet, "/containers", nil); code != http.StatusSeeOther || !strings.HasPrefix(loc, "/signin?next=") {
		t.Fatalf("after the session ended the cookie should be gone: %d %s", code, loc)
	}
}

// The list filters by template, node, phase and text on the server.
func TestContainerListFilters(t *testing.T) {
	e := plane(t)
	ns := namespace(t, e, "filters")
	makeTemplate(t, e, ns, "web")
	makeTemplate(t, e, ns, "db")
	makeContainer(t, e, ns, "web-1", "web", readyStatus("pve1"))
	makeContainer(t, e, ns, "web-2", "web", readyStatus("pve2"))
	makeContainer(t, e, ns, "db-1", "db", lxcv1.LXCContainerStatus{Phase: "Creating", Node: "pve2"})
	b := newBrowser(t, console(t, e))
	b.bearer = editorToken(t, e, ns)
	for query, want := range map[string][]string{
		"":                        {"db-1", "web-1", "web-2"},
		"&template=web":           {"web-1", "web-2"},
		"&node=pve2":              {"db-1", "web-2"},
		"&phase=Creating":         {"db-1"},
		"&q=web-2":                {"web-2"},
		"&template=web&node=pve2": {"web-2"},
		"&template=nonesuch":      nil,
	} {
		code, page := b.get("/containers?namespace=" + ns + query)
		var names []string
		for _, r := range rows(page) {
			names = append(names, strings.TrimPrefix(r, ns+"/"))
		}
		if code != http.StatusOK || !slices.Equal(names, want) {
			t.Errorf("filter %q: %d %v, want %v", query, code, names, want)
		}
	}
}

// A viewer sees the pages but no action buttons; a forced POST is refused by the API server
// and the page says so in its words.
func TestViewerGetsNoActions(t *testing.T) {
	e := plane(t)
	ns := namespace(t, e, "viewer")
	makeTemplate(t, e, ns, "web")
	makeContainer(t, e, ns, "web-1", "web", readyStatus("pve1"))
	ts := console(t, e)
	b := newBrowser(t, ts)
	b.signIn(viewerToken(t, e, ns))

	code, page := b.get("/containers/" + ns + "/web-1")
	if code != http.StatusOK || !strings.Contains(page, `data-testid="phase-ContainerCreated" data-status="True"`) {
		t.Fatalf("viewer's detail page: %d", code)
	}
	if strings.Contains(page, `data-testid="action-`) {
		t.Fatal("the viewer is shown action buttons")
	}
	for _, path := range []string{"/", "/containers", "/templates", "/buckets", "/templates/" + ns + "/web"} {
		if code, _ := b.get(path); code != http.StatusOK {
			t.Errorf("viewer: %s answers %d", path, code)
		}
	}
	code, loc, page := b.post("/containers/"+ns+"/web-1/actions/stop", url.Values{"csrf": {csrf(t, page)}})
	kind, msg := flash(page)
	if code != http.StatusOK || loc != "/containers/"+ns+"/web-1" || kind != "error" || !strings.Contains(msg, "forbidden") {
		t.Fatalf("forced stop: %d %s flash %s %q, want the API server's forbidden message", code, loc, kind, msg)
	}
	c := &lxcv1.LXCContainer{}
	if err := e.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "web-1"}, c); err != nil || c.Spec.PowerState == lxcv1.PowerStateStopped {
		t.Fatalf("the refused stop changed the container: %v %q", err, c.Spec.PowerState)
	}
}

// A user of another namespace sees none of the containers.
func TestOtherNamespaceSeesNothing(t *testing.T) {
	e := plane(t)
	ns := namespace(t, e, "owner")
	other := namespace(t, e, "other")
	makeTemplate(t, e, ns, "web")
	makeContainer(t, e, ns, "web-1", "web", readyStatus("pve1"))
	b := newBrowser(t, console(t, e))
	b.signIn(editorToken(t, e, other))
	for _, path := range []string{"/containers", "/containers?namespace=" + ns, "/"} {
		code, page := b.get(path)
		if code != http.StatusOK || len(rows(page)) != 0 || strings.Contains(page, "web-1") {
			t.Errorf("%s shows %v to a user of another namespace (%d)", path, rows(page), code)
		}
	}
	if code, page := b.get("/containers/" + ns + "/web-1"); code != http.StatusForbidden || !strings.Contains(page, "forbidden") {
		t.Errorf("another namespace's container page: %d", code)
	}
}

// Start, stop, restart, reconcile and delete are patches (or a delete) made as the user.
func TestActions(t *testing.T) {
	e := plane(t)
	ns := namespace(t, e, "actions")
	makeTemplate(t, e, ns, "web")
	makeContainer(t, e, ns, "web-1", "web", readyStatus("pve1"))
	b := newBrowser(t, console(t, e))
	b.signIn(editorToken(t, e, ns))
	path := "/containers/" + ns + "/web-1"
	_, page := b.get(path)
	for _, a := range []string{"start", "stop", "restart", "reconcile", "delete"} {
		if !strings.Contains(page, `data-testid="action-`+a+`"`) {
			t.Fatalf("the editor has no %s button", a)
		}
	}
	token := csrf(t, page)
	get := func() *lxcv1.LXCContainer {
		c := &lxcv1.LXCContainer{}
		if err := e.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "web-1"}, c); err != nil {
			t.Fatal(err)
		}
		return c
	}
	if _, _, page := b.post(path+"/actions/stop", url.Values{}); !strings.Contains(page, `data-kind="error"`) || get().Spec.PowerState == lxcv1.PowerStateStopped {
		t.Fatal("a POST without its csrf field was carried out")
	}
	steps := []struct {
		action string
		check  func(*lxcv1.LXCContainer) bool
	}{
		{"stop", func(c *lxcv1.LXCContainer) bool { return c.Spec.PowerState == lxcv1.PowerStateStopped }},
		{"start", func(c *lxcv1.LXCContainer) bool { return c.Spec.PowerState == lxcv1.PowerStateRunning }},
		{"restart", func(c *lxcv1.LXCContainer) bool { return c.Annotations[RestartRequestAnnotation] != "" }},
		{"reconcile", func(c *lxcv1.LXCContainer) bool { return c.Annotations[lxcv1.ReconcileRequestAnnotation] != "" }},
	}
	for _, s := range steps {
		_, loc, page := b.post(path+"/actions/"+s.action, url.Values{"csrf": {token}})
		if kind, msg := flash(page); kind != "ok" || loc != path || !s.check(get()) {
			t.Fatalf("%s: flash %s %q at %s; container %+v %v", s.action, kind, msg, loc, get().Spec.PowerState, get().Annotations)
		}
	}
	if _, _, page := b.post(path+"/actions/delete", url.Values{"csrf": {token}, "confirm": {"web-2"}}); !strings.Contains(page, `data-kind="error"`) {
		t.Fatal("delete without the right confirmation was not refused")
	}
	_, loc, page := b.post(path+"/actions/delete", url.Values{"csrf": {token}, "confirm": {"web-1"}})
	if kind, _ := flash(page); kind != "ok" || !strings.HasPrefix(loc, "/containers?") {
		t.Fatalf("delete: flash %s at %s", kind, loc)
	}
	if err := e.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "web-1"}, &lxcv1.LXCContainer{}); err == nil {
		t.Fatal("the container still exists after delete")
	}
}

// The wizard's dry run returns the API server's field error next to the field; a valid form
// reaches the review with its YAML and creates the container.
func TestWizard(t *testing.T) {
	e := plane(t)
	ns := namespace(t, e, "wizard")
	makeTemplate(t, e, ns, "web")
	b := newBrowser(t, console(t, e))
	b.signIn(editorToken(t, e, ns))

	code, page := b.get("/new?namespace=" + ns)
	if code != http.StatusOK || !strings.Contains(page, `value="web" data-testid="wizard-template"`) || !strings.Contains(page, `data-testid="wizard-next"`) {
		t.Fatalf("step 1: %d", code)
	}
	form := url.Values{"namespace": {ns}, "template": {"web"}, "name": {"web-9"}, "cluster": {"pve"}, "cores": {"0"}, "step": {"3"}}
	code, page = b.get("/new?" + form.Encode())
	if code != http.StatusOK || !strings.Contains(page, `id="f-cores"`) || !strings.Contains(page, `data-testid="field-error">spec.resources.cores`) {
		t.Fatalf("cores 0: %d; want step 2 with a field error naming spec.resources.cores:\n%s", code, page)
	}
	form.Set("cores", "2")
	form.Set("ipv4", "10.0.0.300/24")
	if _, page = b.get("/new?" + form.Encode()); !strings.Contains(page, `data-testid="field-error">spec.network.ipv4`) {
		t.Fatalf("a bad ipv4 gives no field error naming spec.network.ipv4")
	}
	form.Set("ipv4", "dhcp")
	form.Set("extra", "curl")
	form["skip"] = []string{"seed"}
	form.Set("step", "5")
	code, page = b.get("/new?" + form.Encode())
	if code != http.StatusOK || !strings.Contains(page, `data-testid="review-yaml"`) || !strings.Contains(page, "cores: 2") ||
		!strings.Contains(page, `data-testid="wizard-create"`) || strings.Contains(page, `data-testid="field-error"`) {
		t.Fatalf("review: %d\n%s", code, page)
	}
	post := url.Values{"csrf": {csrf(t, page)}}
	for k, v := range form {
		if k != "step" {
			post[k] = v
		}
	}
	_, loc, page := b.post("/new", post)
	if loc != "/containers/"+ns+"/web-9" || !strings.Contains(page, `data-testid="phase"`) {
		t.Fatalf("create went to %q", loc)
	}
	c := &lxcv1.LXCContainer{}
	if err := e.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "web-9"}, c); err != nil {
		t.Fatal(err)
	}
	if *c.Spec.Resources.Cores != 2 || c.Spec.Scripts.Skip[0] != "seed" || c.Spec.Packages.Extra[0].Names[0] != "curl" {
		t.Fatalf("created spec %+v", c.Spec)
	}
}

// Template counts include the packages of the buckets a template references.
func TestTemplateCounts(t *testing.T) {
	e := plane(t)
	ns := namespace(t, e, "templates")
	makeTemplate(t, e, ns, "web", "nginx", "debian")
	makeTemplate(t, e, ns, "db", "postgres")
	b := newBrowser(t, console(t, e))
	b.bearer = editorToken(t, e, ns)
	_, page := b.get("/templates?namespace=" + ns + "&tag=nginx")
	if !strings.Contains(page, `data-name="web"`) || strings.Contains(page, `data-name="db"`) {
		t.Fatalf("tag filter nginx:\n%s", page)
	}
	for _, want := range []string{`data-testid="scripts-count">2<`, `data-testid="files-count">1<`, `data-testid="packages-count">5<`} {
		if !strings.Contains(page, want) {
			t.Errorf("template row lacks %s", want)
		}
	}
	if code, page := b.get("/templates/" + ns + "/web"); code != http.StatusOK || !strings.Contains(page, "5 packages in all") {
		t.Errorf("template detail: %d", code)
	}
	if code, page := b.get("/buckets/" + ns + "/web-tools"); code != http.StatusOK || !strings.Contains(page, "<li>jq</li>") {
		t.Errorf("bucket detail: %d", code)
	}
}

// The live stream sends the new timeline within a second of a status update.
func TestLiveStream(t *testing.T) {
	e := plane(t)
	ns := namespace(t, e, "live")
	makeTemplate(t, e, ns, "web")
	c := makeContainer(t, e, ns, "web-1", "web", lxcv1.LXCContainerStatus{Phase: "Creating"})
	ts := console(t, e)
	req, _ := http.NewRequest(http.MethodGet, ts.URL+"/containers/"+ns+"/web-1/live", nil)
	req.Header.Set("Authorization", "Bearer "+editorToken(t, e, ns))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := http.DefaultClient.Do(req.WithContext(ctx))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("Content-Type %q", ct)
	}
	events := make(chan map[string]string, 16)
	go func() {
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		name := ""
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "event: "):
				name = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: ") && name == "fragments":
				var frags map[string]string
				decode(t, strings.TrimPrefix(line, "data: "), &frags)
				events <- frags
			}
		}
		close(events)
	}()
	first := <-events
	if !strings.Contains(first["timeline"], `data-testid="phase-ContainerCreated" data-status="Unknown"`) {
		t.Fatalf("first event: %v", first)
	}
	c.Status.Conditions = []metav1.Condition{{Type: lxcv1.ContainerCreatedCondition, Status: metav1.ConditionTrue, Reason: "Succeeded",
		Message: "created", LastTransitionTime: metav1.Now()}}
	c.Status.Phase = "Starting"
	if err := e.Client.Status().Update(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	updated := time.Now()
	for {
		select {
		case frags, ok := <-events:
			if !ok {
				t.Fatal("the stream ended")
			}
			if strings.Contains(frags["timeline"], `data-testid="phase-ContainerCreated" data-status="True"`) {
				if d := time.Since(updated); d > time.Second {
					t.Fatalf("the change arrived after %s, want within 1s", d)
				}
				if !strings.Contains(frags["phase"], ">Starting<") {
					t.Errorf("phase fragment %q", frags["phase"])
				}
				return
			}
		case <-time.After(time.Second):
			t.Fatal("no event within 1s of the status update")
		}
	}
}

// The list shows every container of a namespace, from one LIST made as the user.
func TestListShowsEveryContainer(t *testing.T) {
	e := plane(t)
	ns := namespace(t, e, "many")
	makeTemplate(t, e, ns, "web")
	if err := makeMany(e, ns, 60); err != nil {
		t.Fatal(err)
	}
	b := newBrowser(t, console(t, e))
	b.bearer = editorToken(t, e, ns)
	code, page := b.get("/containers?namespace=" + ns)
	if got := rows(page); code != http.StatusOK || len(got) != 60 {
		t.Fatalf("%d rows (%d), want 60:\n%s", len(got), code, page)
	}
}

// The detail page shows the container's Events, its credentials Secret's keys (values only
// on request), and its snapshots.
func TestDetailPage(t *testing.T) {
	e := plane(t)
	ctx := context.Background()
	ns := namespace(t, e, "detail")
	makeTemplate(t, e, ns, "web")
	status := readyStatus("pve1")
	status.CredentialsSecretRef = &lxcv1.LocalObjectReference{Name: "web-1-credentials"}
	c := makeContainer(t, e, ns, "web-1", "web", status)
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web-1-credentials"},
		Data: map[string][]byte{"DB_PASSWORD": []byte("s3cret-value")}}
	event := &corev1.Event{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web-1.1"}, Type: "Normal", Reason: "ScriptsCompleted",
		Message: "every script exited 0", LastTimestamp: metav1.Now(), Count: 1, Source: corev1.EventSource{Component: "lxc-template-manager"},
		InvolvedObject: corev1.ObjectReference{APIVersion: lxcv1.GroupVersion.String(), Kind: "LXCContainer", Namespace: ns, Name: "web-1", UID: c.UID}}
	snap := &lxcv1.LXCSnapshot{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "before-upgrade"},
		Spec: lxcv1.LXCSnapshotSpec{ContainerRef: lxcv1.ContainerReference{Name: "web-1"}}}
	for _, obj := range []client.Object{secret, event, snap} {
		if err := e.Client.Create(ctx, obj); err != nil {
			t.Fatal(err)
		}
	}
	tok := editorToken(t, e, ns)
	// What the built-in edit role holds of Secrets and Events: a test control plane runs no
	// controller that aggregates rules into it.
	core := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "core-edit"}, Rules: []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"secrets", "events"}, Verbs: []string{"get", "list", "watch"}}}}
	binding := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "core-edit"},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: core.Name},
		Subjects: []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: ns, Name: "editor"}}}
	for _, obj := range []client.Object{core, binding} {
		if err := e.Client.Create(ctx, obj); err != nil {
			t.Fatal(err)
		}
	}
	b := newBrowser(t, console(t, e))
	b.signIn(tok)
	code, page := b.get("/containers/" + ns + "/web-1")
	for _, want := range []string{"every script exited 0", "<dt>DB_PASSWORD</dt>", `data-testid="secret-reveal"`, "before-upgrade",
		`data-testid="ready" data-status="True"`, "templateRef:"} {
		if !strings.Contains(page, want) {
			t.Errorf("detail page (%d) lacks %s", code, want)
		}
	}
	if strings.Contains(page, "s3cret-value") {
		t.Fatal("the secret's value is shown before it was asked for")
	}
	code, _, page = b.do(http.MethodPost, "/containers/"+ns+"/web-1/secret/reveal", url.Values{"csrf": {csrf(t, page)}})
	if code != http.StatusOK || !strings.Contains(page, `<code data-testid="secret-value">s3cret-value</code>`) {
		t.Fatalf("reveal: %d", code)
	}
}

type sse struct{ name, data string }

// openStream follows an event stream as the holder of tok.
func openStream(t *testing.T, url, tok string) <-chan sse {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	resp, err := http.DefaultClient.Do(req.WithContext(ctx))
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s: %s", url, resp.Status)
	}
	out := make(chan sse, 64)
	go func() {
		defer resp.Body.Close()
		defer close(out)
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		name := ""
		for sc.Scan() {
			line := sc.Text()
			if n, ok := strings.CutPrefix(line, "event: "); ok {
				name = n
			} else if d, ok := strings.CutPrefix(line, "data: "); ok {
				out <- sse{name, d}
			}
		}
	}()
	return out
}

// The list's stream sends the changed row within a second, and a deleted one as gone.
func TestListLiveStream(t *testing.T) {
	e := plane(t)
	ctx := context.Background()
	ns := namespace(t, e, "listlive")
	makeTemplate(t, e, ns, "web")
	c := makeContainer(t, e, ns, "web-1", "web", lxcv1.LXCContainerStatus{Phase: "Creating"})
	ts := console(t, e)
	events := openStream(t, ts.URL+"/live?namespace="+ns, editorToken(t, e, ns))
	c.Status.Phase = "Starting"
	if err := e.Client.Status().Update(ctx, c); err != nil {
		t.Fatal(err)
	}
	updated := time.Now()
	var row rowChange
	select {
	case ev := <-events:
		decode(t, ev.data, &row)
		if ev.name != "row" || row.Name != "web-1" || !strings.Contains(row.HTML, `<span class="phase">Starting</span>`) {
			t.Fatalf("event %s %+v", ev.name, row)
		}
		if d := time.Since(updated); d > time.Second {
			t.Fatalf("the row arrived after %s", d)
		}
	case <-time.After(time.Second):
		t.Fatal("no row within 1s of the status update")
	}
	if err := e.Client.Delete(ctx, c); err != nil {
		t.Fatal(err)
	}
	select {
	case ev := <-events:
		decode(t, ev.data, &row)
		if ev.name != "row" || row.Name != "web-1" || row.HTML != "" {
			t.Fatalf("after delete: %s %+v", ev.name, row)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no event for the deleted container")
	}
}
