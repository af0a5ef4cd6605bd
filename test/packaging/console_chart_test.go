package packaging

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"

	"templatemanager.dev/lxc-template-manager/internal/testkit"
)

// consoleOn turn the web console on.
var consoleOn = []string{"--set", "console.enabled=true"}

// consoleParts are the console's objects in a rendering, found by name.
type consoleParts struct {
	manager, console *appsv1.Deployment
	container        *corev1.Container
	service          *corev1.Service
}

func renderConsole(t *testing.T, release string, flags ...string) ([]*unstructured.Unstructured, consoleParts) {
	t.Helper()
	return renderConsoleIn(t, release, controllerNS, flags...)
}

func renderConsoleIn(t *testing.T, release, ns string, flags ...string) ([]*unstructured.Unstructured, consoleParts) {
	t.Helper()
	objs := helmTemplate(t, release, ns, append(append([]string{}, consoleOn...), flags...)...)
	full := release + "-lxc-template-manager"
	if strings.Contains(release, "lxc-template-manager") {
		full = release
	}
	var p consoleParts
	for _, u := range only(objs, "Deployment") {
		switch u.GetName() {
		case full:
			p.manager = convert[appsv1.Deployment](t, u)
		case full + "-console":
			p.console = convert[appsv1.Deployment](t, u)
		default:
			t.Errorf("unexpected Deployment %s", u.GetName())
		}
	}
	if p.manager == nil || p.console == nil {
		t.Fatalf("want the Deployments %s and %s-console, rendered %v", full, full, kinds(objs))
	}
	if cs := p.console.Spec.Template.Spec.Containers; len(cs) != 1 || cs[0].Name != "console" {
		t.Fatalf("console Deployment containers: %+v", cs)
	}
	p.container = &p.console.Spec.Template.Spec.Containers[0]
	if svc := named(objs, "Service", full+"-console"); svc != nil {
		p.service = convert[corev1.Service](t, svc)
	}
	return objs, p
}

func TestChartConsoleOffByDefault(t *testing.T) {
	for _, o := range helmTemplate(t, "lxctm", controllerNS) {
		if strings.Contains(o.GetName(), "console") {
			t.Errorf("the console is off by default, yet %s %s is rendered", o.GetKind(), o.GetName())
		}
	}
}

func TestChartConsoleLints(t *testing.T) {
	for name, flags := range map[string][]string{
		"console":                  consoleOn,
		"console, two replicas":    append([]string{"--set", "console.replicaCount=2", "--set", "console.cookieKeySecretRef.name=console-key"}, consoleOn...),
		"console with mirror, TLS": append([]string{"--set", "console.mirrorDsnSecretRef.name=pg", "--set", "console.service.type=NodePort"}, consoleOn...),
	} {
		t.Run(name, func(t *testing.T) {
			out := run(t, "helm", append([]string{"lint", "--strict", chartDir}, flags...)...)
			if !bytes.Contains(out, []byte("0 chart(s) failed")) {
				t.Errorf("helm lint:\n%s", out)
			}
		})
	}
}

// TestChartConsole: console.enabled adds exactly a Deployment running /console from the manager's
// image, a Service for it, and a ServiceAccount that nothing binds; the two Deployments never
// select each other's Pods.
func TestChartConsole(t *testing.T) {
	objs, p := renderConsole(t, "lxctm")
	got := kinds(objs)
	want := kinds(helmTemplate(t, "lxctm", controllerNS))
	want["Deployment"]++
	want["Service"]++
	want["ServiceAccount"]++
	if !reflect.DeepEqual(got, want) {
		t.Errorf("console.enabled renders %v, want the defaults plus a Deployment, Service and ServiceAccount: %v", got, want)
	}

	checkDeploymentSecurity(t, p.console)
	c := p.container
	if !reflect.DeepEqual(c.Command, []string{"/console"}) {
		t.Errorf("console command %q, want [/console] (the Dockerfile ships it)", c.Command)
	}
	if mc := managerContainer(t, p.manager); c.Image != mc.Image || c.ImagePullPolicy != mc.ImagePullPolicy {
		t.Errorf("console image %q (%s), manager image %q (%s): want the same", c.Image, c.ImagePullPolicy, mc.Image, mc.ImagePullPolicy)
	}
	listen, ok := flagValue(c.Args, "listen")
	if !ok || listen != ":8090" {
		t.Errorf("--listen=%q, want :8090 (every interface of the Pod)", listen)
	}
	if v, _ := flagValue(c.Args, "secure-cookies"); v != "true" {
		t.Errorf("--secure-cookies=%q, want true by default", v)
	}
	if _, ok := flagValue(c.Args, "cookie-key-file"); ok || len(c.VolumeMounts) != 0 {
		t.Errorf("a cookie key file without console.cookieKeySecretRef: args %q, mounts %+v", c.Args, c.VolumeMounts)
	}
	if _, ok := flagValue(c.Args, "kubeconfig"); ok {
		t.Error("the console gets a --kubeconfig; in a Pod it reads the API server's address and CA from the in-cluster config")
	}
	if len(c.Env) != 0 {
		t.Errorf("console env %+v without the mirror", c.Env)
	}
	for name, probe := range map[string]*corev1.Probe{"liveness": c.LivenessProbe, "readiness": c.ReadinessProbe} {
		if probe == nil || probe.HTTPGet == nil || probe.HTTPGet.Path != "/healthz" {
			t.Errorf("%s probe %+v, want GET /healthz", name, probe)
			continue
		}
		if got := containerPort(t, c, probe.HTTPGet.Port.String()); got != portOf(t, listen) {
			t.Errorf("%s probe on port %d, the console listens on %d", name, got, portOf(t, listen))
		}
	}

	// The Service reaches the console and only the console.
	if p.service == nil {
		t.Fatal("no console Service")
	}
	consolePods, managerPods := labels.Set(p.console.Spec.Template.Labels), labels.Set(p.manager.Spec.Template.Labels)
	sel := labels.SelectorFromSet(p.service.Spec.Selector)
	if len(p.service.Spec.Selector) == 0 || !sel.Matches(consolePods) || sel.Matches(managerPods) {
		t.Errorf("console Service selector %v: console Pods %v, manager Pods %v", p.service.Spec.Selector, consolePods, managerPods)
	}
	if len(p.service.Spec.Ports) != 1 || containerPort(t, c, p.service.Spec.Ports[0].TargetPort.String()) != portOf(t, listen) ||
		p.service.Spec.Ports[0].Port != 8090 || p.service.Spec.Type != corev1.ServiceTypeClusterIP {
		t.Errorf("console Service %+v does not serve port 8090 to the console's", p.service.Spec)
	}
	mustSelect := func(what string, d *appsv1.Deployment, pods labels.Set) {
		if labels.SelectorFromSet(d.Spec.Selector.MatchLabels).Matches(pods) {
			t.Errorf("the %s Deployment's selector %v matches the other Deployment's Pods %v", what, d.Spec.Selector.MatchLabels, pods)
		}
	}
	mustSelect("manager", p.manager, consolePods)
	mustSelect("console", p.console, managerPods)
	metrics := named(objs, "Service", "lxctm-lxc-template-manager-metrics")
	if metrics == nil {
		t.Fatal("no metrics Service")
	}
	if labels.SelectorFromSet(convert[corev1.Service](t, metrics).Spec.Selector).Matches(consolePods) {
		t.Error("the metrics Service selects the console Pods")
	}

	// The console's ServiceAccount exists and holds no permission at all.
	saName := p.console.Spec.Template.Spec.ServiceAccountName
	if saName == p.manager.Spec.Template.Spec.ServiceAccountName {
		t.Fatalf("the console runs as the manager's ServiceAccount %s", saName)
	}
	if sa := named(objs, "ServiceAccount", saName); sa == nil || sa.GetNamespace() != controllerNS {
		t.Errorf("the console's ServiceAccount %s/%s is not rendered", controllerNS, saName)
	}
	cluster, namespaced := bundle{objs}.boundRules(t, controllerNS, saName)
	if len(cluster)+len(namespaced) != 0 {
		t.Errorf("the console's ServiceAccount is bound to roles: %v %v", cluster, namespaced)
	}
}

func TestChartConsoleOptions(t *testing.T) {
	t.Run("shared cookie key and replicas", func(t *testing.T) {
		_, p := renderConsole(t, "lxctm", "--set", "console.replicaCount=3",
			"--set", "console.cookieKeySecretRef.name=console-key", "--set", "console.cookieKeySecretRef.key=key")
		file, ok := flagValue(p.container.Args, "cookie-key-file")
		mounts := p.container.VolumeMounts
		if !ok || len(mounts) != 1 || !mounts[0].ReadOnly || !strings.HasPrefix(file, mounts[0].MountPath+"/") {
			t.Fatalf("--cookie-key-file=%q with mounts %+v", file, mounts)
		}
		vols := p.console.Spec.Template.Spec.Volumes
		if len(vols) != 1 || vols[0].Name != mounts[0].Name || vols[0].Secret == nil || vols[0].Secret.SecretName != "console-key" {
			t.Fatalf("volumes %+v", vols)
		}
		items := vols[0].Secret.Items
		if len(items) != 1 || items[0].Key != "key" || mounts[0].MountPath+"/"+items[0].Path != file {
			t.Errorf("the Secret's key does not land at --cookie-key-file=%s: items %+v", file, items)
		}
		if *p.console.Spec.Replicas != 3 {
			t.Errorf("replicas %d", *p.console.Spec.Replicas)
		}
	})
	t.Run("mirror, port, plain cookies, service type", func(t *testing.T) {
		_, p := renderConsole(t, "lxctm", "--set", "console.mirrorDsnSecretRef.name=pg", "--set", "console.port=9000",
			"--set", "console.secureCookies=false", "--set", "console.service.type=NodePort", "--set", "console.extraArgs[0]=--zap-devel")
		if dsn := envVar(p.container, "LXCTM_MIRROR_DSN"); !fromSecret(dsn, "pg", "dsn") {
			t.Errorf("LXCTM_MIRROR_DSN is not taken from the Secret pg's key dsn: %+v", dsn)
		}
		for _, a := range p.container.Args {
			if strings.Contains(a, "mirror-dsn") {
				t.Errorf("the DSN is on the command line: %q", a)
			}
		}
		for flag, want := range map[string]string{"listen": ":9000", "secure-cookies": "false", "zap-devel": "true"} {
			if v, _ := flagValue(p.container.Args, flag); v != want {
				t.Errorf("--%s=%q, want %q", flag, v, want)
			}
		}
		if containerPort(t, p.container, "http") != 9000 || p.service.Spec.Ports[0].Port != 9000 || p.service.Spec.Type != corev1.ServiceTypeNodePort {
			t.Errorf("port 9000 and NodePort not applied: ports %+v, service %+v", p.container.Ports, p.service.Spec)
		}
	})
	t.Run("existing service account", func(t *testing.T) {
		objs, p := renderConsole(t, "lxctm", "--set", "console.serviceAccount.create=false", "--set", "console.serviceAccount.name=viewer-proxy")
		if sa := p.console.Spec.Template.Spec.ServiceAccountName; sa != "viewer-proxy" {
			t.Errorf("serviceAccountName %q", sa)
		}
		if n := len(only(objs, "ServiceAccount")); n != 1 {
			t.Errorf("%d ServiceAccounts rendered, want only the manager's", n)
		}
	})
}

func TestChartConsoleRejectsBadValues(t *testing.T) {
	for name, tc := range map[string]struct {
		flags []string
		want  string
	}{
		"replicas without a shared cookie key": {[]string{"--set", "console.replicaCount=2"}, "needs console.cookieKeySecretRef.name"},
		"port out of range":                    {[]string{"--set", "console.port=0"}, "/console/port"},
		"misspelt value":                       {[]string{"--set", "console.listen=:8080"}, "listen"},
		"cookie key with a path":               {[]string{"--set", "console.cookieKeySecretRef.name=k", "--set", "console.cookieKeySecretRef.key=../k"}, "cookieKeySecretRef"},
		"no service account":                   {[]string{"--set", "console.serviceAccount.create=false"}, "console.serviceAccount.name is required"},
	} {
		t.Run(name, func(t *testing.T) {
			flags := append(append([]string{"template", "lxctm", chartDir}, consoleOn...), tc.flags...)
			out, err := runErr(t, "helm", flags...)
			if err == nil {
				t.Fatalf("helm template accepted %v:\n%.400s", tc.flags, out)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error does not mention %q: %v", tc.want, err)
			}
		})
	}
}

// TestChartConsoleHoldsNoPermission applies the chart's accounts and RBAC with the console on to
// a real API server and asks it what the console's ServiceAccount may do: nothing the API
// server's defaults do not give every account, while the manager's, as a check of the check,
// may do its work.
func TestChartConsoleHoldsNoPermission(t *testing.T) {
	e := apiServer(t)
	const ns, release = "lxctm-console", "lxctm-console"
	ensureNamespace(t, e.Client, ns)
	objs := helmTemplate(t, release, ns, append([]string{"--set", "admissionPolicy.enabled=false"}, consoleOn...)...)
	var rbac []*unstructured.Unstructured
	for _, o := range objs {
		switch o.GetKind() {
		case "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding":
			rbac = append(rbac, o)
		}
	}
	applyAll(t, e.Client, rbac, false)
	t.Cleanup(func() {
		for _, o := range rbac {
			_ = e.Client.Delete(context.Background(), o)
		}
	})
	_, p := renderConsoleIn(t, release, ns)
	consoleSA := "system:serviceaccount:" + ns + ":" + p.console.Spec.Template.Spec.ServiceAccountName
	managerSA := "system:serviceaccount:" + ns + ":" + p.manager.Spec.Template.Spec.ServiceAccountName
	allowed := func(user string, attrs authorizationv1.ResourceAttributes) bool {
		sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
			User: user, Groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + ns, "system:authenticated"},
			ResourceAttributes: &attrs,
		}}
		if err := e.Client.Create(context.Background(), sar); err != nil {
			t.Fatal(err)
		}
		return sar.Status.Allowed
	}
	for _, a := range []authorizationv1.ResourceAttributes{
		{Group: "lxc.templatemanager.dev", Resource: "lxccontainers", Verb: "list"},
		{Group: "lxc.templatemanager.dev", Resource: "lxccontainers", Verb: "watch", Namespace: "default"},
		{Group: "lxc.templatemanager.dev", Resource: "lxccontainers", Verb: "patch", Namespace: ns},
		{Group: "lxc.templatemanager.dev", Resource: "lxctemplates", Verb: "get", Namespace: ns},
		{Group: "lxc.templatemanager.dev", Resource: "proxmoxclusters", Verb: "list"},
		{Resource: "secrets", Verb: "get", Namespace: ns},
		{Resource: "events", Verb: "list", Namespace: ns},
		{Resource: "namespaces", Verb: "list"},
		{Resource: "serviceaccounts", Verb: "impersonate", Namespace: ns},
		{Group: "authentication.k8s.io", Resource: "tokenreviews", Verb: "create"},
	} {
		if allowed(consoleSA, a) {
			t.Errorf("the console's ServiceAccount may %s %s/%s in %q", a.Verb, a.Group, a.Resource, a.Namespace)
		}
	}
	if !allowed(managerSA, authorizationv1.ResourceAttributes{Group: "lxc.templatemanager.dev", Resource: "lxccontainers", Verb: "list"}) {
		t.Error("the manager's ServiceAccount may not list lxccontainers: the review itself is broken")
	}
	// Nothing in the rendering names the console's account as a subject.
	for _, o := range rbac {
		if o.GetKind() != "ClusterRoleBinding" && o.GetKind() != "RoleBinding" {
			continue
		}
		subjects := convert[rbacv1.RoleBinding](t, o).Subjects
		for _, s := range subjects {
			if s.Kind == "ServiceAccount" && "system:serviceaccount:"+s.Namespace+":"+s.Name == consoleSA {
				t.Errorf("%s %s binds the console's ServiceAccount", o.GetKind(), o.GetName())
			}
		}
	}
}

// TestChartConsoleArgsAreConsoleFlags shows that every flag the chart passes is one bin/console
// knows (an unknown flag would stop it at start) with a value it takes.
func TestChartConsoleArgsAreConsoleFlags(t *testing.T) {
	testkit.SkipUnlessFull(t, "bin/console built from this tree (go build)")
	bin := filepath.Join(t.TempDir(), "console")
	build := exec.Command("go", "build", "-o", bin, "./cmd/console")
	build.Dir = root
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOTOOLCHAIN=local", "GOFLAGS=-buildvcs=false")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/console: %v\n%s", err, out)
	}
	out, _ := exec.Command(bin, "-h").CombinedOutput()
	known := map[string]bool{}
	for _, line := range strings.Split(string(out), "\n") {
		if m := usageFlag.FindStringSubmatch(line); m != nil {
			known[m[1]] = true
		}
	}
	if !known["listen"] {
		t.Fatalf("console -h lists no --listen:\n%s", out)
	}
	for _, flags := range [][]string{nil, {"--set", "console.cookieKeySecretRef.name=k", "--set", "console.secureCookies=false"}} {
		_, p := renderConsole(t, "lxctm", flags...)
		for _, arg := range p.container.Args {
			name, value, _ := strings.Cut(strings.TrimLeft(arg, "-"), "=")
			if !known[name] {
				t.Errorf("the chart passes %q, which bin/console does not know", arg)
			}
			if name == "secure-cookies" && value != "true" && value != "false" {
				t.Errorf("--secure-cookies=%q", value)
			}
		}
	}
}
