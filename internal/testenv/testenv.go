// Package testenv starts a real control plane for tests: etcd and kube-apiserver built from their
// Go modules into bin/ (make envtest-tools), with the project's CRDs installed.
package testenv

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
)

// Env is a running control plane.
type Env struct {
	env    *envtest.Environment
	Config *rest.Config
	Client client.Client
	Scheme *k8sruntime.Scheme

	mu sync.Mutex
	// apiserver is the kube-apiserver RestartAPIServer started, nil before.
	apiserver *exec.Cmd
}

// RepoRoot is the directory holding go.mod.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// Scheme returns a scheme with the built-in kinds and this project's kinds.
func Scheme() *k8sruntime.Scheme {
	s := k8sruntime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		panic(err)
	}
	if err := lxcv1.AddToScheme(s); err != nil {
		panic(err)
	}
	return s
}

// AssetsDir is where the control-plane binaries are: KUBEBUILDER_ASSETS, else bin/.
func AssetsDir() string {
	if dir := os.Getenv("KUBEBUILDER_ASSETS"); dir != "" {
		return dir
	}
	return filepath.Join(RepoRoot(), "bin")
}

// Start starts etcd and kube-apiserver on loopback and installs the CRDs of config/crd/bases.
func Start() (*Env, error) {
	assets := AssetsDir()
	for _, name := range []string{"etcd", "kube-apiserver"} {
		if _, err := os.Stat(filepath.Join(assets, name)); err != nil {
			return nil, fmt.Errorf("control-plane binary %s not found in %s: run 'make envtest-tools'", name, assets)
		}
	}
	scheme := Scheme()
	env := &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join(RepoRoot(), "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
		BinaryAssetsDirectory: assets,
		Scheme:                scheme,
	}
	cfg, err := env.Start()
	if err != nil {
		// envtest leaves etcd and kube-apiserver running when it fails after starting them
		// (CRDs the API server refuses).
		return nil, errors.Join(fmt.Errorf("starting the control plane: %w", err), env.Stop())
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return nil, errors.Join(fmt.Errorf("building a client: %w", err), env.Stop())
	}
	return &Env{env: env, Config: cfg, Client: c, Scheme: scheme}, nil
}

// Stop stops the control plane.
func (e *Env) Stop() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if cmd := e.apiserver; cmd != nil {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	}
	return e.env.Stop()
}

// RestartAPIServer kills kube-apiserver with SIGKILL, as a crash or the loss of its node would,
// leaves it down for down, and starts it again with the same flags, port, certificates and etcd,
// returning once it is ready. Clients keep their configuration: only their connections break.
func (e *Env) RestartAPIServer(down time.Duration) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	var args []string
	if cmd := e.apiserver; cmd != nil {
		args = cmd.Args
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	} else {
		// The first kube-apiserver is envtest's child; its own wait reaps it.
		pid, cmdline, err := childProcess(filepath.Join(e.env.BinaryAssetsDirectory, "kube-apiserver"))
		if err != nil {
			return err
		}
		args = cmdline
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			return fmt.Errorf("killing kube-apiserver: %w", err)
		}
		if err := waitGone(pid, 30*time.Second); err != nil {
			return err
		}
	}
	time.Sleep(down)
	cmd := exec.Command(args[0], args[1:]...)
	// Like envtest's own, in a process group of its own; unlike it, gone with the test process.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting kube-apiserver again: %w", err)
	}
	e.apiserver = cmd
	return e.waitReady(time.Minute)
}

// childProcess finds the child of this process running the binary path: its PID and command line.
func childProcess(path string) (int, []string, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0, nil, err
	}
	if resolved, err := filepath.EvalSymlinks(path); err == nil {
		path = resolved // /proc/PID/exe names the file a link leads to
	}
	self := os.Getpid()
	for _, ent := range entries {
		pid, err := strconv.Atoi(ent.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		// pid (comm) state ppid …; comm may hold spaces, so read after its closing parenthesis.
		fields := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
		if len(fields) < 2 || fields[1] != strconv.Itoa(self) {
			continue
		}
		if exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid)); err != nil || filepath.Clean(exe) != filepath.Clean(path) {
			continue
		}
		raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err != nil {
			return 0, nil, err
		}
		return pid, strings.Split(strings.TrimRight(string(raw), "\x00"), "\x00"), nil
	}
	return 0, nil, fmt.Errorf("no child process runs %s", path)
}

// waitGone waits until process pid no longer exists.
func waitGone(pid int, timeout time.Duration) error {
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
			return nil
		}
	}
	return fmt.Errorf("process %d still exists after %s", pid, timeout)
}

// waitReady waits until kube-apiserver answers /readyz.
func (e *Env) waitReady(timeout time.Duration) error {
	hc, err := rest.HTTPClientFor(e.Config)
	if err != nil {
		return err
	}
	hc.Timeout = 5 * time.Second
	var last error
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		resp, err := hc.Get(strings.TrimSuffix(e.Config.Host, "/") + "/readyz")
		if err != nil {
			last = err
			continue
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			return nil
		}
		last = fmt.Errorf("/readyz: %s", resp.Status)
	}
	return fmt.Errorf("kube-apiserver not ready after %s: %v", timeout, last)
}
