package e2e

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fluxcd/pkg/runtime/conditions"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
	"templatemanager.dev/lxc-template-manager/internal/proxmox"
	"templatemanager.dev/lxc-template-manager/internal/pvesim/lxc/lxctest"
	"templatemanager.dev/lxc-template-manager/internal/pvesim/oci/ocitest"
	"templatemanager.dev/lxc-template-manager/internal/testkit"
)

// TestOCIImages: with a registry on loopback serving two images the test builds, bin/manager
// pulls each by digest with oci-registry-pull and creates a container from the archive:
//   - a system image (the project's Debian OS template as one layer, /sbin/init) goes through the
//     whole pipeline, its script included, to Ready;
//   - an application image (a static Go binary as its only file) runs its entrypoint with the
//     env of spec.application, skips the guest phases (reason ApplicationImage) and is Ready;
//     the test reads the env the binary serves on the container's address; env changed
//     through the Proxmox API is set back with a DriftCorrected Event;
//   - a new tag stalls with RecreateRequired; with Recreate the container is made from it.
//
// status.ociImage pins both by the digests the registry gave.
func TestOCIImages(t *testing.T) {
	t.Parallel()
	// A template directory of its own: the archives pulled into it are no other stack's business.
	templates := t.TempDir()
	linkOrCopy(t, lxctest.Template(t), filepath.Join(templates, filepath.Base(lxctest.Template(t))))
	s := startStack(t, "--template-dir", templates)
	reg := ocitest.StartRegistry(t)
	ctx := context.Background()

	// The system image: the OS template's root filesystem as a single layer.
	dir := t.TempDir()
	rootfs := filepath.Join(dir, "rootfs.tar")
	if out, err := exec.Command("sh", "-c", "zstd -dc < '"+lxctest.Template(t)+"' > '"+rootfs+"'").CombinedOutput(); err != nil {
		t.Fatalf("unpacking the OS template: %v\n%s", err, out)
	}
	systemDigest := ocitest.Push(t, reg+"/lxctm/system:bookworm", v1.Config{Entrypoint: []string{"/sbin/init"}},
		func() (io.ReadCloser, error) { return os.Open(rootfs) })

	// The application image: envapp writes its environment to /envapp.out and serves it on :8080.
	bin := filepath.Join(dir, "envapp")
	build := exec.Command("go", "build", "-o", bin, "./internal/pvesim/lxc/testdata/envapp")
	build.Dir, build.Env = RepoRoot, append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build envapp: %v\n%s", err, out)
	}
	content, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	appDigest := ocitest.Push(t, reg+"/test/envapp:v1", v1.Config{Entrypoint: []string{"/envapp"}, Env: []string{"FROM_IMAGE=1"}},
		ocitest.Bytes(ocitest.Layer(t, ocitest.File{Name: "envapp", Content: string(content), Mode: 0o755})))

	s.startManager(t)
	ns := "oci"
	system := s.lightTemplate(ns, "system")
	system.Spec.OSTemplate = "oci://" + reg + "/lxctm/system:bookworm"
	app := &lxcv1.LXCTemplate{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "envapp"},
		Spec: lxcv1.LXCTemplateSpec{
			OSTemplate: "oci://" + reg + "/test/envapp:v1",
			Resources:  lxcv1.Resources{Cores: ptr(int32(1)), MemoryMiB: ptr(int32(128)), DiskGiB: ptr(int32(1))},
			Network:    lxcv1.Network{IPv4: "dhcp"},
			Application: &lxcv1.Application{Env: []lxcv1.ApplicationEnv{
				{Name: "GREETING", Value: "hello from the spec"}, {Name: "MODE", Value: "e2e"},
			}},
		},
	}
	s.create(t, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, system, app)
	s.create(t, s.container(ns, "system", "system"))
	envapp := s.container(ns, "envapp", "envapp")
	envapp.Spec.Network.IPv4 = s.staticAddress().Next().String() + "/24" // the system container has the first
	s.create(t, envapp)

	s.waitReady(t, ns, "system")
	sys := s.getContainer(t, ns, "system")
	if o := sys.Status.OCIImage; o == nil || o.Reference != reg+"/lxctm/system:bookworm" || o.Digest != systemDigest ||
		!strings.HasPrefix(o.Volid, "local:vztmpl/system_bookworm-sha256_"+strings.TrimPrefix(systemDigest, "sha256:")[:12]) {
		t.Fatalf("status.ociImage of the system container: %+v (pushed %s)", sys.Status.OCIImage, systemDigest)
	}
	if c := conditions.Get(sys, lxcv1.ScriptsCompletedCondition); c == nil || c.Reason != lxcv1.SucceededReason {
		t.Fatalf("the system image's scripts: %+v", c)
	}

	s.waitReady(t, ns, "envapp")
	ea := s.getContainer(t, ns, "envapp")
	if o := ea.Status.OCIImage; o == nil || o.Digest != appDigest {
		t.Fatalf("status.ociImage of the application container: %+v (pushed %s)", ea.Status.OCIImage, appDigest)
	}
	for _, c := range []string{lxcv1.ConfigManagerDeployedCondition, lxcv1.ScriptsCompletedCondition, lxcv1.ServicesDiscoveredCondition} {
		if got := conditions.Get(ea, c); got == nil || got.Status != metav1.ConditionTrue || got.Reason != lxcv1.ApplicationImageReason {
			t.Fatalf("condition %s of the application container: %+v", c, got)
		}
	}
	cfg, err := s.px.ContainerConfig(ctx, ea.Status.Node, int(ea.Status.VMID))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Raw["env"] != "GREETING=hello from the spec\x00MODE=e2e" {
		t.Fatalf("env in Proxmox: %q", cfg.Raw["env"])
	}
	// What the entrypoint runs with, as it serves it from inside the container.
	addr := strings.Split(ea.Status.IPAddress, "/")[0]
	testkit.Eventually(t, time.Minute, func() error {
		conn, err := net.DialTimeout("tcp", net.JoinHostPort(addr, "8080"), 5*time.Second)
		if err != nil {
			return err
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
		b, err := io.ReadAll(conn)
		if err != nil {
			return err
		}
		env := string(b)
		if !strings.Contains(env, "GREETING=hello from the spec\n") || !strings.Contains(env, "MODE=e2e\n") || strings.Contains(env, "FROM_IMAGE=") {
			return fmt.Errorf("envapp runs with:\n%s", env)
		}
		return nil
	})

	// env changed behind the controller's back is set back, with a DriftCorrected Event.
	if err := s.px.UpdateContainerConfig(ctx, ea.Status.Node, int(ea.Status.VMID), proxmox.ConfigUpdate{Set: map[string]string{"env": "GREETING=tampered"}}); err != nil {
		t.Fatal(err)
	}
	expectDriftCorrected(t, s, ea, "application.env", func() error {
		pc, err := s.px.ContainerPending(ctx, ea.Status.Node, int(ea.Status.VMID))
		if err != nil || pc.Next.Raw["env"] != "GREETING=hello from the spec\x00MODE=e2e" {
			return fmt.Errorf("env in Proxmox: %q (%v)", pc.Next.Raw["env"], err)
		}
		return nil
	})
	s.waitReady(t, ns, "envapp")

	// A new tag: RecreateRequired in place; with Recreate the container is made from v2.
	v2Digest := ocitest.Push(t, reg+"/test/envapp:v2", v1.Config{Entrypoint: []string{"/envapp"}, Env: []string{"FROM_IMAGE=2"}},
		ocitest.Bytes(ocitest.Layer(t, ocitest.File{Name: "envapp", Content: string(content), Mode: 0o755},
			ocitest.File{Name: "version", Content: "2\n"})))
	tmpl := &lxcv1.LXCTemplate{}
	if err := s.k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "envapp"}, tmpl); err != nil {
		t.Fatal(err)
	}
	tmpl.Spec.OSTemplate = "oci://" + reg + "/test/envapp:v2"
	if err := s.k8s.Update(ctx, tmpl); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 2*time.Minute, func() error {
		c := s.getContainer(t, ns, "envapp")
		if st := conditions.Get(c, lxcv1.StalledCondition); st == nil || st.Reason != lxcv1.RecreateRequiredReason ||
			!strings.Contains(st.Message, "envapp:v2") {
			return fmt.Errorf("not Stalled with RecreateRequired naming envapp:v2: %+v", c.Status.Conditions)
		}
		return nil
	})
	update(t, s, s.getContainer(t, ns, "envapp"), func(c *lxcv1.LXCContainer) { c.Spec.UpdateStrategy = lxcv1.UpdateStrategyRecreate })
	ea = s.waitGeneration(t, ns, "envapp")
	if o := ea.Status.OCIImage; o == nil || o.Reference != reg+"/test/envapp:v2" || o.Digest != v2Digest {
		t.Fatalf("status.ociImage after the recreate: %+v (pushed %s)", ea.Status.OCIImage, v2Digest)
	}
}
