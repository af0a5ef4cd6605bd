package e2e

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fluxcd/pkg/runtime/conditions"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
	"templatemanager.dev/lxc-template-manager/internal/pvesim"
)

// observeFor is how long the back-off tests watch a failing container: the figures the
// back-off promises (at most 12 starts, at most 20 Events) are for four minutes.
const observeFor = 4 * time.Minute

// TestFailingStartBacksOff: every vzstart task fails. The controller retries the start on its
// back-off schedule, not in a loop; the condition names the task's error and the attempt count;
// the repeated failure does not flood the events API.
func TestFailingStartBacksOff(t *testing.T) {
	t.Parallel()
	s := startStack(t, "--fault", "task,task=vzstart")
	s.startManager(t)
	ns := "backoff"
	tmpl := s.lightTemplate(ns, "light")
	s.create(t, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, tmpl, s.container(ns, "flaky", "light"))

	var last *lxcv1.LXCContainer
	deadline := time.Now().Add(observeFor)
	for time.Now().Before(deadline) {
		last = s.getContainer(t, ns, "flaky")
		time.Sleep(2 * time.Second)
	}
	starts := s.simCounters(t).Total("POST /nodes/{node}/lxc/{vmid}/status/start")
	events := eventsAbout(t, s, ns, "flaky")
	t.Logf("%d start requests and %d Events in %s", starts, len(events), observeFor)
	if starts > 12 {
		t.Errorf("%d starts in %s, want at most 12", starts, observeFor)
	}
	if starts < 4 {
		t.Errorf("only %d starts in %s: the failure is not retried", starts, observeFor)
	}
	if len(events) > 20 {
		t.Errorf("%d Events in %s, want at most 20:\n%s", len(events), observeFor, strings.Join(events, "\n"))
	}
	c := conditions.Get(last, lxcv1.ContainerStartedCondition)
	if c == nil || c.Reason != lxcv1.TaskFailedReason || !strings.Contains(c.Message, "task vzstart: injected task failure") ||
		!strings.Contains(c.Message, fmt.Sprintf("attempt %d,", last.Status.Retry.Attempts)) {
		t.Errorf("ContainerStarted = %+v with retry %+v: want the task's error and the attempt count", c, last.Status.Retry)
	}
	if last.Status.Retry == nil || int(last.Status.Retry.Attempts) < starts-1 || last.Status.Retry.NextAttemptTime == nil {
		t.Errorf("status.retry = %+v after %d starts", last.Status.Retry, starts)
	}
}

// TestGuestDyingAtBootBacksOff: a guest whose init dies right after a successful start is not
// started again in a loop (the container's own CrashLoopBackOff), and its condition says it
// stopped right after start. pvesim reports the stop with the console log, as a node does.
func TestGuestDyingAtBootBacksOff(t *testing.T) {
	t.Parallel()
	templates := t.TempDir()
	buildDeadInitTemplate(t, filepath.Join(templates, deadInitTarball))
	s := startStack(t, "--template-dir", templates)
	s.startManager(t)
	ns := "crashloop"
	tmpl := s.lightTemplate(ns, "dead")
	tmpl.Spec.OSTemplate = "local:vztmpl/" + deadInitTarball
	tmpl.Spec.Features = lxcv1.Features{}
	s.create(t, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, tmpl, s.container(ns, "doomed", "dead"))

	sawCrash := ""
	deadline := time.Now().Add(observeFor)
	for time.Now().Before(deadline) {
		obj := s.getContainer(t, ns, "doomed")
		for _, c := range obj.Status.Conditions {
			if c.Reason == lxcv1.StoppedAfterStartReason && c.Type == lxcv1.ContainerStartedCondition {
				sawCrash = c.Message
			}
		}
		time.Sleep(time.Second)
	}
	starts := s.simCounters(t).TaskTotal("vzstart", "ok")
	t.Logf("%d successful starts in %s; ContainerStarted said %q", starts, observeFor, sawCrash)
	if starts > 12 {
		t.Errorf("%d starts in %s, want at most 12", starts, observeFor)
	}
	if starts < 2 {
		t.Errorf("only %d starts in %s: the dead guest is never started again", starts, observeFor)
	}
	if !strings.Contains(sawCrash, "stopped right after it started") {
		t.Errorf("ContainerStarted never said the container stopped right after start (last: %q)", sawCrash)
	}
	log, err := os.ReadFile(filepath.Join(s.simDir, "pvesim.log"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(log), "Container stopped by itself") || !strings.Contains(string(log), "Too many open files") {
		t.Errorf("pvesim's log does not report the stop with the console log:\n%s", lastLinesOf(string(log), 20))
	}
}

// TestTwentyContainersFromOneTemplate: twenty systemd guests applied at once all boot and reach
// Ready — with Debian's default inotify limit only a handful would, the rest dying at boot.
func TestTwentyContainersFromOneTemplate(t *testing.T) {
	t.Parallel()
	s := startStack(t)
	s.startManager(t)
	ns := "twenty"
	objs := []client.Object{&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, s.lightTemplate(ns, "light")}
	for i := range 20 {
		c := s.container(ns, fmt.Sprintf("ct-%02d", i), "light")
		c.Spec.Network = nil // DHCP, from the template
		objs = append(objs, c)
	}
	s.create(t, objs...)
	if out, err := s.cp.TryKubectl("-n", ns, "wait", "--for=condition=Ready", "--timeout=12m", "lxcc", "--all"); err != nil {
		out2, _ := s.cp.TryKubectl("-n", ns, "get", "lxcc", "-o", "wide")
		t.Fatalf("kubectl wait: %v\n%s\n%s", err, out, out2)
	}
	guests, err := s.px.Guests(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(guests) != 20 {
		t.Errorf("%d containers in Proxmox, want 20", len(guests))
	}
}

// lightTemplate boots the Debian template with one short script and nothing to install.
func (s *stack) lightTemplate(ns, name string) *lxcv1.LXCTemplate {
	return &lxcv1.LXCTemplate{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: lxcv1.LXCTemplateSpec{
			OSTemplate: debianTemplate,
			Resources:  lxcv1.Resources{Cores: ptr(int32(1)), MemoryMiB: ptr(int32(256)), DiskGiB: ptr(int32(2))},
			Features:   lxcv1.Features{Nesting: true},
			Network:    lxcv1.Network{IPv4: "dhcp"},
			Scripts:    []lxcv1.Script{{Name: "hello", Content: str("#!/bin/sh\necho hello from $(hostname)\n")}},
		},
	}
}

// container is an LXCContainer of a template, with a static address above the DHCP range.
func (s *stack) container(ns, name, template string) *lxcv1.LXCContainer {
	return &lxcv1.LXCContainer{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: lxcv1.LXCContainerSpec{
			ClusterRef: lxcv1.ClusterReference{Name: "pve"}, TemplateRef: lxcv1.LocalObjectReference{Name: template},
			Network: &lxcv1.Network{IPv4: s.staticAddress().String() + "/24", Gateway: s.gateway().String()},
		},
	}
}

func (s *stack) getContainer(t testing.TB, ns, name string) *lxcv1.LXCContainer {
	t.Helper()
	obj := &lxcv1.LXCContainer{}
	if err := s.k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, obj); err != nil {
		t.Fatal(err)
	}
	return obj
}

// simCounters reads pvesim's request and task counters.
func (s *stack) simCounters(t testing.TB) pvesim.Counters {
	t.Helper()
	resp, err := s.simHTTP().Get("https://" + s.simAddr + "/_pvesim/counters")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var c pvesim.Counters
	if err := json.NewDecoder(resp.Body).Decode(&c); err != nil {
		t.Fatal(err)
	}
	return c
}

// simHTTP is an HTTP client that trusts pvesim's CA, for its own endpoints under /_pvesim/.
func (s *stack) simHTTP() *http.Client {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(s.simCA)
	return &http.Client{Timeout: time.Minute, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
}

// eventsAbout lists the Events regarding one LXCContainer, a line each, counting every
// occurrence of a series.
func eventsAbout(t testing.TB, s *stack, ns, name string) []string {
	t.Helper()
	list := &eventsv1.EventList{}
	if err := s.k8s.List(context.Background(), list, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range list.Items {
		if e.Regarding.Name != name || e.Regarding.Kind != "LXCContainer" {
			continue
		}
		n := 1
		if e.Series != nil {
			n = int(e.Series.Count)
		}
		for range n {
			out = append(out, e.Type+" "+e.Reason+": "+e.Note)
		}
	}
	return out
}

const deadInitTarball = "debian-12-deadinit_1.0-1_amd64.tar.gz"

// buildDeadInitTemplate writes an OS template whose init dies two seconds into the boot.
func buildDeadInitTemplate(t testing.TB, path string) {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "deadinit")
	cmd := exec.Command("go", "build", "-o", bin, "./test/e2e/testdata/deadinit")
	cmd.Dir = RepoRoot
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build deadinit: %v\n%s", err, out)
	}
	init, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zw := gzip.NewWriter(f)
	tw := tar.NewWriter(zw)
	for _, d := range []string{"./", "bin/", "dev/", "etc/", "etc/network/", "proc/", "root/", "run/", "sbin/", "sys/", "tmp/", "usr/", "usr/sbin/", "var/"} {
		mode := int64(0o755)
		if d == "tmp/" {
			mode = 0o1777
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d, Mode: mode, ModTime: time.Unix(0, 0)}); err != nil {
			t.Fatal(err)
		}
	}
	files := []struct {
		name string
		mode int64
		data []byte
	}{
		{"sbin/init", 0o755, init},
		{"usr/sbin/chpasswd", 0o755, init},
		{"etc/hosts", 0o644, []byte("127.0.0.1 localhost\n")},
		{"etc/os-release", 0o644, []byte("ID=debian\nVERSION_ID=\"12\"\n")},
	}
	for _, fl := range files {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: fl.name, Mode: fl.mode, Size: int64(len(fl.data)), ModTime: time.Unix(0, 0)}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(fl.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
}

func lastLinesOf(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
