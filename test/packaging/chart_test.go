package packaging

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
)

const chartNS = "lxctm-chart"

// monitoringFlags turn on everything optional the chart renders.
var monitoringFlags = []string{"--set", "serviceMonitor.enabled=true", "--set", "dashboard.enabled=true"}

func TestChartLints(t *testing.T) {
	for name, flags := range map[string][]string{
		"defaults":                       nil,
		"monitoring":                     monitoringFlags,
		"insecure metrics, two replicas": {"--set", "metrics.secure=false", "--set", "replicaCount=2"},
		"live progress feed":             {"--set", "mirror.redisUrlSecretRef.name=redis"},
	} {
		t.Run(name, func(t *testing.T) {
			out := run(t, "helm", append([]string{"lint", "--strict", chartDir}, flags...)...)
			if !bytes.Contains(out, []byte("0 chart(s) failed")) {
				t.Errorf("helm lint:\n%s", out)
			}
		})
	}
}

func TestChartDefaults(t *testing.T) {
	objs := helmTemplate(t, "lxc-template-manager", controllerNS)
	b := bundle{objs}

	got := kinds(objs)
	want := map[string]int{
		"ServiceAccount": 1, "Deployment": 1, "Service": 1,
		// manager, metrics-auth, metrics-reader, and the edit and view aggregates.
		"ClusterRole": 5, "ClusterRoleBinding": 2,
		"Role": 1, "RoleBinding": 1,
		"ValidatingAdmissionPolicy": 1, "ValidatingAdmissionPolicyBinding": 1,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("rendered kinds %v, want %v (no ServiceMonitor or dashboard by default)", got, want)
	}
	for _, o := range objs {
		if ns := o.GetNamespace(); ns != "" && ns != controllerNS {
			t.Errorf("%s %s rendered into namespace %q, not the release namespace", o.GetKind(), o.GetName(), ns)
		}
	}
	d := b.deployment(t)
	if d.Name != "lxc-template-manager" {
		t.Errorf("release lxc-template-manager names its Deployment %q", d.Name)
	}
	checkDeploymentSecurity(t, d)
	checkManagerContainer(t, d)
	checkRBAC(t, b)
	svc := checkMetricsService(t, b)
	if svc.Spec.Ports[0].Name != "https" || svc.Spec.Ports[0].Port != 8443 {
		t.Errorf("metrics Service port %+v, want https 8443", svc.Spec.Ports[0])
	}
	args := managerContainer(t, d).Args
	for flag, want := range map[string]string{"metrics-secure": "true", "metrics-bind-address": ":8443", "health-probe-bind-address": ":8081"} {
		if v, _ := flagValue(args, flag); v != want {
			t.Errorf("--%s=%q, want %q", flag, v, want)
		}
	}
	if _, ok := flagValue(args, "metrics-cert-dir"); ok {
		t.Error("--metrics-cert-dir is set without metrics.certSecretName")
	}
	if img := managerContainer(t, d).Image; img != "lxc-template-manager:0.1.0" {
		t.Errorf("image %q, want the repository with the chart's appVersion", img)
	}
}

// TestChartManagerRoleIsGenerated keeps the chart's ClusterRole in step with controller-gen's
// config/rbac/role.yaml.
func TestChartManagerRoleIsGenerated(t *testing.T) {
	objs := helmTemplate(t, "lxc-template-manager", controllerNS)
	role := named(objs, "ClusterRole", "lxc-template-manager-manager")
	if role == nil {
		t.Fatal("the chart renders no ClusterRole lxc-template-manager-manager")
	}
	got := convert[rbacv1.ClusterRole](t, role).Rules
	if want := generatedManagerRules(t); !reflect.DeepEqual(got, want) {
		t.Errorf("the chart's manager rules differ from %s; run: cp %s %s/files/manager-role.yaml\nchart: %+v\nwant:  %+v",
			managerRoleFile, managerRoleFile, chartDir, got, want)
	}
}

// TestChartCRDsAreGenerated keeps the chart's crds/ identical to controller-gen's output.
func TestChartCRDsAreGenerated(t *testing.T) {
	want, err := filepath.Glob(filepath.Join(root, crdBasesDir, "*.yaml"))
	if err != nil || len(want) == 0 {
		t.Fatalf("no CRDs in %s: %v", crdBasesDir, err)
	}
	got, err := filepath.Glob(filepath.Join(root, chartDir, "crds", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	base := func(paths []string) []string {
		var out []string
		for _, p := range paths {
			out = append(out, filepath.Base(p))
		}
		return out
	}
	if !reflect.DeepEqual(base(got), base(want)) {
		t.Fatalf("%s/crds holds %v, %s holds %v; run make manifests", chartDir, base(got), crdBasesDir, base(want))
	}
	for _, p := range want {
		generated, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		copied, err := os.ReadFile(filepath.Join(root, chartDir, "crds", filepath.Base(p)))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(generated, copied) {
			t.Errorf("%s/crds/%s differs from %s; run make manifests", chartDir, filepath.Base(p), crdBasesDir)
		}
	}
}

func TestChartMonitoring(t *testing.T) {
	objs := helmTemplate(t, "lxc-template-manager", controllerNS, monitoringFlags...)
	b := bundle{objs}
	svc := checkMetricsService(t, b)

	sm := one(t, objs, "ServiceMonitor")
	if sm.GetNamespace() != controllerNS {
		t.Errorf("ServiceMonitor in %q", sm.GetNamespace())
	}
	sel, _, _ := unstructured.NestedStringMap(sm.Object, "spec", "selector", "matchLabels")
	if len(sel) == 0 || !labels.SelectorFromSet(sel).Matches(labels.Set(svc.Labels)) {
		t.Errorf("ServiceMonitor selector %v does not match the metrics Service labels %v", sel, svc.Labels)
	}
	endpoints, _, _ := unstructured.NestedSlice(sm.Object, "spec", "endpoints")
	if len(endpoints) != 1 {
		t.Fatalf("ServiceMonitor has %d endpoints", len(endpoints))
	}
	ep := endpoints[0].(map[string]any)
	if ep["port"] != svc.Spec.Ports[0].Name || ep["scheme"] != "https" || ep["path"] != "/metrics" {
		t.Errorf("ServiceMonitor endpoint %v does not scrape https://<service>:%s/metrics", ep, svc.Spec.Ports[0].Name)
	}
	if ep["bearerTokenFile"] == nil {
		t.Error("ServiceMonitor endpoint sends no token to the secure metrics endpoint")
	}

	cm := convert[corev1.ConfigMap](t, one(t, objs, "ConfigMap"))
	if cm.Labels["grafana_dashboard"] != "1" {
		t.Errorf("dashboard ConfigMap labels %v lack grafana_dashboard=1", cm.Labels)
	}
	raw, ok := cm.Data["lxc-template-manager.json"]
	if !ok {
		t.Fatalf("dashboard ConfigMap keys: %v", cm.Data)
	}
	var dash map[string]any
	if err := json.Unmarshal([]byte(raw), &dash); err != nil {
		t.Fatalf("dashboard JSON as rendered: %v", err)
	}
	if dash["uid"] != "lxc-template-manager" {
		t.Errorf("dashboard uid %v", dash["uid"])
	}

	// The dashboard may live in Grafana's namespace.
	objs = helmTemplate(t, "lxc-template-manager", controllerNS, "--set", "dashboard.enabled=true", "--set", "dashboard.namespace=grafana")
	if ns := one(t, objs, "ConfigMap").GetNamespace(); ns != "grafana" {
		t.Errorf("dashboard.namespace=grafana puts the ConfigMap into %q", ns)
	}
}

func TestChartOptions(t *testing.T) {
	t.Run("insecure metrics", func(t *testing.T) {
		objs := helmTemplate(t, "lxctm", controllerNS, "--set", "metrics.secure=false", "--set", "serviceMonitor.enabled=true")
		svc := checkMetricsService(t, bundle{objs})
		if svc.Spec.Ports[0].Name != "http" {
			t.Errorf("plain metrics port named %q", svc.Spec.Ports[0].Name)
		}
		if v, _ := flagValue(managerContainer(t, (bundle{objs}).deployment(t)).Args, "metrics-secure"); v != "false" {
			t.Errorf("--metrics-secure=%q", v)
		}
		if ep, _, _ := unstructured.NestedSlice(one(t, objs, "ServiceMonitor").Object, "spec", "endpoints"); ep[0].(map[string]any)["scheme"] != "http" {
			t.Errorf("ServiceMonitor scheme %v for plain metrics", ep[0].(map[string]any)["scheme"])
		}
		for _, cr := range only(objs, "ClusterRole") {
			if strings.Contains(cr.GetName(), "metrics") {
				t.Errorf("insecure metrics still render %s", cr.GetName())
			}
		}
	})
	t.Run("metrics disabled", func(t *testing.T) {
		objs := helmTemplate(t, "lxctm", controllerNS, "--set", "metrics.enabled=false")
		if n := len(only(objs, "Service")); n != 0 {
			t.Errorf("%d Services without metrics", n)
		}
		if v, _ := flagValue(managerContainer(t, (bundle{objs}).deployment(t)).Args, "metrics-bind-address"); v != "0" {
			t.Errorf("--metrics-bind-address=%q, want 0", v)
		}
	})
	t.Run("metrics certificate", func(t *testing.T) {
		objs := helmTemplate(t, "lxctm", controllerNS, "--set", "metrics.certSecretName=metrics-tls")
		d := bundle{objs}.deployment(t)
		c := managerContainer(t, d)
		dir, ok := flagValue(c.Args, "metrics-cert-dir")
		if !ok || len(c.VolumeMounts) != 1 || c.VolumeMounts[0].MountPath != dir || !c.VolumeMounts[0].ReadOnly {
			t.Errorf("--metrics-cert-dir=%q with mounts %+v", dir, c.VolumeMounts)
		}
		if v := d.Spec.Template.Spec.Volumes; len(v) != 1 || v[0].Secret == nil || v[0].Secret.SecretName != "metrics-tls" {
			t.Errorf("volumes %+v", v)
		}
	})
	t.Run("tuning, scheduling and extra args", func(t *testing.T) {
		objs := helmTemplate(t, "lxctm", controllerNS,
			"--set", "controller.maxConcurrentReconciles=16", "--set", "controller.taskPollInterval=5s",
			"--set", "extraArgs[0]=--zap-devel", "--set", "nodeSelector.role=infra",
			"--set", "image.digest=sha256:"+strings.Repeat("ab", 32), "--set", "leaderElection.enabled=false")
		d := bundle{objs}.deployment(t)
		c := managerContainer(t, d)
		for flag, want := range map[string]string{"max-concurrent-reconciles": "16", "task-poll-interval": "5s", "zap-devel": "true", "leader-elect": "false"} {
			if v, _ := flagValue(c.Args, flag); v != want {
				t.Errorf("--%s=%q, want %q", flag, v, want)
			}
		}
		if d.Spec.Template.Spec.NodeSelector["role"] != "infra" {
			t.Errorf("nodeSelector %v", d.Spec.Template.Spec.NodeSelector)
		}
		if !strings.HasPrefix(c.Image, "lxc-template-manager@sha256:") {
			t.Errorf("image %q does not use the digest", c.Image)
		}
		if n := len(only(objs, "Role")); n != 0 {
			t.Errorf("leader election off still renders %d Roles", n)
		}
	})
	t.Run("status mirror", func(t *testing.T) {
		c := managerContainer(t, bundle{helmTemplate(t, "lxctm", controllerNS)}.deployment(t))
		if _, on := flagValue(c.Args, "mirror"); on || len(c.Env) != 1 {
			t.Errorf("the mirror is on by default: args %v, env %+v", c.Args, c.Env)
		}
		objs := helmTemplate(t, "lxctm", controllerNS, "--set", "mirror.enabled=true",
			"--set", "mirror.dsnSecretRef.name=pg", "--set", "mirror.dsnSecretRef.key=url", "--set", "mirror.eventRetention=168h", "--set", "mirror.dashboardUser=ops@pve")
		c = managerContainer(t, bundle{objs}.deployment(t))
		for flag, want := range map[string]string{"mirror": "true", "mirror-event-retention": "168h", "mirror-resync-interval": "10m0s",
			"mirror-dashboard-user": "ops@pve"} {
			if v, _ := flagValue(c.Args, flag); v != want {
				t.Errorf("--%s=%q, want %q", flag, v, want)
			}
		}
		if dsn := envVar(c, "LXCTM_MIRROR_DSN"); !fromSecret(dsn, "pg", "url") {
			t.Errorf("LXCTM_MIRROR_DSN is not taken from the Secret: %+v", dsn)
		}
		if _, on := flagValue(c.Args, "mirror-redis"); on {
			t.Errorf("the mirror turns the live progress feed on: args %v", c.Args)
		}
	})
	t.Run("live progress feed", func(t *testing.T) {
		c := managerContainer(t, bundle{helmTemplate(t, "lxctm", controllerNS)}.deployment(t))
		if _, on := flagValue(c.Args, "mirror-redis"); on || envVar(c, "LXCTM_MIRROR_REDIS_URL") != nil {
			t.Errorf("the feed is on by default: args %v, env %+v", c.Args, c.Env)
		}
		objs := helmTemplate(t, "lxctm", controllerNS, "--set", "mirror.redisUrlSecretRef.name=redis")
		c = managerContainer(t, bundle{objs}.deployment(t))
		// The URL reaches the manager only through the environment: never in the Pod's command line.
		if v, on := flagValue(c.Args, "mirror-redis"); on {
			t.Errorf("--mirror-redis=%q is on the command line; the URL must come only through the environment", v)
		}
		if url := envVar(c, "LXCTM_MIRROR_REDIS_URL"); !fromSecret(url, "redis", "url") {
			t.Errorf("LXCTM_MIRROR_REDIS_URL is not taken from the Secret's key url: %+v", url)
		}
		if _, on := flagValue(c.Args, "mirror"); on || envVar(c, "LXCTM_MIRROR_DSN") != nil {
			t.Errorf("the feed turns the PostgreSQL mirror on: args %v, env %+v", c.Args, c.Env)
		}
	})
	t.Run("existing service account", func(t *testing.T) {
		objs := helmTemplate(t, "lxctm", controllerNS, "--set", "serviceAccount.create=false", "--set", "serviceAccount.name=ops")
		if n := len(only(objs, "ServiceAccount")); n != 0 {
			t.Errorf("%d ServiceAccounts rendered", n)
		}
		if sa := (bundle{objs}).deployment(t).Spec.Template.Spec.ServiceAccountName; sa != "ops" {
			t.Errorf("serviceAccountName %q", sa)
		}
		crb := convert[rbacv1.ClusterRoleBinding](t, named(objs, "ClusterRoleBinding", "lxctm-lxc-template-manager-manager"))
		if crb.Subjects[0].Name != "ops" {
			t.Errorf("manager role bound to %+v", crb.Subjects)
		}
	})
}

// TestChartRejectsBadValues shows that values.schema.json and the chart's own checks stop a broken
// install before anything reaches the cluster.
func TestChartRejectsBadValues(t *testing.T) {
	for name, tc := range map[string]struct {
		flags []string
		want  string
	}{
		"replicas without leader election": {[]string{"--set", "replicaCount=2", "--set", "leaderElection.enabled=false"}, "needs leaderElection.enabled"},
		"ServiceMonitor without metrics":   {[]string{"--set", "metrics.enabled=false", "--set", "serviceMonitor.enabled=true"}, "needs metrics.enabled"},
		"certificate on plain metrics":     {[]string{"--set", "metrics.secure=false", "--set", "metrics.certSecretName=x"}, "needs metrics.secure"},
		"no service account":               {[]string{"--set", "serviceAccount.create=false"}, "serviceAccount.name is required"},
		"port out of range":                {[]string{"--set", "metrics.port=70000"}, "/metrics/port"},
		"misspelt value":                   {[]string{"--set", "controller.maxConcurentReconciles=8"}, "maxConcurentReconciles"},
		"bad duration":                     {[]string{"--set", "controller.taskPollInterval=soon"}, "taskPollInterval"},
		"bad log encoder":                  {[]string{"--set", "logging.encoder=xml"}, "encoder"},
		"mirror without its Secret":        {[]string{"--set", "mirror.enabled=true"}, "needs mirror.dsnSecretRef.name"},
		"Redis URL without a key":          {[]string{"--set", "mirror.redisUrlSecretRef.name=redis", "--set", "mirror.redisUrlSecretRef.key="}, "redisUrlSecretRef"},
	} {
		t.Run(name, func(t *testing.T) {
			out, err := runErr(t, "helm", append([]string{"template", "lxctm", chartDir}, tc.flags...)...)
			if err == nil {
				t.Fatalf("helm template accepted %v:\n%.400s", tc.flags, out)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error does not mention %q: %v", tc.want, err)
			}
		})
	}
}

// TestChartDefaultsAreTheManagers shows that installing with default values keeps the manager's
// own defaults for every tuning flag the chart passes.
func TestChartDefaultsAreTheManagers(t *testing.T) {
	d := bundle{helmTemplate(t, "lxctm", controllerNS)}.deployment(t)
	args := managerContainer(t, d).Args
	defaults := managerDefaults(t)
	for _, flag := range []string{"max-concurrent-reconciles", "container-resync-interval", "task-poll-interval", "guest-list-max-age", "ssh-dial-attempts", "metrics-secure"} {
		got, ok := flagValue(args, flag)
		if !ok {
			t.Errorf("the chart does not pass --%s", flag)
			continue
		}
		want, known := defaults[flag]
		if !known {
			t.Errorf("the manager has no flag --%s", flag)
			continue
		}
		if !sameFlagValue(got, want) {
			t.Errorf("--%s: chart default %q, manager default %q", flag, got, want)
		}
	}
}

// envVar returns the container's environment variable name, nil when it has none.
func envVar(c *corev1.Container, name string) *corev1.EnvVar {
	for i := range c.Env {
		if c.Env[i].Name == name {
			return &c.Env[i]
		}
	}
	return nil
}

// fromSecret reports whether v takes its value from the key of the Secret name, and only from there.
func fromSecret(v *corev1.EnvVar, name, key string) bool {
	return v != nil && v.Value == "" && v.ValueFrom != nil && v.ValueFrom.SecretKeyRef != nil &&
		v.ValueFrom.SecretKeyRef.Name == name && v.ValueFrom.SecretKeyRef.Key == key
}
