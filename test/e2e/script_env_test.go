package e2e

import (
	"context"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	gossh "golang.org/x/crypto/ssh"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
	"templatemanager.dev/lxc-template-manager/internal/pvesim/lxc/lxctest"
)

// contractStore is a store in the original layout whose scripts use the original's helpers and
// variables without defining them.
const contractStore = "../../internal/importer/testdata/contract-store/infra/lxc/templates"

// TestImportedScriptsGetTheOriginalEnvironment imports a store whose scripts call log_info,
// run_as_user, generate_password, save_credential and the package helpers under
// set -euo pipefail, and provisions a container from it on real LXC: it is Ready, the
// template's user exists, run_as_user ran as that user, the scripts ran in C-locale order, and
// the credential save_credential wrote is in <name>-credentials and redacted from the output.
func TestImportedScriptsGetTheOriginalEnvironment(t *testing.T) {
	t.Parallel()
	s := startStack(t)
	s.startManager(t)
	ctx := context.Background()
	const ns = "e2e-contract"
	s.create(t, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})

	out, err := exec.Command(binaries.manager, "import-templates", "--kubeconfig", s.cp.Kubeconfig, "--namespace", ns, "--apply", contractStore).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "LXCTemplate/contract-demo created") {
		t.Fatalf("import: %v\n%s", err, out)
	}
	if !regexp.MustCompile(`Warning: \S+/9-order\.sh:1: runs after 10-order\.sh`).Match(out) {
		t.Errorf("the import does not warn of the order:\n%s", out)
	}

	signer := lxctest.NewSigner(t)
	userKey := strings.TrimSpace(string(gossh.MarshalAuthorizedKey(signer.PublicKey()))) + " e2e@test"
	s.create(t, &lxcv1.LXCContainer{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "contract-1"},
		Spec: lxcv1.LXCContainerSpec{
			ClusterRef: lxcv1.ClusterReference{Name: "pve"}, TemplateRef: lxcv1.LocalObjectReference{Name: "contract-demo"},
			SSHPublicKeys: []lxcv1.SSHPublicKey{lxcv1.SSHPublicKey(userKey)},
		},
	})
	if out, err := s.cp.TryKubectl("-n", ns, "wait", "--for=condition=Ready", "--timeout=5m", "lxcc/contract-1"); err != nil {
		dumpContainer(t, s, ns, "contract-1")
		t.Fatalf("kubectl wait: %v\n%s", err, out)
	}
	c := &lxcv1.LXCContainer{}
	if err := s.k8s.Get(ctx, types.NamespacedName{Namespace: ns, Name: "contract-1"}, c); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, sc := range c.Status.Scripts {
		names = append(names, sc.Name)
	}
	if got, want := strings.Join(names, " "), "01-user.sh 02-credentials.sh 10-order.sh 9-order.sh"; got != want {
		t.Errorf("status.scripts %s, want %s", got, want)
	}
	if tail := c.Status.Scripts[0].OutputTail; !regexp.MustCompile(`\[INFO   \] preparing devuser on debian 12 at ` + regexp.QuoteMeta(c.Status.IPAddress)).MatchString(tail) {
		t.Errorf("01-user.sh's output: %q (address %s)", tail, c.Status.IPAddress)
	}

	sh := dialContainer(t, c.Status.IPAddress, signer)
	expect := func(cmd, want string) {
		t.Helper()
		if out := strings.TrimSpace(run1(t, sh, cmd)); out != want {
			t.Errorf("%s: got %q, want %q", cmd, out, want)
		}
	}
	expect("getent passwd devuser | cut -d: -f6,7", "/home/devuser:/bin/bash")
	expect("cat /home/devuser/whoami", "devuser\n/home/devuser")
	expect("stat -c %U /home/devuser/whoami", "devuser")
	expect("cat /var/log/contract-order.log", "01-user.sh\n02-credentials.sh\n10-order.sh\n9-order.sh")
	expect("stat -c '%a %U' /etc/infrahaus/credentials/demo-app.env", "600 root")

	creds := &corev1.Secret{}
	if err := s.k8s.Get(ctx, types.NamespacedName{Namespace: ns, Name: "contract-1-credentials"}, creds); err != nil {
		t.Fatal(err)
	}
	password := string(creds.Data["DEMO_APP_PASSWORD"])
	if !regexp.MustCompile(`^[A-Za-z0-9]{20}$`).MatchString(password) || string(creds.Data["DEMO_APP_USER"]) != "demo-admin" {
		t.Errorf("credentials Secret: %q", creds.Data)
	}
	if file := run1(t, sh, "cat /etc/infrahaus/credentials/demo-app.env"); !strings.Contains(file, `DEMO_APP_PASSWORD="`+password+`"`) {
		t.Errorf("the Secret's password is not the one the script saved:\n%s", file)
	}
	if tail := c.Status.Scripts[1].OutputTail; password == "" || strings.Contains(tail, password) || !strings.Contains(tail, "saved demo-app's password") {
		t.Errorf("02-credentials.sh's output does not hide the password: %q", tail)
	}
}
