package packaging

import (
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
)

// bundle is one packaging's rendered objects: the chart's or kustomize's.
type bundle struct {
	objs []*unstructured.Unstructured
}

func convert[T any](t *testing.T, u *unstructured.Unstructured) *T {
	t.Helper()
	out := new(T)
	if err := runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(u.Object, out, true); err != nil {
		t.Fatalf("%s %s: %v", u.GetKind(), u.GetName(), err)
	}
	return out
}

func (b bundle) deployment(t *testing.T) *appsv1.Deployment {
	t.Helper()
	return convert[appsv1.Deployment](t, one(t, b.objs, "Deployment"))
}

// managerContainer returns the Deployment's container named manager.
func managerContainer(t *testing.T, d *appsv1.Deployment) *corev1.Container {
	t.Helper()
	for i := range d.Spec.Template.Spec.Containers {
		if c := &d.Spec.Template.Spec.Containers[i]; c.Name == "manager" {
			return c
		}
	}
	t.Fatalf("Deployment %s has no container named manager", d.Name)
	return nil
}

// flagValue returns the value of the last --name=value among args ("true" for a bare --name), and
// whether it is there. A later flag wins, as in the manager's flag parsing.
func flagValue(args []string, name string) (string, bool) {
	value, found := "", false
	for _, a := range args {
		switch {
		case a == "--"+name || a == "-"+name:
			value, found = "true", true
		case strings.HasPrefix(a, "--"+name+"="):
			value, found = strings.TrimPrefix(a, "--"+name+"="), true
		case strings.HasPrefix(a, "-"+name+"="):
			value, found = strings.TrimPrefix(a, "-"+name+"="), true
		}
	}
	return value, found
}

// portOf returns the port number of a bind address such as ":8443".
func portOf(t *testing.T, addr string) int32 {
	t.Helper()
	i := strings.LastIndex(addr, ":")
	p, err := strconv.Atoi(addr[i+1:])
	if i < 0 || err != nil {
		t.Fatalf("bind address %q has no port", addr)
	}
	return int32(p)
}

// checkDeploymentSecurity asserts what the restricted Pod Security Standard and this project ask of
// the manager Pod.
func checkDeploymentSecurity(t *testing.T, d *appsv1.Deployment) {
	t.Helper()
	pod := d.Spec.Template.Spec
	psc := pod.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot {
		t.Error("pod securityContext.runAsNonRoot is not true")
	}
	if psc == nil || psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Error("pod securityContext.seccompProfile is not RuntimeDefault")
	}
	if pod.HostNetwork || pod.HostPID || pod.HostIPC {
		t.Error("the manager Pod shares a host namespace")
	}
	for _, c := range pod.Containers {
		sc := c.SecurityContext
		if sc == nil {
			t.Errorf("container %s has no securityContext", c.Name)
			continue
		}
		if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
			t.Errorf("container %s: readOnlyRootFilesystem is not true", c.Name)
		}
		if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
			t.Errorf("container %s: allowPrivilegeEscalation is not false", c.Name)
		}
		if sc.Privileged != nil && *sc.Privileged {
			t.Errorf("container %s is privileged", c.Name)
		}
		if sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") || len(sc.Capabilities.Add) > 0 {
			t.Errorf("container %s does not drop all capabilities: %+v", c.Name, sc.Capabilities)
		}
		if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() {
			t.Errorf("container %s lacks CPU/memory requests or a memory limit: %+v", c.Name, c.Resources)
		}
	}
}

// checkManagerContainer asserts that the container runs the image's /manager with leader election,
// probes where the manager serves them, and POD_NAMESPACE from the downward API.
func checkManagerContainer(t *testing.T, d *appsv1.Deployment) {
	t.Helper()
	c := managerContainer(t, d)
	if !reflect.DeepEqual(c.Command, []string{"/manager"}) {
		t.Errorf("command is %q, want [/manager] (the Dockerfile's binary)", c.Command)
	}
	if v, ok := flagValue(c.Args, "leader-elect"); !ok || v != "true" {
		t.Errorf("args %q do not enable --leader-elect", c.Args)
	}
	probeAddr, ok := flagValue(c.Args, "health-probe-bind-address")
	if !ok {
		probeAddr = ":8081"
	}
	probePort := portOf(t, probeAddr)
	for name, p := range map[string]*corev1.Probe{"/healthz": c.LivenessProbe, "/readyz": c.ReadinessProbe} {
		if p == nil || p.HTTPGet == nil {
			t.Errorf("no HTTP probe for %s", name)
			continue
		}
		if p.HTTPGet.Path != name {
			t.Errorf("probe path %s, want %s", p.HTTPGet.Path, name)
		}
		if got := containerPort(t, c, p.HTTPGet.Port.String()); got != probePort {
			t.Errorf("probe %s goes to port %d, the manager serves probes on %d", name, got, probePort)
		}
	}
	var podNS bool
	for _, e := range c.Env {
		if e.Name == "POD_NAMESPACE" && e.ValueFrom != nil && e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "metadata.namespace" {
			podNS = true
		}
	}
	if !podNS {
		t.Error("POD_NAMESPACE does not come from the downward API's metadata.namespace")
	}
}

// containerPort resolves a port name or number against the container's ports.
func containerPort(t *testing.T, c *corev1.Container, port string) int32 {
	t.Helper()
	if n, err := strconv.Atoi(port); err == nil {
		return int32(n)
	}
	for _, p := range c.Ports {
		if p.Name == port {
			return p.ContainerPort
		}
	}
	t.Errorf("container %s has no port named %q", c.Name, port)
	return 0
}

// checkMetricsService asserts that a Service selects the manager Pods and reaches the port the
// manager serves metrics on, and returns the Service's port name.
func checkMetricsService(t *testing.T, b bundle) *corev1.Service {
	t.Helper()
	d := b.deployment(t)
	svc := convert[corev1.Service](t, one(t, b.objs, "Service"))
	if svc.Namespace != d.Namespace {
		t.Errorf("metrics Service in namespace %q, Deployment in %q", svc.Namespace, d.Namespace)
	}
	if !labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(d.Spec.Template.Labels)) || len(svc.Spec.Selector) == 0 {
		t.Errorf("metrics Service selector %v does not select the manager Pods %v", svc.Spec.Selector, d.Spec.Template.Labels)
	}
	c := managerContainer(t, d)
	addr, ok := flagValue(c.Args, "metrics-bind-address")
	if !ok {
		addr = ":8443"
	}
	if len(svc.Spec.Ports) != 1 {
		t.Fatalf("metrics Service has %d ports, want 1", len(svc.Spec.Ports))
	}
	if got, want := containerPort(t, c, svc.Spec.Ports[0].TargetPort.String()), portOf(t, addr); got != want {
		t.Errorf("metrics Service targets port %d, the manager serves metrics on %d", got, want)
	}
	return svc
}

// allows says whether rules grant verb on group/resource.
func allows(rules []rbacv1.PolicyRule, group, resource, verb string) bool {
	for _, r := range rules {
		if (slices.Contains(r.APIGroups, group) || slices.Contains(r.APIGroups, "*")) &&
			(slices.Contains(r.Resources, resource) || slices.Contains(r.Resources, "*")) &&
			(slices.Contains(r.Verbs, verb) || slices.Contains(r.Verbs, "*")) {
			return true
		}
	}
	return false
}

// generatedManagerRules are the rules controller-gen wrote to config/rbac/role.yaml.
func generatedManagerRules(t *testing.T) []rbacv1.PolicyRule {
	t.Helper()
	role := convert[rbacv1.ClusterRole](t, readObject(t, managerRoleFile))
	if len(role.Rules) == 0 {
		t.Fatalf("%s has no rules", managerRoleFile)
	}
	return role.Rules
}

// boundRules returns the rules of every role bound to the service account, by binding kind.
func (b bundle) boundRules(t *testing.T, saNamespace, saName string) (cluster [][]rbacv1.PolicyRule, namespaced [][]rbacv1.PolicyRule) {
	t.Helper()
	bindsSA := func(subjects []rbacv1.Subject) bool {
		for _, s := range subjects {
			if s.Kind == "ServiceAccount" && s.Name == saName && s.Namespace == saNamespace {
				return true
			}
		}
		return false
	}
	for _, u := range only(b.objs, "ClusterRoleBinding") {
		crb := convert[rbacv1.ClusterRoleBinding](t, u)
		if !bindsSA(crb.Subjects) {
			continue
		}
		role := named(b.objs, "ClusterRole", crb.RoleRef.Name)
		if crb.RoleRef.Kind != "ClusterRole" || role == nil {
			t.Errorf("ClusterRoleBinding %s refers to %s %s, which the bundle lacks", crb.Name, crb.RoleRef.Kind, crb.RoleRef.Name)
			continue
		}
		cluster = append(cluster, convert[rbacv1.ClusterRole](t, role).Rules)
	}
	for _, u := range only(b.objs, "RoleBinding") {
		rb := convert[rbacv1.RoleBinding](t, u)
		if !bindsSA(rb.Subjects) {
			continue
		}
		if rb.Namespace != saNamespace {
			t.Errorf("RoleBinding %s is in namespace %q, not the manager's %q", rb.Name, rb.Namespace, saNamespace)
		}
		var role *unstructured.Unstructured
		for _, r := range only(b.objs, "Role") {
			if r.GetName() == rb.RoleRef.Name && r.GetNamespace() == rb.Namespace {
				role = r
			}
		}
		if rb.RoleRef.Kind != "Role" || role == nil {
			t.Errorf("RoleBinding %s refers to %s %s, which the bundle lacks", rb.Name, rb.RoleRef.Kind, rb.RoleRef.Name)
			continue
		}
		namespaced = append(namespaced, convert[rbacv1.Role](t, role).Rules)
	}
	return cluster, namespaced
}

// checkRBAC asserts that the Deployment's service account exists, is bound to exactly the generated
// manager rules, may hold its leader-election lease in its own namespace, and may check metrics
// callers; and that a metrics-reader role exists for scrapers.
func checkRBAC(t *testing.T, b bundle) {
	t.Helper()
	d := b.deployment(t)
	saName := d.Spec.Template.Spec.ServiceAccountName
	sa := named(b.objs, "ServiceAccount", saName)
	if sa == nil || sa.GetNamespace() != d.Namespace {
		t.Fatalf("ServiceAccount %s/%s used by the Deployment is not in the bundle", d.Namespace, saName)
	}
	want := generatedManagerRules(t)
	cluster, namespaced := b.boundRules(t, d.Namespace, saName)
	var managerBound, metricsAuth bool
	for _, rules := range cluster {
		if reflect.DeepEqual(rules, want) {
			managerBound = true
		}
		if allows(rules, "authentication.k8s.io", "tokenreviews", "create") && allows(rules, "authorization.k8s.io", "subjectaccessreviews", "create") {
			metricsAuth = true
		}
		if allows(rules, "coordination.k8s.io", "leases", "create") {
			t.Error("the manager may write Leases cluster-wide; leader election needs them only in its namespace")
		}
	}
	if !managerBound {
		t.Errorf("no ClusterRole bound to %s has exactly the rules of %s", saName, managerRoleFile)
	}
	if !metricsAuth {
		t.Error("no ClusterRole bound to the manager allows tokenreviews and subjectaccessreviews create (secure metrics)")
	}
	var lease bool
	for _, rules := range namespaced {
		if allows(rules, "coordination.k8s.io", "leases", "create") && allows(rules, "coordination.k8s.io", "leases", "update") &&
			allows(rules, "coordination.k8s.io", "leases", "get") {
			lease = true
		}
	}
	if !lease {
		t.Error("no Role in the manager's namespace lets it get, create and update its Lease")
	}
	var reader bool
	for _, u := range only(b.objs, "ClusterRole") {
		for _, r := range convert[rbacv1.ClusterRole](t, u).Rules {
			if slices.Contains(r.NonResourceURLs, "/metrics") && slices.Contains(r.Verbs, "get") {
				reader = true
			}
		}
	}
	if !reader {
		t.Error("no ClusterRole grants get on /metrics for scrapers")
	}
}
