package e2e

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fluxcd/pkg/runtime/conditions"
	gossh "golang.org/x/crypto/ssh"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/controller-runtime/pkg/client"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
	"templatemanager.dev/lxc-template-manager/internal/proxmox"
	"templatemanager.dev/lxc-template-manager/internal/pvesim/lxc/lxctest"
	"templatemanager.dev/lxc-template-manager/internal/testkit"
)

const debianTemplate = "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst"

func str(s string) *string { return &s }

// webTemplate is the template of the end-to-end tests: hello-web from the local repository
// through a bucket, two scripts (the second writes a credentials file), one managed file per
// policy, a config env, and the promised hello-web service.
func (s *stack) webTemplate(ns, name string, extraScripts ...lxcv1.Script) *lxcv1.LXCTemplate {
	scripts := append([]lxcv1.Script{
		{Name: "page", Content: str("#!/bin/sh\nset -eu\nmkdir -p /var/www/hello\nprintf '<h1>%s</h1>\\n' \"$SITE_TITLE\" > /var/www/hello/index.html\necho \"page written for $SITE_TITLE\"\n")},
		{Name: "credentials", Content: str("#!/bin/sh\nset -eu\numask 077\ntoken=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \\n')\nprintf 'HELLO_WEB_TOKEN=%s\\n' \"$token\" > /etc/config-manager/credentials/hello-web.env\necho credentials written\n")},
	}, extraScripts...)
	return &lxcv1.LXCTemplate{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: lxcv1.LXCTemplateSpec{
			Description:       "hello-web from the local repository",
			Tags:              []lxcv1.Tag{"web"},
			OSTemplate:        debianTemplate,
			Resources:         lxcv1.Resources{Cores: ptr(int32(1)), MemoryMiB: ptr(int32(512)), DiskGiB: ptr(int32(2))},
			Features:          lxcv1.Features{Nesting: true},
			Network:           lxcv1.Network{IPv4: "dhcp"},
			PackageBucketRefs: []lxcv1.LocalObjectReference{{Name: "web"}},
			Config:            lxcv1.ConfigSource{Env: []lxcv1.EnvVar{{Name: "SITE_TITLE", Value: "from the template"}, {Name: "GREETING", Value: "hello $world \"quoted\""}}},
			Files: []lxcv1.ManagedFile{
				{Path: "/etc/apt/sources.list", Content: str("deb [trusted=yes] " + s.repoURL + " ./\n"), Policy: lxcv1.FilePolicyReplace},
				{Path: "/etc/motd", Content: str("managed motd\n"), Policy: lxcv1.FilePolicyDefault},
				{Path: "/etc/issue", Content: str("managed issue\n"), Policy: lxcv1.FilePolicyBackup, Mode: "0640"},
			},
			Scripts:  scripts,
			Services: []lxcv1.ServicePromise{{Name: "hello-web", Port: 8080, Protocol: lxcv1.ProtocolTCP}},
		},
	}
}

func webBucket(ns string) *lxcv1.PackageBucket {
	return &lxcv1.PackageBucket{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web"},
		Spec: lxcv1.PackageBucketSpec{Manager: lxcv1.PackageManagerApt,
			// ca-certificates is already installed and not in the local repository: installing it
			// must succeed without a network.
			Packages: []lxcv1.PackageName{"hello-web", "ca-certificates"}},
	}
}

func ptr[T any](v T) *T { return &v }

func TestPipelineProvisionsAndDeletesContainers(t *testing.T) {
	t.Parallel()
	// The status mirror follows the whole pipeline; the API server expires Events early so the
	// test sees the mirror keep them.
	s := startStackWith(t, stackOptions{apiserverArgs: []string{"--event-ttl=" + eventTTL.String()}})
	db := newMirrorDB(t)
	s.managerArgs = []string{"--mirror"}
	s.managerEnv = []string{"LXCTM_MIRROR_DSN=" + db.dsn}
	// And the live progress feed, as the dashboard's progress page listens to it.
	feed := startLiveFeed(t, s)
	s.startManager(t)
	ctx := context.Background()
	ns := "e2e"
	signer := lxctest.NewSigner(t)
	userKey := strings.TrimSpace(string(gossh.MarshalAuthorizedKey(signer.PublicKey()))) + " e2e@test"
	const apiKey = "s3cr3t-api-key-value"
	// The failing script prints a value it has from a Secret through envFrom: as it is,
	// base64-encoded, percent-encoded (as jq @uri does) and inside JSON.
	const boomKey = `boom k3y/from+a"secret`
	encoded := map[string]string{
		"base64": base64.StdEncoding.EncodeToString([]byte(boomKey)),
		"uri":    "boom%20k3y%2Ffrom%2Ba%22secret",
		"json":   `{"key":"boom k3y/from+a\"secret"}`,
	}
	failing := s.webTemplate(ns, "failing", lxcv1.Script{Name: "boom", Content: str(`#!/bin/sh
echo first line
echo "the key is $BOOM_KEY"
printf 'base64 %s\n' "$(printf %s "$BOOM_KEY" | base64 -w0)"
uri=; rest=$BOOM_KEY
while [ -n "$rest" ]; do
  c=${rest%"${rest#?}"}; rest=${rest#?}
  case $c in [A-Za-z0-9._~-]) uri=$uri$c ;; *) uri=$uri$(printf '%%%02X' "'$c") ;; esac
done
echo "uri $uri"
printf '{"key":"%s"}\n' "$(printf %s "$BOOM_KEY" | sed 's/\\/\\\\/g; s/"/\\"/g')"
echo second line
echo "it went boom with $BOOM_KEY" >&2
exit 3
`)})
	failing.Spec.Services = nil
	s.create(t,
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web-1-env"}, Data: map[string][]byte{"API_KEY": []byte(apiKey)}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "bad-1-env"}, Data: map[string][]byte{"BOOM_KEY": []byte(boomKey)}},
		webBucket(ns), s.webTemplate(ns, "web"), failing,
		&lxcv1.LXCContainer{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web-1"},
			Spec: lxcv1.LXCContainerSpec{
				ClusterRef: lxcv1.ClusterReference{Name: "pve"}, TemplateRef: lxcv1.LocalObjectReference{Name: "web"},
				SSHPublicKeys: []lxcv1.SSHPublicKey{lxcv1.SSHPublicKey(userKey)},
				Config: &lxcv1.ContainerConfig{
					Env:     []lxcv1.EnvVar{{Name: "SITE_TITLE", Value: "web-1 says hi"}},
					EnvFrom: []lxcv1.EnvFromSource{{SecretRef: &lxcv1.LocalObjectReference{Name: "web-1-env"}}},
				},
			},
		},
		&lxcv1.LXCContainer{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "bad-1"},
			Spec: lxcv1.LXCContainerSpec{
				ClusterRef: lxcv1.ClusterReference{Name: "pve"}, TemplateRef: lxcv1.LocalObjectReference{Name: "failing"},
				Network:       &lxcv1.Network{IPv4: s.staticAddress().String() + "/24", Gateway: s.gateway().String()},
				SSHPublicKeys: []lxcv1.SSHPublicKey{lxcv1.SSHPublicKey(userKey)},
				Config: &lxcv1.ContainerConfig{
					EnvFrom: []lxcv1.EnvFromSource{{SecretRef: &lxcv1.LocalObjectReference{Name: "bad-1-env"}}},
				},
			},
		},
	)

	// kstatus sees a provisioning container as InProgress.
	testkit.Eventually(t, 2*time.Minute, func() error {
		res, err := s.kstatus(ctx, ns, "web-1")
		if err != nil {
			return err
		}
		if res.Status != status.InProgressStatus {
			return fmt.Errorf("kstatus of a provisioning container is %s", res.Status)
		}
		return nil
	})

	// kubectl wait, as users and CI pipelines do.
	if out, err := s.cp.TryKubectl("-n", ns, "wait", "--for=condition=Ready", "--timeout=5m", "lxcc/web-1"); err != nil {
		dumpContainer(t, s, ns, "web-1")
		t.Fatalf("kubectl wait: %v\n%s", err, out)
	}
	res, err := s.kstatus(ctx, ns, "web-1")
	if err != nil || res.Status != status.CurrentStatus {
		t.Errorf("kstatus of a Ready container: %+v, %v", res, err)
	}

	web := &lxcv1.LXCContainer{}
	if err := s.k8s.Get(ctx, types.NamespacedName{Namespace: ns, Name: "web-1"}, web); err != nil {
		t.Fatal(err)
	}
	feed.checkPhasesInOrder(t, string(web.UID), "web-1")
	for _, c := range []string{lxcv1.ContainerCreatedCondition, lxcv1.ContainerStartedCondition, lxcv1.ConfigManagerDeployedCondition,
		lxcv1.ScriptsCompletedCondition, lxcv1.ServicesDiscoveredCondition, lxcv1.ReadyCondition} {
		if !conditions.IsTrue(web, c) {
			t.Errorf("%s is not True: %+v", c, conditions.Get(web, c))
		}
	}
	if web.Status.ObservedGeneration != web.Generation || web.Status.Phase != "Ready" {
		t.Errorf("observedGeneration %d (generation %d), phase %q", web.Status.ObservedGeneration, web.Generation, web.Status.Phase)
	}
	i := slices.IndexFunc(web.Status.Services, func(d lxcv1.DiscoveredService) bool { return d.Port == 8080 })
	if i < 0 {
		t.Fatalf("status.services lacks port 8080: %+v", web.Status.Services)
	}
	svc := web.Status.Services[i]
	if svc.Unit != "hello-web.service" || svc.Name != "hello-web" || svc.Protocol != lxcv1.ProtocolTCP || svc.URL == "" {
		t.Errorf("hello-web service: %+v", svc)
	}
	// The service answers at the URL status gives, with the page the first script wrote.
	page := httpGet(t, svc.URL)
	if !strings.Contains(page, "web-1 says hi") {
		t.Errorf("the service at %s answered %q", svc.URL, page)
	}

	// Inside the container.
	sh := dialContainer(t, web.Status.IPAddress, signer)
	expect := func(cmd, want string) {
		t.Helper()
		out := run1(t, sh, cmd)
		if strings.TrimSpace(out) != want {
			t.Errorf("%s: got %q, want %q", cmd, out, want)
		}
	}
	expect("systemctl is-enabled config-manager.service", "enabled")
	expect("systemctl show -p Result --value config-manager.service", "success")
	expect("systemctl is-active config-manager.service", "active")
	env := run1(t, sh, "cat /etc/config-manager/config.env")
	for _, want := range []string{`SITE_TITLE="web-1 says hi"`, `GREETING="hello \$world \"quoted\""`, `API_KEY="` + apiKey + `"`} {
		if !strings.Contains(env, want) {
			t.Errorf("config.env lacks %s:\n%s", want, env)
		}
	}
	expect("stat -c %a /etc/config-manager/config.env", "600")
	expect("cat /etc/apt/sources.list", "deb [trusted=yes] "+s.repoURL+" ./")
	if motd := run1(t, sh, "cat /etc/motd"); strings.Contains(motd, "managed motd") || !strings.Contains(motd, "Debian") {
		t.Errorf("policy default overwrote the existing /etc/motd: %q", motd)
	}
	expect("cat /etc/issue", "managed issue")
	expect("stat -c %a /etc/issue", "640")
	if bak := run1(t, sh, "cat /etc/issue.bak"); !strings.Contains(bak, "Debian GNU/Linux") {
		t.Errorf("policy backup did not keep the old /etc/issue: %q", bak)
	}
	expect("dpkg-query -W -f '${Status}' hello-web", "install ok installed")
	expect("systemctl is-active hello-web.service", "active")
	fileToken := strings.TrimPrefix(strings.TrimSpace(run1(t, sh, "cat /etc/config-manager/credentials/hello-web.env")), "HELLO_WEB_TOKEN=")

	// In Kubernetes: the credentials Secret holds what the script wrote; the root password
	// Secret exists.
	creds := &corev1.Secret{}
	if err := s.k8s.Get(ctx, types.NamespacedName{Namespace: ns, Name: "web-1-credentials"}, creds); err != nil {
		t.Fatal(err)
	}
	if got := string(creds.Data["HELLO_WEB_TOKEN"]); got == "" || got != fileToken {
		t.Errorf("credentials Secret HELLO_WEB_TOKEN = %q, the file says %q", got, fileToken)
	}
	if web.Status.CredentialsSecretRef == nil || web.Status.CredentialsSecretRef.Name != "web-1-credentials" {
		t.Errorf("status.credentialsSecretRef = %+v", web.Status.CredentialsSecretRef)
	}
	rootPassword := &corev1.Secret{}
	if err := s.k8s.Get(ctx, types.NamespacedName{Namespace: ns, Name: "web-1-root-password"}, rootPassword); err != nil {
		t.Fatal(err)
	}
	password := string(rootPassword.Data["password"])
	if len(password) != 16 {
		t.Errorf("root password has %d characters", len(password))
	}

	// The failing container: the script is named with its exit code and last lines, and is
	// not run again.
	bad := &lxcv1.LXCContainer{}
	testkit.Eventually(t, 4*time.Minute, func() error {
		if err := s.k8s.Get(ctx, types.NamespacedName{Namespace: ns, Name: "bad-1"}, bad); err != nil {
			return err
		}
		c := conditions.Get(bad, lxcv1.ScriptsCompletedCondition)
		if c == nil || c.Status != metav1.ConditionFalse || c.Reason != lxcv1.ScriptFailedReason {
			return fmt.Errorf("ScriptsCompleted: %+v", c)
		}
		return nil
	})
	feed.checkStall(t, string(bad.UID), "bad-1", lxcv1.ScriptFailedReason)
	msg := conditions.GetMessage(bad, lxcv1.ScriptsCompletedCondition)
	// The rest of the output stays; the Secret's value is redacted.
	t.Logf("ScriptsCompleted of bad-1: %s", msg)
	for _, want := range []string{"script boom", "exited 3", "second line", "it went boom with [redacted]", "base64 [redacted]", "uri [redacted]", `{"key":"[redacted]"}`} {
		if !strings.Contains(msg, want) {
			t.Errorf("ScriptsCompleted message lacks %q: %q", want, msg)
		}
	}
	if !conditions.IsStalled(bad) || bad.Status.IPAddress != s.staticAddress().String() {
		t.Errorf("bad-1: stalled %v, address %s", conditions.IsStalled(bad), bad.Status.IPAddress)
	}
	boom := bad.Status.Scripts[slices.IndexFunc(bad.Status.Scripts, func(sc lxcv1.ScriptStatus) bool { return sc.Name == "boom" })]
	if boom.ExitCode == nil || *boom.ExitCode != 3 || boom.StartedAt == nil || boom.FinishedAt == nil || !strings.Contains(boom.OutputTail, "second line") ||
		!strings.Contains(boom.OutputTail, "the key is [redacted]") {
		t.Errorf("status.scripts[boom] = %+v", boom)
	}
	badOutput := run1(t, dialContainer(t, bad.Status.IPAddress, signer), "cat /var/lib/config-manager/runs/*boom*/output.log")
	if !strings.Contains(badOutput, boomKey) {
		t.Error("the script did not print the value: the redaction test proves nothing")
	}
	for form, value := range encoded {
		if !strings.Contains(badOutput, value) {
			t.Errorf("the script did not print the value's %s form %q: the redaction test proves nothing for it\n%s", form, value, badOutput)
		}
	}
	if kept := run1(t, dialContainer(t, bad.Status.IPAddress, signer), "ls /var/lib/config-manager/runs/*boom*/env 2>/dev/null || echo gone"); strings.TrimSpace(kept) != "gone" {
		t.Errorf("the run's environment file is still in the guest: %q", kept)
	}
	// Give a hot loop every chance to show itself, then check nothing ran again.
	badSh := dialContainer(t, bad.Status.IPAddress, signer)
	runsBefore := run1(t, badSh, "ls /var/lib/config-manager/runs | sort; cat /var/lib/config-manager/runs/*boom*/started-at")
	time.Sleep(15 * time.Second)
	runsAfter := run1(t, badSh, "ls /var/lib/config-manager/runs | sort; cat /var/lib/config-manager/runs/*boom*/started-at")
	if runsBefore != runsAfter {
		t.Errorf("the failed script ran again:\nbefore %s\nafter %s", runsBefore, runsAfter)
	}
	if err := s.k8s.Get(ctx, client.ObjectKeyFromObject(bad), bad); err != nil {
		t.Fatal(err)
	}
	if again := bad.Status.Scripts[slices.IndexFunc(bad.Status.Scripts, func(sc lxcv1.ScriptStatus) bool { return sc.Name == "boom" })]; !again.StartedAt.Equal(boom.StartedAt) {
		t.Errorf("boom restarted at %v (first at %v)", again.StartedAt, boom.StartedAt)
	}
	if n := countEvents(t, s, ns, "bad-1", lxcv1.ScriptFailedReason); n != 1 {
		t.Errorf("%d ScriptFailed events, want 1", n)
	}
	// A user can ask for the retry without changing the spec.
	s.cp.Kubectl(t, "-n", ns, "annotate", "lxcc/bad-1", "--overwrite", lxcv1.ReconcileRequestAnnotation+"=retry-1")
	testkit.Eventually(t, time.Minute, func() error {
		if err := s.k8s.Get(ctx, client.ObjectKeyFromObject(bad), bad); err != nil {
			return err
		}
		i := slices.IndexFunc(bad.Status.Scripts, func(sc lxcv1.ScriptStatus) bool { return sc.Name == "boom" })
		if bad.Status.LastHandledReconcileAt != "retry-1" || i < 0 || bad.Status.Scripts[i].StartedAt.Equal(boom.StartedAt) ||
			bad.Status.Scripts[i].ExitCode == nil {
			return fmt.Errorf("boom not retried yet: lastHandledReconcileAt %q", bad.Status.LastHandledReconcileAt)
		}
		return nil
	})
	if !strings.Contains(run1(t, badSh, "cat /var/lib/config-manager/runs/*boom*/output.log"), "second line") {
		t.Error("the retried run left no output")
	}

	// One Proxmox container per LXCContainer, never a second create.
	if guests, err := s.px.Guests(ctx); err != nil || len(guests) != 2 {
		t.Errorf("Proxmox holds %d containers (%v), want 2", len(guests), err)
	}

	// No secret value appears in status, Events or the manager's logs.
	secrets := map[string]string{"root password": password, "API key": apiKey, "script credentials": fileToken, "Proxmox token": s.token,
		"value a failed script printed": boomKey, "value printed base64-encoded": encoded["base64"],
		"value printed percent-encoded": encoded["uri"], "value printed inside JSON": strings.TrimSuffix(strings.TrimPrefix(encoded["json"], `{"key":"`), `"}`)}
	var everything strings.Builder
	everything.WriteString(s.cp.Kubectl(t, "get", "lxcc,lxct,pkgb,pvec", "-A", "-o", "yaml"))
	everything.WriteString(s.cp.Kubectl(t, "get", "events", "-A", "-o", "yaml"))
	logs := s.logs(t)
	if !strings.Contains(everything.String(), "the key is [redacted]") {
		t.Error("the failed script's output is not in objects or Events")
	}
	for what, value := range secrets {
		if strings.Contains(everything.String(), value) {
			t.Errorf("the %s appears in objects or Events", what)
		}
		if strings.Contains(logs, value) {
			t.Errorf("the %s appears in the manager's logs", what)
		}
	}

	checkMirrorOfPipeline(t, s, db, ns, secrets)

	testKeyRotation(t, s, ns, []string{"web-1", "bad-1"})

	// kubectl delete destroys the Proxmox container and removes the finalizer.
	vmid := int(web.Status.VMID)
	if out, err := s.cp.TryKubectl("-n", ns, "delete", "lxcc/web-1", "--timeout=3m"); err != nil {
		t.Fatalf("kubectl delete: %v\n%s", err, out)
	}
	if s.hasGuest(t, vmid) {
		t.Errorf("CT %d is still in pvesim after kubectl delete", vmid)
	}

	// With deletionPolicy Retain the container stays.
	badVMID := int(bad.Status.VMID)
	s.cp.Kubectl(t, "-n", ns, "patch", "lxcc/bad-1", "--type=merge", "-p", `{"spec":{"deletionPolicy":"Retain"}}`)
	if out, err := s.cp.TryKubectl("-n", ns, "delete", "lxcc/bad-1", "--timeout=2m"); err != nil {
		t.Fatalf("kubectl delete: %v\n%s", err, out)
	}
	if !s.hasGuest(t, badVMID) {
		t.Errorf("CT %d was destroyed although deletionPolicy is Retain", badVMID)
	}
	checkMirrorAfterDeletes(t, s, db, ns)
}

func (s *stack) hasGuest(t testing.TB, vmid int) bool {
	t.Helper()
	guests, err := s.px.Guests(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return slices.ContainsFunc(guests, func(g proxmox.Guest) bool { return g.VMID == vmid })
}

// kstatus computes the kstatus of an LXCContainer as Flux and kpt do.
func (s *stack) kstatus(ctx context.Context, ns, name string) (*status.Result, error) {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(lxcv1.GroupVersion.WithKind("LXCContainer"))
	if err := s.k8s.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, u); err != nil {
		return nil, err
	}
	return status.Compute(u)
}

func httpGet(t testing.TB, url string) string {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return string(body)
}

func dialContainer(t testing.TB, addr string, signer gossh.Signer) *gossh.Client {
	t.Helper()
	c, err := gossh.Dial("tcp", addr+":22", &gossh.ClientConfig{
		User: "root", Auth: []gossh.AuthMethod{gossh.PublicKeys(signer)},
		HostKeyCallback: gossh.InsecureIgnoreHostKey(), Timeout: 10 * time.Second,
	})
	if err != nil {
		t.Fatalf("ssh %s: %v", addr, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func run1(t testing.TB, c *gossh.Client, cmd string) string {
	t.Helper()
	sess, err := c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	out, err := sess.CombinedOutput(cmd)
	if err != nil {
		t.Fatalf("%s: %v\n%s", cmd, err, out)
	}
	return string(out)
}

func countEvents(t testing.TB, s *stack, ns, name, reason string) int {
	t.Helper()
	list := &corev1.EventList{}
	if err := s.k8s.List(context.Background(), list, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range list.Items {
		if e.InvolvedObject.Name == name && e.Reason == reason {
			n += max(1, int(e.Count))
		}
	}
	return n
}

func dumpContainer(t testing.TB, s *stack, ns, name string) {
	out, _ := s.cp.TryKubectl("-n", ns, "get", "lxcc", name, "-o", "yaml")
	t.Logf("%s", out)
	out, _ = s.cp.TryKubectl("-n", ns, "get", "events")
	t.Logf("%s", out)
}

// testKeyRotation rotates the controller's SSH key of cluster pve while web-1 is Ready: the
// containers get the new key, the old one stops logging in, web-1 stays Ready throughout and
// the old key leaves the Secret.
func testKeyRotation(t testing.TB, s *stack, ns string, containers []string) {
	t.Helper()
	ctx := context.Background()
	const keySecret = "lxc-template-manager-ssh-key-pve"
	signerIn := func(secret *corev1.Secret, key string) gossh.Signer {
		t.Helper()
		signer, err := gossh.ParsePrivateKey(secret.Data[key])
		if err != nil {
			t.Fatalf("Secret %s key %s: %v", keySecret, key, err)
		}
		return signer
	}
	secret := &corev1.Secret{}
	if err := s.k8s.Get(ctx, types.NamespacedName{Namespace: s.namespace, Name: keySecret}, secret); err != nil {
		t.Fatal(err)
	}
	oldKey := signerIn(secret, "id_ed25519")
	web := &lxcv1.LXCContainer{}
	if err := s.k8s.Get(ctx, types.NamespacedName{Namespace: ns, Name: "web-1"}, web); err != nil {
		t.Fatal(err)
	}
	if got, want := web.Status.SSHKeyFingerprint, gossh.FingerprintSHA256(oldKey.PublicKey()); got != want {
		t.Fatalf("web-1 trusts %s, the key Secret holds %s", got, want)
	}
	dialContainer(t, web.Status.IPAddress, oldKey).Close()

	s.cp.Kubectl(t, "-n", s.namespace, "annotate", "secret/"+keySecret, "--overwrite", "lxc.templatemanager.dev/rotate-ssh-key=e2e-1")
	var newKey gossh.Signer
	notReady := ""
	testkit.Eventually(t, 3*time.Minute, func() error {
		if err := s.k8s.Get(ctx, types.NamespacedName{Namespace: ns, Name: "web-1"}, web); err != nil {
			return err
		}
		if !conditions.IsReady(web) && notReady == "" {
			notReady = fmt.Sprintf("%+v", conditions.Get(web, lxcv1.ReadyCondition))
		}
		if err := s.k8s.Get(ctx, types.NamespacedName{Namespace: s.namespace, Name: keySecret}, secret); err != nil {
			return err
		}
		if secret.Annotations["lxc.templatemanager.dev/ssh-key-rotated"] != "e2e-1" {
			return fmt.Errorf("the rotation was not started: annotations %v", secret.Annotations)
		}
		newKey = signerIn(secret, "id_ed25519")
		want := gossh.FingerprintSHA256(newKey.PublicKey())
		for _, name := range containers {
			c := &lxcv1.LXCContainer{}
			if err := s.k8s.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, c); err != nil {
				return err
			}
			if c.Status.SSHKeyFingerprint != want {
				return fmt.Errorf("%s trusts %s, not yet the new key %s", name, c.Status.SSHKeyFingerprint, want)
			}
		}
		if _, ok := secret.Data["previous_id_ed25519"]; ok {
			return fmt.Errorf("every container has the new key, but the old one is still in the Secret")
		}
		return nil
	})
	if notReady != "" {
		t.Errorf("web-1 was not Ready during the rotation: %s", notReady)
	}
	if gossh.FingerprintSHA256(newKey.PublicKey()) == gossh.FingerprintSHA256(oldKey.PublicKey()) {
		t.Fatal("the rotation kept the same key")
	}
	t.Logf("SSH key of cluster pve rotated from %s to %s", gossh.FingerprintSHA256(oldKey.PublicKey()), gossh.FingerprintSHA256(newKey.PublicKey()))
	for _, name := range containers {
		c := &lxcv1.LXCContainer{}
		if err := s.k8s.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, c); err != nil {
			t.Fatal(err)
		}
		// The new key logs in; the old one is refused.
		if out := run1(t, dialContainer(t, c.Status.IPAddress, newKey), "echo ok"); strings.TrimSpace(out) != "ok" {
			t.Errorf("%s with the new key: %q", name, out)
		}
		_, err := gossh.Dial("tcp", c.Status.IPAddress+":22", &gossh.ClientConfig{
			User: "root", Auth: []gossh.AuthMethod{gossh.PublicKeys(oldKey)},
			HostKeyCallback: gossh.InsecureIgnoreHostKey(), Timeout: 10 * time.Second,
		})
		if err == nil || !strings.Contains(err.Error(), "unable to authenticate") {
			t.Errorf("%s with the old key: %v, want an authentication failure", name, err)
		}
	}
	if err := s.k8s.Get(ctx, types.NamespacedName{Namespace: ns, Name: "web-1"}, web); err != nil || !conditions.IsReady(web) {
		t.Errorf("web-1 after the rotation: %+v, %v", conditions.Get(web, lxcv1.ReadyCondition), err)
	}
	if n := countEvents(t, s, ns, "web-1", "SSHKeyRotated"); n != 1 {
		t.Errorf("%d SSHKeyRotated events for web-1, want 1", n)
	}
}
