// Package testenv starts a real control plane for tests: etcd and kube-apiserver built from their
// Go modules into bin/ (make envtest-tools), with the project's CRDs installed.
package testenv

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"

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
		return nil, fmt.Errorf("starting the control plane: %w", err)
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return nil, errors.Join(fmt.Errorf("building a client: %w", err), env.Stop())
	}
	return &Env{env: env, Config: cfg, Client: c, Scheme: scheme}, nil
}

// Stop stops the control plane.
func (e *Env) Stop() error { return e.env.Stop() }
