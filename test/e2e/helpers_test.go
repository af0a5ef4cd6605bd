// Package e2e holds the end-to-end tests: they drive the project's own commands and binaries
// (hack/*.sh, bin/kubectl, bin/manager, bin/pvesim) the way a user would.
package e2e

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"templatemanager.dev/lxc-template-manager/internal/testenv"
	"templatemanager.dev/lxc-template-manager/internal/testkit"
)

// RepoRoot is the directory holding go.mod.
var RepoRoot = testenv.RepoRoot()

// LocalControlPlane is an etcd + kube-apiserver pair started by hack/local-up.sh.
type LocalControlPlane struct {
	StateDir   string
	Kubeconfig string
}

// StartLocalControlPlane runs hack/local-up.sh on reserved ports (etcd and kube-apiserver must
// be told theirs) with its own state directory and stops it with hack/local-down.sh when the
// test ends; apiserverArgs go to kube-apiserver.
func StartLocalControlPlane(t testing.TB, apiserverArgs ...string) *LocalControlPlane {
	t.Helper()
	testkit.SkipUnlessFull(t, testkit.ControlPlane)
	state := t.TempDir()
	env := append(os.Environ(),
		"LOCAL_APISERVER_ARGS="+strings.Join(apiserverArgs, " "),
		"LOCAL_STATE_DIR="+state,
		"LOCAL_APISERVER_PORT="+strconv.Itoa(testkit.ReservePort(t)),
		"LOCAL_ETCD_PORT="+strconv.Itoa(testkit.ReservePort(t)),
		"LOCAL_ETCD_PEER_PORT="+strconv.Itoa(testkit.ReservePort(t)),
	)
	t.Cleanup(func() {
		down := exec.Command(filepath.Join(RepoRoot, "hack", "local-down.sh"))
		down.Env = env
		if out, err := down.CombinedOutput(); err != nil {
			t.Errorf("hack/local-down.sh: %v\n%s", err, out)
		}
	})
	run(t, env, filepath.Join(RepoRoot, "hack", "local-up.sh"))
	return &LocalControlPlane{StateDir: state, Kubeconfig: filepath.Join(state, "kubeconfig")}
}

// Kubectl runs bin/kubectl against the control plane and returns its output; failure fails the test.
func (c *LocalControlPlane) Kubectl(t testing.TB, args ...string) string {
	t.Helper()
	out, err := c.TryKubectl(args...)
	if err != nil {
		t.Fatalf("kubectl %v: %v\n%s", args, err, out)
	}
	return out
}

// TryKubectl runs bin/kubectl and returns its combined output and error.
func (c *LocalControlPlane) TryKubectl(args ...string) (string, error) {
	cmd := exec.Command(filepath.Join(RepoRoot, "bin", "kubectl"), append([]string{"--kubeconfig", c.Kubeconfig}, args...)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

func run(t testing.TB, env []string, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = env
	cmd.Dir = RepoRoot
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
	return string(out)
}
