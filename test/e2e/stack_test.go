package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
	"templatemanager.dev/lxc-template-manager/internal/proxmox"
	"templatemanager.dev/lxc-template-manager/internal/pvesim/lxc/lxctest"
	"templatemanager.dev/lxc-template-manager/internal/testenv"
	"templatemanager.dev/lxc-template-manager/internal/testkit"
)

// TestMain removes what the tests of this process built once for all of them.
func TestMain(m *testing.M) {
	code := m.Run()
	for _, dir := range []string{binaries.dir, helloWebRepository.dir} {
		if dir != "" {
			_ = os.RemoveAll(dir)
		}
	}
	os.Exit(code)
}

// binaries are built once per test process from the working tree.
var binaries struct {
	once    sync.Once
	dir     string
	err     error
	manager string
	pvesim  string
}

func buildBinaries(t testing.TB) {
	t.Helper()
	binaries.once.Do(func() {
		binaries.dir, binaries.err = os.MkdirTemp("", "lxctm-e2e-bin-")
		if binaries.err != nil {
			return
		}
		binaries.manager = filepath.Join(binaries.dir, "manager")
		binaries.pvesim = filepath.Join(binaries.dir, "pvesim")
		cmd := exec.Command("go", "build", "-o", binaries.dir+"/", "./cmd/manager", "./cmd/pvesim")
		cmd.Dir = RepoRoot
		if out, err := cmd.CombinedOutput(); err != nil {
			binaries.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binaries.err != nil {
		t.Fatal(binaries.err)
	}
}

// stack is the local stack of the end-to-end tests: a control plane from hack/local-up.sh,
// bin/pvesim with the lxc backend, a local apt repository on the simulator's bridge, and
// bin/manager — each a real process.
type stack struct {
	cp        *LocalControlPlane
	k8s       client.Client
	namespace string // the controller's namespace

	simDir   string
	simAddr  string
	simCA    []byte
	tokenID  string
	token    string
	bridge   string
	subnet   netip.Prefix
	sim      *exec.Cmd
	px       proxmox.Client
	repoURL  string
	managers []*managerProcess
	// managerArgs and managerEnv are added to every manager the stack starts.
	managerArgs []string
	managerEnv  []string
}

// stackOptions change how startStackWith brings the stack up.
type stackOptions struct {
	apiserverArgs []string // extra kube-apiserver flags
	simArgs       []string // extra pvesim flags
}

const e2eControllerNamespace = "lxctm-e2e-system"

// startStack brings the whole stack up; everything stops when the test ends.
func startStack(t testing.TB, simArgs ...string) *stack {
	t.Helper()
	return startStackWith(t, stackOptions{simArgs: simArgs})
}

func startStackWith(t testing.TB, opts stackOptions) *stack {
	t.Helper()
	simArgs := opts.simArgs
	lxctest.RequireHost(t)
	buildBinaries(t)
	s := &stack{namespace: e2eControllerNamespace}
	s.cp = StartLocalControlPlane(t, opts.apiserverArgs...)
	s.cp.Kubectl(t, "apply", "--server-side", "-f", filepath.Join(RepoRoot, "config", "crd", "bases"))
	s.cp.Kubectl(t, "wait", "--for=condition=Established", "--timeout=60s",
		"crd/lxccontainers.lxc.templatemanager.dev", "crd/lxctemplates.lxc.templatemanager.dev",
		"crd/packagebuckets.lxc.templatemanager.dev", "crd/proxmoxclusters.lxc.templatemanager.dev",
		"crd/lxcsnapshots.lxc.templatemanager.dev", "crd/lxcbackups.lxc.templatemanager.dev", "crd/lxcrestores.lxc.templatemanager.dev")
	cfg, err := clientcmd.BuildConfigFromFlags("", s.cp.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	s.k8s, err = client.New(cfg, client.Options{Scheme: testenv.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	s.create(t, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: s.namespace}})

	s.startSimulator(t, simArgs...)
	s.startRepository(t)
	s.createCluster(t)
	return s
}

func (s *stack) create(t testing.TB, objs ...client.Object) {
	t.Helper()
	for _, obj := range objs {
		if err := s.k8s.Create(context.Background(), obj); err != nil {
			t.Fatalf("creating %T %s: %v", obj, obj.GetName(), err)
		}
	}
}

func (s *stack) startSimulator(t testing.TB, extra ...string) {
	t.Helper()
	s.bridge, s.subnet = lxctest.Network(t)
	s.simDir = t.TempDir()
	templates := filepath.Dir(lxctest.Template(t))
	secret := make([]byte, 16)
	_, _ = rand.Read(secret)
	s.tokenID, s.token = "root@pam!lxctm", hex.EncodeToString(secret)
	logPath := filepath.Join(s.simDir, "pvesim.log")
	log, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	// pvesim binds port 0 and logs the address it got.
	args := []string{
		"--listen", "127.0.0.1:0", "--backend", "lxc", "--state-dir", s.simDir, "--nodes", "pve1,pve2",
		"--api-token", s.tokenID + "=" + s.token, "--template-dir", templates,
		"--bridge", s.bridge, "--subnet", s.subnet.String(), "--task-duration", "300ms",
		// Every stack of every test process extracts a template once between them, not once each.
		"--template-cache", lxctest.TemplateCache(),
	}
	s.sim = exec.Command(binaries.pvesim, append(args, extra...)...)
	s.sim.Stdout, s.sim.Stderr = log, log
	if err := s.sim.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.stopSimulator(t)
		if t.Failed() {
			dumpFile(t, filepath.Join(s.simDir, "pvesim.log"), 60)
		}
	})
	s.simAddr = testkit.ReportedAddress(t, 30*time.Second, pvesimServing, testkit.ReadFile(logPath))
	if s.simCA, err = os.ReadFile(filepath.Join(s.simDir, "ca.pem")); err != nil {
		t.Fatal(err)
	}
	s.px, err = proxmox.New(proxmox.Settings{
		Endpoint: "https://" + s.simAddr + "/api2/json",
		Auth:     proxmox.Auth{TokenID: s.tokenID, TokenSecret: s.token},
		TLS:      proxmox.TLSSettings{CAPEM: s.simCA},
	})
	if err != nil {
		t.Fatal(err)
	}
}

// pvesimServing matches the line in which pvesim says where it serves; the address is its group.
var pvesimServing = regexp.MustCompile(`msg="Serving Proxmox VE API" url=https://(\S+)/api2/json`)

// stopSimulator stops pvesim and every container it runs, so no test leaves containers behind.
func (s *stack) stopSimulator(t testing.TB) {
	if s.px != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if guests, err := s.px.Guests(ctx); err == nil {
			for _, g := range guests {
				if g.Status == "running" {
					if upid, err := s.px.StopContainer(ctx, g.Node, g.VMID); err == nil && upid != "" {
						_, _ = testkit.AwaitTask(ctx, s.px, upid)
					}
				}
				if upid, err := s.px.DeleteContainer(ctx, g.Node, g.VMID, proxmox.DeleteOptions{Purge: true}); err == nil {
					_, _ = testkit.AwaitTask(ctx, s.px, upid)
				}
			}
		}
	}
	if s.sim != nil && s.sim.Process != nil {
		_ = s.sim.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = s.sim.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = s.sim.Process.Kill()
		}
	}
}

// staticAddress is an address for a static container, above the simulator's DHCP leases.
func (s *stack) staticAddress() netip.Addr {
	a := s.subnet.Addr().As4()
	a[3] = 250
	return netip.AddrFrom4(a)
}

// gateway is the bridge's host address, the first address of the subnet.
func (s *stack) gateway() netip.Addr { return s.subnet.Addr().Next() }

// helloWebRepository is the flat apt repository with the hello-web package, built once per test
// process and served read-only by every stack.
var helloWebRepository struct {
	once sync.Once
	dir  string
	err  error
}

func buildHelloWebRepository(t testing.TB) string {
	t.Helper()
	helloWebRepository.once.Do(func() {
		if helloWebRepository.dir, helloWebRepository.err = os.MkdirTemp("", "lxctm-e2e-repo-"); helloWebRepository.err != nil {
			return
		}
		if out, err := exec.Command(filepath.Join(RepoRoot, "hack", "build-hello-web.sh"), helloWebRepository.dir).CombinedOutput(); err != nil {
			helloWebRepository.err = fmt.Errorf("hack/build-hello-web.sh: %v\n%s", err, out)
		}
	})
	if helloWebRepository.err != nil {
		t.Fatal(helloWebRepository.err)
	}
	return helloWebRepository.dir
}

// startRepository serves the hello-web repository on the bridge's host address, the only
// package source the containers can reach.
func (s *stack) startRepository(t testing.TB) {
	t.Helper()
	dir := buildHelloWebRepository(t)
	var l net.Listener
	var err error
	// The bridge appears when pvesim's lxc backend starts.
	for i := 0; ; i++ {
		l, err = net.Listen("tcp", net.JoinHostPort(s.gateway().String(), "0"))
		if err == nil {
			break
		}
		if i > 100 {
			t.Fatalf("listening on the bridge: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	srv := &http.Server{Handler: http.FileServer(http.Dir(dir)), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	s.repoURL = "http://" + l.Addr().String() + "/"
}

func (s *stack) createCluster(t testing.TB) {
	t.Helper()
	s.create(t,
		&corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Namespace: s.namespace, Name: "pve-token"},
			Data:       map[string][]byte{"tokenID": []byte(s.tokenID), "secret": []byte(s.token)},
		},
		&corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Namespace: s.namespace, Name: "pve-ca"},
			Data:       map[string][]byte{"ca.crt": s.simCA},
		},
		&lxcv1.ProxmoxCluster{
			ObjectMeta: metav1.ObjectMeta{Name: "pve"},
			Spec: lxcv1.ProxmoxClusterSpec{
				Endpoint:       "https://" + s.simAddr + "/api2/json",
				CredentialsRef: lxcv1.NamespacedObjectReference{Namespace: s.namespace, Name: "pve-token"},
				TLS:            &lxcv1.ClusterTLS{CASecretRef: &lxcv1.SecretKeyReference{Namespace: s.namespace, Name: "pve-ca"}},
				SyncInterval:   &metav1.Duration{Duration: 30 * time.Second},
			},
		})
}

// managerProcess is one run of bin/manager.
type managerProcess struct {
	cmd  *exec.Cmd
	log  string
	done chan struct{}
}

// startManager runs bin/manager against the control plane, logging to a file of its own.
func (s *stack) startManager(t testing.TB) *managerProcess {
	t.Helper()
	log := filepath.Join(s.cp.StateDir, fmt.Sprintf("manager-%d.log", len(s.managers)))
	f, err := os.Create(log)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(binaries.manager, append([]string{
		"--metrics-bind-address=0", "--health-probe-bind-address=0",
		"--namespace", s.namespace, "--task-poll-interval=1s", "--container-resync-interval=1m",
		"--container-full-check-interval=1m",
		"--zap-log-level=debug"}, s.managerArgs...)...)
	cmd.Env = append(append(os.Environ(), "KUBECONFIG="+s.cp.Kubeconfig), s.managerEnv...)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	m := &managerProcess{cmd: cmd, log: log, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); f.Close(); close(m.done) }()
	s.managers = append(s.managers, m)
	t.Cleanup(func() {
		m.stop(syscall.SIGTERM)
		if t.Failed() {
			dumpFile(t, log, 40)
		}
	})
	return m
}

// stop signals the manager and waits for it to exit.
func (m *managerProcess) stop(sig syscall.Signal) {
	select {
	case <-m.done:
		return
	default:
	}
	_ = m.cmd.Process.Signal(sig)
	select {
	case <-m.done:
	case <-time.After(30 * time.Second):
		_ = m.cmd.Process.Kill()
		<-m.done
	}
}

// logs returns everything every manager run wrote.
func (s *stack) logs(t testing.TB) string {
	t.Helper()
	var b bytes.Buffer
	for _, m := range s.managers {
		data, err := os.ReadFile(m.log)
		if err != nil {
			t.Fatal(err)
		}
		b.Write(data)
	}
	return b.String()
}

func dumpFile(t testing.TB, path string, lines int) {
	data, err := os.ReadFile(path)
	if err != nil {
		return
	}
	all := bytes.Split(bytes.TrimRight(data, "\n"), []byte("\n"))
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	t.Logf("last lines of %s:\n%s", filepath.Base(path), bytes.Join(all, []byte("\n")))
}
