package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fluxcd/pkg/runtime/conditions"
	gossh "golang.org/x/crypto/ssh"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
	"templatemanager.dev/lxc-template-manager/internal/pvesim/lxc/lxctest"
	"templatemanager.dev/lxc-template-manager/internal/testkit"
)

// writeTemplateStore writes a template store in the original dashboard's layout: numbered
// scripts whose numbers and names sort differently, an apt bucket with a version glob, a custom installer, one
// managed file per policy, plus documentation and a creation script the importer skips.
func writeTemplateStore(t testing.TB, repoURL string) string {
	t.Helper()
	root := t.TempDir()
	tmpl := filepath.Join(root, "infra", "lxc", "templates", "store-web")
	order := func(name string) string {
		return "#!/bin/sh\nset -eu\necho " + name + " >> /var/log/store-order.log\n"
	}
	files := map[string]string{
		"template.conf": `# A store template for the end-to-end test.
TEMPLATE_APP="Store Web"
TEMPLATE_TAGS="web;store"
TEMPLATE_DESCRIPTION="hello-web from a template store"
TEMPLATE_CONFIG_PATH="infra/lxc/templates/store-web/container-configs"
TEMPLATE_CPU="${TEMPLATE_CPU:-1}"
TEMPLATE_RAM="${TEMPLATE_RAM:-512}"  # MiB
TEMPLATE_DISK="${TEMPLATE_DISK:-2}"  # GiB
TEMPLATE_OS="${TEMPLATE_OS:-debian}"
TEMPLATE_VERSION="${TEMPLATE_VERSION:-12}"
TEMPLATE_UNPRIVILEGED="${TEMPLATE_UNPRIVILEGED:-1}"  # 1 = unprivileged
TEMPLATE_NESTING="${TEMPLATE_NESTING:-1}"
`,
		"container.sh":                                "#!/bin/bash\necho 'creates the container by hand'\n",
		"README.md":                                   "# store-web\n",
		"container-configs/scripts/00-first.sh":       order("00-first"),
		"container-configs/scripts/2-second.sh":       order("2-second"),
		"container-configs/scripts/10-third.sh":       order("10-third"),
		"container-configs/scripts/README.md":         "Scripts run by number.\n",
		"container-configs/packages/web.apt":          "# the local repository's package\nhello-web=1.*   # any 1.x\n",
		"container-configs/packages/tools.custom":     "hello-tool|test -x /usr/local/bin/hello-tool|printf 'echo hi\\n' > /usr/local/bin/hello-tool && chmod 755 /usr/local/bin/hello-tool && echo installed >> /var/log/hello-tool.installs|60\n",
		"container-configs/files/sources.list":        "deb [trusted=yes] " + repoURL + " ./\n",
		"container-configs/files/sources.list.path":   "/etc/apt\n",
		"container-configs/files/sources.list.policy": "replace\n",
		"container-configs/files/motd":                "store motd\n",
		"container-configs/files/motd.path":           "/etc\n",
		"container-configs/files/motd.policy":         "default\n",
		"container-configs/files/issue":               "store issue\n",
		"container-configs/files/issue.path":          "/etc/\n",
		"container-configs/files/issue.policy":        "backup\n",
		"container-configs/files/greeting":            "hello from the store\n",
		"container-configs/files/greeting.path":       "/opt/store\n",
		"container-configs/files/greeting.policy":     "replace\n",
	}
	for name, content := range files {
		p := filepath.Join(tmpl, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return filepath.Join(root, "infra", "lxc", "templates")
}

// TestImportedStoreTemplateReachesReady imports a template store with bin/manager
// import-templates --apply and provisions a container from it on real LXC: the short OS
// template resolves to the simulator's volume, the scripts run in C-locale name order as the original ran them, the files land
// at <.path>/<name> under their policies, and the custom installer installs once — a requested
// reconcile asks its check again, which passes, so it does not install again.
func TestImportedStoreTemplateReachesReady(t *testing.T) {
	t.Parallel()
	s := startStack(t)
	s.startManager(t)
	ctx := context.Background()
	const ns = "e2e-store"
	s.create(t, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
	store := writeTemplateStore(t, s.repoURL)

	importCmd := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(binaries.manager, append([]string{"import-templates", "--kubeconfig", s.cp.Kubeconfig, "--namespace", ns}, args...)...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("manager import-templates %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	out := importCmd("--apply", "--dry-run", store)
	for _, want := range []string{"PackageBucket/web created (dry run)", "LXCTemplate/store-web created (dry run)", "container.sh: the store's creation script"} {
		if !strings.Contains(out, want) {
			t.Errorf("dry run lacks %q:\n%s", want, out)
		}
	}
	if out := importCmd("--apply", store); !strings.Contains(out, "LXCTemplate/store-web created\n") {
		t.Fatalf("apply:\n%s", out)
	}
	if out := importCmd("--apply", store); !strings.Contains(out, "LXCTemplate/store-web unchanged\n") || !strings.Contains(out, "PackageBucket/web unchanged\n") {
		t.Errorf("a second apply changed something:\n%s", out)
	}

	// The template resolves debian-12-standard to the simulator's volume.
	tmpl := &lxcv1.LXCTemplate{}
	testkit.Eventually(t, time.Minute, func() error {
		if err := s.k8s.Get(ctx, types.NamespacedName{Namespace: ns, Name: "store-web"}, tmpl); err != nil {
			return err
		}
		if !conditions.IsReady(tmpl) || len(tmpl.Status.OSTemplates) == 0 {
			return fmt.Errorf("template not Ready: %v %v", tmpl.Status.Conditions, tmpl.Status.OSTemplates)
		}
		return nil
	})
	if tmpl.Spec.OSTemplate != "debian-12-standard" {
		t.Fatalf("imported osTemplate %q", tmpl.Spec.OSTemplate)
	}
	for _, r := range tmpl.Status.OSTemplates {
		if r.VolID != debianTemplate {
			t.Errorf("template resolves to %+v, want %s", r, debianTemplate)
		}
	}

	signer := lxctest.NewSigner(t)
	userKey := strings.TrimSpace(string(gossh.MarshalAuthorizedKey(signer.PublicKey()))) + " e2e@test"
	s.create(t, &lxcv1.LXCContainer{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "store-1"},
		Spec: lxcv1.LXCContainerSpec{
			ClusterRef: lxcv1.ClusterReference{Name: "pve"}, TemplateRef: lxcv1.LocalObjectReference{Name: "store-web"},
			SSHPublicKeys: []lxcv1.SSHPublicKey{lxcv1.SSHPublicKey(userKey)},
		},
	})
	if out, err := s.cp.TryKubectl("-n", ns, "wait", "--for=condition=Ready", "--timeout=5m", "lxcc/store-1"); err != nil {
		dumpContainer(t, s, ns, "store-1")
		t.Fatalf("kubectl wait: %v\n%s", err, out)
	}
	c := &lxcv1.LXCContainer{}
	if err := s.k8s.Get(ctx, types.NamespacedName{Namespace: ns, Name: "store-1"}, c); err != nil {
		t.Fatal(err)
	}
	if c.Status.OSTemplate != debianTemplate {
		t.Errorf("status.osTemplate = %q, want %q", c.Status.OSTemplate, debianTemplate)
	}
	var names []string
	for _, sc := range c.Status.Scripts {
		names = append(names, sc.Name)
	}
	if got, want := strings.Join(names, " "), "00-first.sh 10-third.sh 2-second.sh tools.hello-tool"; got != want {
		t.Errorf("status.scripts %s, want %s", got, want)
	}
	custom := func(c *lxcv1.LXCContainer) lxcv1.ScriptStatus {
		i := slices.IndexFunc(c.Status.Scripts, func(sc lxcv1.ScriptStatus) bool { return sc.Name == "tools.hello-tool" })
		if i < 0 {
			return lxcv1.ScriptStatus{}
		}
		return c.Status.Scripts[i]
	}
	if tail := custom(c).OutputTail; !strings.Contains(tail, "check-failed: the check of tools.hello-tool fails; running it") {
		t.Errorf("the custom installer's first run: %q", tail)
	}

	sh := dialContainer(t, c.Status.IPAddress, signer)
	expect := func(cmd, want string) {
		t.Helper()
		if out := strings.TrimSpace(run1(t, sh, cmd)); out != want {
			t.Errorf("%s: got %q, want %q", cmd, out, want)
		}
	}
	expect("cat /var/log/store-order.log", "00-first\n10-third\n2-second")
	expect("cat /opt/store/greeting", "hello from the store")
	expect("cat /etc/issue", "store issue")
	if bak := run1(t, sh, "cat /etc/issue.bak"); !strings.Contains(bak, "Debian GNU/Linux") {
		t.Errorf("policy backup did not keep the old /etc/issue: %q", bak)
	}
	if motd := run1(t, sh, "cat /etc/motd"); strings.Contains(motd, "store motd") {
		t.Errorf("policy default overwrote the existing /etc/motd: %q", motd)
	}
	expect("dpkg-query -W -f '${Status} ${Version}' hello-web", "install ok installed 1.0")
	expect("/usr/local/bin/hello-tool", "hi")
	expect("cat /var/log/hello-tool.installs", "installed")

	// A requested reconcile asks the check again: it passes, so nothing is installed again.
	requested := time.Now().UTC().Format(time.RFC3339Nano)
	if err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if err := s.k8s.Get(ctx, types.NamespacedName{Namespace: ns, Name: "store-1"}, c); err != nil {
			return err
		}
		if c.Annotations == nil {
			c.Annotations = map[string]string{}
		}
		c.Annotations[lxcv1.ReconcileRequestAnnotation] = requested
		return s.k8s.Update(ctx, c)
	}); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 2*time.Minute, func() error {
		if err := s.k8s.Get(ctx, types.NamespacedName{Namespace: ns, Name: "store-1"}, c); err != nil {
			return err
		}
		sc := custom(c)
		switch {
		case c.Status.LastHandledReconcileAt != requested:
			return fmt.Errorf("reconcile request not handled yet")
		case !conditions.IsReady(c):
			return fmt.Errorf("not Ready: %v", conditions.Get(c, lxcv1.ReadyCondition))
		case !strings.Contains(sc.OutputTail, "check-passed: the check of tools.hello-tool passes; not running it"):
			return fmt.Errorf("custom installer not checked again: %+v", sc)
		}
		return nil
	})
	expect("cat /var/log/hello-tool.installs", "installed")
	// The numbered scripts have no check and did not run again.
	expect("cat /var/log/store-order.log", "00-first\n10-third\n2-second")
}
