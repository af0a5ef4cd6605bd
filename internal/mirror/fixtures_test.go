package mirror

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
)

// Secret values the fixtures create; none of them may ever reach the database.
const (
	fileSecretValue     = "file-secret-9f3b2c7d1e"
	rootPasswordValue   = "root-password-4a8e6c0b"
	credentialsValue    = "service-token-7d2f9a1c"
	envFromSecretValue  = "env-from-secret-5c1e8b3a"
	configMapScriptBody = "#!/bin/sh\necho from-configmap\n"
)

type fixture struct {
	ns        string
	aptBucket *lxcv1.PackageBucket
	apkBucket *lxcv1.PackageBucket
	template  *lxcv1.LXCTemplate
	container *lxcv1.LXCContainer
	secrets   []string
}

// createFixture creates, in ns, what a provisioned container leaves in a cluster: two buckets,
// a template using every section, a container with a provisioned status, and the Secrets the
// template, the container and the controller hold.
func createFixture(t *testing.T, ns string) *fixture {
	t.Helper()
	ctx := context.Background()
	f := &fixture{ns: ns, secrets: []string{fileSecretValue, rootPasswordValue, credentialsValue, envFromSecretValue}}
	for name, value := range map[string]string{"file-secret": fileSecretValue, "web-1-root-password": rootPasswordValue,
		"web-1-credentials": credentialsValue, "env-secret": envFromSecretValue} {
		must(t, k8s.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
			StringData: map[string]string{"value": value, "password": value}}))
	}
	must(t, k8s.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "scripts"},
		Data: map[string]string{"setup.sh": configMapScriptBody}}))

	f.aptBucket = &lxcv1.PackageBucket{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web-base"},
		Spec: lxcv1.PackageBucketSpec{Description: "Web basics", Manager: lxcv1.PackageManagerApt,
			Packages: []lxcv1.PackageName{"nginx", "curl=7.88.1-10+deb12u8"}}}
	f.apkBucket = &lxcv1.PackageBucket{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "alpine-tools"},
		Spec: lxcv1.PackageBucketSpec{Manager: lxcv1.PackageManagerApk, Packages: []lxcv1.PackageName{"busybox-extras", "jq=1.7.1-r0"}}}
	must(t, k8s.Create(ctx, f.aptBucket))
	must(t, k8s.Create(ctx, f.apkBucket))

	f.template = &lxcv1.LXCTemplate{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web"},
		Spec: lxcv1.LXCTemplateSpec{
			Description: "Debian 12 web server",
			Tags:        []lxcv1.Tag{"web", "debian"},
			OSTemplate:  "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst",
			Resources:   lxcv1.Resources{Cores: ptr.To[int32](2), MemoryMiB: ptr.To[int32](1024), SwapMiB: ptr.To[int32](256), DiskGiB: ptr.To[int32](8)},
			Storage:     "local-lvm",
			Features:    lxcv1.Features{Nesting: true},
			Network:     lxcv1.Network{Bridge: "vmbr0", IPv4: "dhcp"},
			Packages: []lxcv1.PackageList{{Manager: lxcv1.PackageManagerPip, Names: []lxcv1.PackageName{"requests==2.32.3"}},
				{Manager: lxcv1.PackageManagerNpm, Names: []lxcv1.PackageName{"@scope/tool@1.2.3"}}},
			PackageBucketRefs: []lxcv1.LocalObjectReference{{Name: "web-base"}, {Name: "alpine-tools"}},
			Scripts: []lxcv1.Script{
				{Name: "page", Content: ptr.To("#!/bin/sh\necho page\n")},
				{Name: "setup", ConfigMapRef: &lxcv1.KeySelector{Name: "scripts", Key: "setup.sh"}},
			},
			Files: []lxcv1.ManagedFile{
				{Path: "/etc/motd", Content: ptr.To("Managed by LXC Template Manager\n"), Policy: lxcv1.FilePolicyBackup},
				{Path: "/etc/app/token", SecretRef: &lxcv1.KeySelector{Name: "file-secret", Key: "value"}},
			},
			Services: []lxcv1.ServicePromise{{Name: "nginx", Port: 80, Protocol: lxcv1.ProtocolTCP}},
		}}
	must(t, k8s.Create(ctx, f.template))

	f.container = &lxcv1.LXCContainer{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web-1", Labels: map[string]string{"team": "web"}},
		Spec: lxcv1.LXCContainerSpec{
			ClusterRef:  lxcv1.ClusterReference{Name: "pve"},
			TemplateRef: lxcv1.LocalObjectReference{Name: "web"},
			Config: &lxcv1.ContainerConfig{
				Env:     []lxcv1.EnvVar{{Name: "SITE", Value: "hello"}},
				EnvFrom: []lxcv1.EnvFromSource{{SecretRef: &lxcv1.LocalObjectReference{Name: "env-secret"}}},
			},
		}}
	must(t, k8s.Create(ctx, f.container))
	setContainerStatus(t, f.container, func(st *lxcv1.LXCContainerStatus) {
		st.Phase = "Ready"
		st.VMID = 101
		st.Node = "pve1"
		st.IPAddress = "169.254.10.11"
		st.Services = []lxcv1.DiscoveredService{
			{Name: "nginx", Port: 80, Protocol: lxcv1.ProtocolTCP, Address: "0.0.0.0", Process: "nginx", Unit: "nginx.service", URL: "http://169.254.10.11:80"},
			{Name: "ssh", Port: 22, Protocol: lxcv1.ProtocolTCP, Address: "0.0.0.0", Process: "sshd", Unit: "ssh.service"},
		}
		st.Scripts = []lxcv1.ScriptStatus{{Name: "page", ExitCode: ptr.To[int32](0)}}
		st.CredentialsSecretRef = &lxcv1.LocalObjectReference{Name: "web-1-credentials"}
		st.RootPasswordSecretRef = &lxcv1.KeySelector{Name: "web-1-root-password", Key: "password"}
		apimeta.SetStatusCondition(&st.Conditions, metav1.Condition{Type: lxcv1.ReadyCondition,
			Status: metav1.ConditionTrue, Reason: lxcv1.SucceededReason, Message: "Provisioned"})
	})
	return f
}

// setContainerStatus changes a container's status as the controller would.
func setContainerStatus(t *testing.T, c *lxcv1.LXCContainer, change func(*lxcv1.LXCContainerStatus)) {
	t.Helper()
	ctx := context.Background()
	for {
		must(t, k8s.Get(ctx, keyOf(c), c))
		change(&c.Status)
		err := k8s.Status().Update(ctx, c)
		if err == nil {
			return
		}
		if !isConflict(err) {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
