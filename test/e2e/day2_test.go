package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fluxcd/pkg/runtime/conditions"
	gossh "golang.org/x/crypto/ssh"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
	"templatemanager.dev/lxc-template-manager/internal/pvesim/lxc/lxctest"
	"templatemanager.dev/lxc-template-manager/internal/testkit"
)

// TestDayTwo: after a container is Ready, every change to its spec reaches Proxmox and the
// guest, or a condition says why not. One container on real LXC, in steps that build on each
// other.
func TestDayTwo(t *testing.T) {
	t.Parallel()
	// Its own template directory: the Debian template and a second one, for the OS template change.
	templates := t.TempDir()
	const nextTarball = "debian-12-standard_12.7-2_amd64.tar.zst"
	for _, name := range []string{filepath.Base(lxctest.Template(t)), nextTarball} {
		linkOrCopy(t, lxctest.Template(t), filepath.Join(templates, name))
	}
	s := startStack(t, "--template-dir", templates)
	s.startManager(t)
	ctx := context.Background()
	ns := "day2"
	signer := lxctest.NewSigner(t)
	userKey := lxcv1.SSHPublicKey(strings.TrimSpace(string(gossh.MarshalAuthorizedKey(signer.PublicKey()))) + " e2e@test")
	env := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "app-env"}, StringData: map[string]string{"GREETING": "hello"}}
	tmpl := s.lightTemplate(ns, "app")
	s.create(t, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, tmpl, env)
	c := s.container(ns, "app", "app")
	c.Spec.SSHPublicKeys = []lxcv1.SSHPublicKey{userKey}
	c.Spec.Config = &lxcv1.ContainerConfig{EnvFrom: []lxcv1.EnvFromSource{{SecretRef: &lxcv1.LocalObjectReference{Name: "app-env"}}}}
	s.create(t, c)
	s.waitReady(t, ns, "app")
	c = s.getContainer(t, ns, "app")
	node, vmid, addr := c.Status.Node, int(c.Status.VMID), c.Status.IPAddress

	t.Run("disk, cores, memory, hostname and a nameserver in one patch", func(t *testing.T) {
		update(t, s, c, func(c *lxcv1.LXCContainer) {
			c.Spec.Resources = &lxcv1.Resources{Cores: ptr(int32(2)), MemoryMiB: ptr(int32(384)), DiskGiB: ptr(int32(3))}
			c.Spec.Hostname = "app-renamed"
			c.Spec.Network.Nameservers = []string{"169.254.0.53"}
		})
		s.waitGeneration(t, ns, "app")
		pc, err := s.px.ContainerPending(ctx, node, vmid)
		if err != nil {
			t.Fatal(err)
		}
		cfg := pc.Current
		if cfg.Cores != 2 || cfg.MemoryMiB != 384 || cfg.RootFS.Size != "3G" || cfg.Hostname != "app-renamed" ||
			strings.Join(cfg.Nameservers, " ") != "169.254.0.53" || len(pc.Pending) != 0 {
			t.Errorf("Proxmox config when Ready: cores %d, memory %d, rootfs %s, hostname %s, nameservers %v, pending %v",
				cfg.Cores, cfg.MemoryMiB, cfg.RootFS.Size, cfg.Hostname, cfg.Nameservers, pc.Pending)
		}
		guest := dialContainer(t, addr, signer)
		if got := strings.TrimSpace(run1(t, guest, "hostname")); got != "app-renamed" {
			t.Errorf("hostname in the guest = %q", got)
		}
		if got := run1(t, guest, "cat /etc/resolv.conf"); !strings.Contains(got, "nameserver 169.254.0.53") {
			t.Errorf("resolv.conf in the guest:\n%s", got)
		}
		if notes := eventsAbout(t, s, ns, "app"); !containsLine(notes, lxcv1.RestartingReason, "hostname", "nameserver") ||
			!containsLine(notes, lxcv1.ResizingReason, "rootfs") {
			t.Errorf("no Restarting and Resizing Events:\n%s", strings.Join(notes, "\n"))
		}
	})

	t.Run("nesting off and a new mount point", func(t *testing.T) {
		tmpl := &lxcv1.LXCTemplate{}
		if err := s.k8s.Get(ctx, client2Key(ns, "app"), tmpl); err != nil {
			t.Fatal(err)
		}
		tmpl.Spec.Features.Nesting = false
		if err := s.k8s.Update(ctx, tmpl); err != nil {
			t.Fatal(err)
		}
		update(t, s, c, func(c *lxcv1.LXCContainer) {
			c.Spec.MountPoints = []lxcv1.MountPoint{{Index: 0, Path: "/srv/data", SizeGiB: 1}}
		})
		s.waitGeneration(t, ns, "app")
		testkit.Eventually(t, 3*time.Minute, func() error {
			pc, err := s.px.ContainerPending(ctx, node, vmid)
			if err != nil {
				return err
			}
			if pc.Current.Features.Nesting || len(pc.Pending) != 0 {
				return fmt.Errorf("features %+v, pending %v", pc.Current.Features, pc.Pending)
			}
			if mp, ok := pc.Current.MountPoints[0]; !ok || mp.Options["mp"] != "/srv/data" || mp.Size != "1G" {
				return fmt.Errorf("mp0 = %+v", pc.Current.MountPoints)
			}
			if !containsLine(eventsAbout(t, s, ns, "app"), lxcv1.RestartingReason, "features") {
				return fmt.Errorf("no Restarting Event for the features yet")
			}
			// Ready again after the restart: no task in flight, nothing left to restart for.
			if c := s.getContainer(t, ns, "app"); !conditions.IsReady(c) || c.Status.Operation != "" || len(c.Status.RestartPending) != 0 {
				return fmt.Errorf("not Ready after the restart: operation %q, restartPending %v", c.Status.Operation, c.Status.RestartPending)
			}
			return nil
		})
		// The Event can be read a moment before the status that records the restart: ask the
		// guest until it answers.
		testkit.Eventually(t, 2*time.Minute, func() error {
			out, err := tryRun(addr, signer, "findmnt -n -o TARGET /srv/data")
			if err != nil {
				return err
			}
			if strings.TrimSpace(out) != "/srv/data" {
				return fmt.Errorf("the mount point is not mounted in the guest: %q", out)
			}
			return nil
		})
	})

	t.Run("an added SSH key logs in", func(t *testing.T) {
		added := lxctest.NewSigner(t)
		update(t, s, c, func(c *lxcv1.LXCContainer) {
			c.Spec.SSHPublicKeys = append(c.Spec.SSHPublicKeys, lxcv1.SSHPublicKey(strings.TrimSpace(string(gossh.MarshalAuthorizedKey(added.PublicKey())))))
		})
		s.waitGeneration(t, ns, "app")
		guest := dialContainer(t, addr, added)
		if got := strings.TrimSpace(run1(t, guest, "echo in")); got != "in" {
			t.Errorf("the added key: %q", got)
		}
	})

	t.Run("a restart request reboots the guest once", func(t *testing.T) {
		// /run is a tmpfs in the guest, so a marker there is gone after a boot; PID 1's start
		// time (field 22 of /proc/1/stat, in ticks since the host booted) moves with each boot.
		const marker, request = "/run/lxctm-e2e-boot-marker", "e2e-restart-1"
		probe := "(test -e " + marker + " && echo kept || echo gone) && cut -d' ' -f22 /proc/1/stat"
		boot := func() (markerState, initStart string) {
			t.Helper()
			var out string
			testkit.Eventually(t, 2*time.Minute, func() error {
				var err error
				out, err = tryRun(addr, signer, probe)
				return err
			})
			f := strings.Fields(out)
			if len(f) != 2 {
				t.Fatalf("%s: %q", probe, out)
			}
			return f[0], f[1]
		}
		run1(t, dialContainer(t, addr, signer), "touch "+marker)
		_, before := boot()

		update(t, s, c, func(c *lxcv1.LXCContainer) {
			metav1.SetMetaDataAnnotation(&c.ObjectMeta, lxcv1.RestartRequestAnnotation, request)
		})
		testkit.Eventually(t, 3*time.Minute, func() error {
			c := s.getContainer(t, ns, "app")
			if c.Status.LastHandledRestartAt != request || c.Status.Operation != "" || !conditions.IsReady(c) {
				return fmt.Errorf("restart not handled yet: lastHandledRestartAt %q, operation %q, Ready: %s",
					c.Status.LastHandledRestartAt, c.Status.Operation, conditions.GetMessage(c, lxcv1.ReadyCondition))
			}
			return nil
		})
		state, after := boot()
		if state != "gone" || after == before {
			t.Errorf("the guest did not boot again: the marker in /run is %s, PID 1 started at tick %s before and %s after", state, before, after)
		}
		if n := countLines(eventsAbout(t, s, ns, "app"), "Normal "+lxcv1.RestartedReason+":", `"`+request+`"`); n != 1 {
			t.Errorf("%d Restarted Events name the request, want 1:\n%s", n, strings.Join(eventsAbout(t, s, ns, "app"), "\n"))
		}

		// Handled once: a later reconcile does not boot the guest again.
		update(t, s, c, func(c *lxcv1.LXCContainer) {
			metav1.SetMetaDataAnnotation(&c.ObjectMeta, lxcv1.ReconcileRequestAnnotation, "after-"+request)
		})
		testkit.Eventually(t, time.Minute, func() error {
			if c := s.getContainer(t, ns, "app"); c.Status.LastHandledReconcileAt != "after-"+request || !conditions.IsReady(c) {
				return fmt.Errorf("reconcile request not handled yet")
			}
			return nil
		})
		if _, again := boot(); again != after {
			t.Errorf("a reconcile after the restart booted the guest again (PID 1 from tick %s to %s)", after, again)
		}
	})

	t.Run("a rotated root password Secret changes the guest's password", func(t *testing.T) {
		secret := &corev1.Secret{}
		if err := s.k8s.Get(ctx, client2Key(ns, "app-root-password"), secret); err != nil {
			t.Fatal(err)
		}
		const password = "Rotated-pass-42"
		secret.Data["password"] = []byte(password)
		if err := s.k8s.Update(ctx, secret); err != nil {
			t.Fatal(err)
		}
		guest := dialContainer(t, addr, signer)
		// crypt(3) of the password with the salt of root's shadow entry gives the entry back.
		check := `IFS=: read -r _ hash _ <<EOF
$(grep '^root:' /etc/shadow)
EOF
read -r pw; perl -e 'print crypt($ARGV[0], $ARGV[1]) eq $ARGV[1] ? "match\n" : "differs\n"' "$pw" "$hash"`
		testkit.Eventually(t, time.Minute, func() error {
			sess, err := guest.NewSession()
			if err != nil {
				return err
			}
			defer sess.Close()
			sess.Stdin = strings.NewReader(password + "\n")
			out, err := sess.CombinedOutput("bash -c " + shellQuote(check))
			if err != nil {
				return fmt.Errorf("%v: %s", err, out)
			}
			if strings.TrimSpace(string(out)) != "match" {
				return fmt.Errorf("root's password is not the Secret's yet")
			}
			return nil
		})
	})

	t.Run("a changed envFrom Secret reaches config.env within 30 s", func(t *testing.T) {
		secret := &corev1.Secret{}
		if err := s.k8s.Get(ctx, client2Key(ns, "app-env"), secret); err != nil {
			t.Fatal(err)
		}
		secret.Data["GREETING"] = []byte("goodbye")
		if err := s.k8s.Update(ctx, secret); err != nil {
			t.Fatal(err)
		}
		guest := dialContainer(t, addr, signer)
		testkit.Eventually(t, 30*time.Second, func() error {
			sess, err := guest.NewSession()
			if err != nil {
				return err
			}
			defer sess.Close()
			out, _ := sess.CombinedOutput("cat /etc/config-manager/config.env")
			if !bytes.Contains(out, []byte("GREETING=")) || !bytes.Contains(out, []byte("goodbye")) {
				return fmt.Errorf("config.env:\n%s", out)
			}
			return nil
		})
	})

	t.Run("a disk shrink is refused, naming the field", func(t *testing.T) {
		update(t, s, c, func(c *lxcv1.LXCContainer) { c.Spec.Resources.DiskGiB = ptr(int32(2)) })
		testkit.Eventually(t, time.Minute, func() error {
			c := s.getContainer(t, ns, "app")
			if st := conditions.Get(c, lxcv1.StalledCondition); st == nil || st.Reason != lxcv1.DiskShrinkRefusedReason ||
				!strings.Contains(st.Message, "resources.diskGiB") || conditions.IsReady(c) {
				return fmt.Errorf("not Stalled with DiskShrinkRefused: %+v", c.Status.Conditions)
			}
			return nil
		})
		update(t, s, c, func(c *lxcv1.LXCContainer) { c.Spec.Resources.DiskGiB = ptr(int32(3)) })
		s.waitGeneration(t, ns, "app")
	})

	t.Run("an OS template change: RecreateRequired in place, a new container with Recreate", func(t *testing.T) {
		next := "local:vztmpl/" + nextTarball
		tmpl := &lxcv1.LXCTemplate{}
		if err := s.k8s.Get(ctx, client2Key(ns, "app"), tmpl); err != nil {
			t.Fatal(err)
		}
		tmpl.Spec.OSTemplate = next
		if err := s.k8s.Update(ctx, tmpl); err != nil {
			t.Fatal(err)
		}
		testkit.Eventually(t, 2*time.Minute, func() error {
			c := s.getContainer(t, ns, "app")
			if st := conditions.Get(c, lxcv1.StalledCondition); st == nil || st.Reason != lxcv1.RecreateRequiredReason ||
				!strings.Contains(st.Message, "osTemplate") || conditions.IsReady(c) {
				return fmt.Errorf("not Stalled with RecreateRequired: %+v", c.Status.Conditions)
			}
			return nil
		})
		update(t, s, c, func(c *lxcv1.LXCContainer) { c.Spec.UpdateStrategy = lxcv1.UpdateStrategyRecreate })
		c := s.waitGeneration(t, ns, "app")
		if c.Status.OSTemplate != next {
			t.Errorf("status.osTemplate = %q, want %q", c.Status.OSTemplate, next)
		}
		if n := s.markedGuests(t, c); n != 1 {
			t.Errorf("%d Proxmox containers carry the marker, want 1", n)
		}
		if notes := eventsAbout(t, s, ns, "app"); !containsLine(notes, lxcv1.RecreatingReason, "osTemplate") {
			t.Errorf("no Recreating Event:\n%s", strings.Join(notes, "\n"))
		}
		// The container was backed up before it was destroyed, and the backup is kept.
		kept := &lxcv1.LXCBackup{}
		if err := s.k8s.Get(ctx, client2Key(ns, fmt.Sprintf("app-before-recreate-g%d", c.Generation)), kept); err != nil || kept.Status.Archive == "" {
			t.Errorf("no backup taken before the recreate: %+v, %v", kept.Status, err)
		}
	})
}

// waitGeneration waits until the container is Ready for its current generation.
func (s *stack) waitGeneration(t testing.TB, ns, name string) *lxcv1.LXCContainer {
	t.Helper()
	var c *lxcv1.LXCContainer
	deadline := time.Now().Add(5 * time.Minute)
	for {
		c = s.getContainer(t, ns, name)
		if conditions.IsReady(c) && c.Status.ObservedGeneration == c.Generation {
			return c
		}
		if time.Now().After(deadline) {
			dumpContainer(t, s, ns, name)
			t.Fatalf("%s is not Ready for generation %d", name, c.Generation)
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// countLines counts the lines holding every part.
func countLines(lines []string, parts ...string) int {
	n := 0
	for _, l := range lines {
		if containsLine([]string{l}, parts...) {
			n++
		}
	}
	return n
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

func linkOrCopy(t testing.TB, from, to string) {
	t.Helper()
	if os.Link(from, to) == nil {
		return
	}
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// tryRun runs one command in the guest, reporting a refused dial as an error.
func tryRun(addr string, signer gossh.Signer, cmd string) (string, error) {
	c, err := gossh.Dial("tcp", addr+":22", &gossh.ClientConfig{
		User: "root", Auth: []gossh.AuthMethod{gossh.PublicKeys(signer)},
		HostKeyCallback: gossh.InsecureIgnoreHostKey(), Timeout: 10 * time.Second,
	})
	if err != nil {
		return "", err
	}
	defer c.Close()
	sess, err := c.NewSession()
	if err != nil {
		return "", err
	}
	defer sess.Close()
	out, err := sess.CombinedOutput(cmd)
	return string(out), err
}
