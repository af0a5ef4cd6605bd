package fake

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"io/fs"
	"net/netip"
	"strings"
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"templatemanager.dev/lxc-template-manager/internal/configmanager"
	"templatemanager.dev/lxc-template-manager/internal/discovery"
	"templatemanager.dev/lxc-template-manager/internal/pvesim"
	"templatemanager.dev/lxc-template-manager/internal/ssh"
	"templatemanager.dev/lxc-template-manager/internal/testkit"
)

// These tests drive a guest with the controller's own SSH client (internal/ssh), so they show
// that the stand-in answers what the production code asks, the way it asks it.

type guestFixture struct {
	b      *Backend
	signer gossh.Signer
	dialer *ssh.Dialer
	spec   pvesim.ContainerSpec
}

func startGuest(t *testing.T, dir string, options ...func(*Options)) *guestFixture {
	t.Helper()
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	signer, err := gossh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	// The guest listens on a loopback address of its own, so it must be told the port.
	port := testkit.ReservePort(t)
	opts := Options{StateDir: dir, GuestPort: port}
	for _, o := range options {
		o(&opts)
	}
	b, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	sp := spec()
	sp.Networks[0].Lease = netip.MustParsePrefix("169.254.77.2/24")
	sp.SSHKeys = string(gossh.MarshalAuthorizedKey(signer.PublicKey()))
	ctx := context.Background()
	if err := b.Create(ctx, sp); err != nil {
		t.Fatal(err)
	}
	if err := b.Start(ctx, sp); err != nil {
		t.Fatal(err)
	}
	return &guestFixture{b: b, signer: signer, spec: sp, dialer: &ssh.Dialer{
		Retry: ssh.Backoff{Attempts: 1}, ConnectTimeout: 5 * time.Second, DialContext: GuestDialer(port),
	}}
}

func (f *guestFixture) dial(t *testing.T, pin string) *ssh.Client {
	t.Helper()
	c, err := f.dialer.Dial(context.Background(), ssh.Target{Address: "169.254.77.2", Signer: f.signer, HostKey: pin})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func exec(t *testing.T, c *ssh.Client, line string) ssh.Result {
	t.Helper()
	res, err := c.Exec(context.Background(), ssh.Command{Line: line})
	if err != nil {
		t.Fatalf("%s: %v", line, err)
	}
	return res
}

func TestGuestHostKeyIsStableAndAddressIsItsOwn(t *testing.T) {
	dir := t.TempDir()
	f := startGuest(t, dir)
	c := f.dial(t, "")
	pin := c.HostKey()
	if pin != f.b.Guest(100).HostKey() {
		t.Fatalf("presented %s, guest has %s", pin, f.b.Guest(100).HostKey())
	}
	if got := f.b.Guest(100).Address(); !strings.HasPrefix(got, "127.254.77.2:") {
		t.Errorf("guest listens on %s, want 127.254.77.2", got)
	}
	out := exec(t, c, "cat /sys/class/net/eth0/address 2>/dev/null || echo -")
	if string(out.Stdout) != "bc:24:11:00:00:01\n" {
		t.Errorf("the MAC probe said %q", out.Stdout)
	}
	out = exec(t, c, "command -v bash >/dev/null 2>&1 && echo bash || echo -; [ -d /run/systemd/system ] && echo systemd || echo -")
	if string(out.Stdout) != "bash\nsystemd\n" {
		t.Errorf("the support probe said %q", out.Stdout)
	}
	ctx := context.Background()
	if err := f.b.Stop(ctx, 100); err != nil {
		t.Fatal(err)
	}
	if _, err := f.dialer.Dial(ctx, ssh.Target{Address: "169.254.77.2", Signer: f.signer}); err == nil {
		t.Fatal("a stopped guest answered")
	}
	if err := f.b.Start(ctx, f.spec); err != nil {
		t.Fatal(err)
	}
	f.dial(t, pin) // the pin holds across a restart of the container
	_ = f.b.Close()
	again, err := New(Options{StateDir: dir, GuestPort: f.b.opts.GuestPort})
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	if again.Guest(100).HostKey() != pin {
		t.Error("the host key changed across a restart of the simulator")
	}
}

func TestGuestRefusesUnknownKey(t *testing.T) {
	f := startGuest(t, t.TempDir())
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	other, _ := gossh.NewSignerFromKey(priv)
	_, err := f.dialer.Dial(context.Background(), ssh.Target{Address: "169.254.77.2", Signer: other})
	if !errors.Is(err, ssh.ErrAuthentication) {
		t.Fatalf("got %v, want ErrAuthentication", err)
	}
}

func TestGuestUploadAndConfigSync(t *testing.T) {
	f := startGuest(t, t.TempDir())
	c := f.dial(t, "")
	ctx := context.Background()
	deploy := func(files ...configmanager.ManagedFile) ssh.Result {
		bundle, err := configmanager.Render(configmanager.Config{Env: []configmanager.EnvVar{{Name: "A", Value: "1"}}, Files: files})
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range bundle.Directories {
			exec(t, c, "install -d -m 0700 -o 'root' -g 'root' "+ssh.ShellQuote(d.Path))
		}
		for _, file := range bundle.Files {
			if err := c.Upload(ctx, ssh.File{Path: file.Path, Content: file.Content, Mode: file.Mode, Owner: file.Owner}); err != nil {
				t.Fatal(err)
			}
		}
		exec(t, c, configmanager.ActivateCommand)
		return exec(t, c, configmanager.ResultCommand)
	}
	res := deploy(configmanager.ManagedFile{Path: "/etc/app/app.conf", Content: []byte("x=1\n"), Mode: 0o640, Owner: "www-data:www-data"})
	if string(res.Stdout) != "0\nsuccess\nenabled\n" {
		t.Fatalf("result %q", res.Stdout)
	}
	got, err := c.ReadFile(ctx, "/etc/app/app.conf")
	if err != nil || string(got) != "x=1\n" {
		t.Fatalf("app.conf = %q, %v", got, err)
	}
	env, _ := f.b.Guest(100).ReadFile(configmanager.EnvPath)
	if !strings.Contains(string(env), "A=") {
		t.Errorf("config.env = %q", env)
	}

	res = deploy(configmanager.ManagedFile{Path: "/etc/app/app.conf", Content: []byte("x=2\n"), Owner: "ghost:ghost"})
	if string(res.Stdout) != "0\nexit-code\nenabled\n" {
		t.Fatalf("result %q, want a failed unit", res.Stdout)
	}
	log := exec(t, c, configmanager.LogCommand)
	if !strings.Contains(string(log.Stdout), "error: /etc/app/app.conf: owner ghost:ghost: no user ghost") {
		t.Errorf("log %q", log.Stdout)
	}
}

func TestGuestRunsAndLosesRuns(t *testing.T) {
	f := startGuest(t, t.TempDir())
	c := f.dial(t, "")
	ctx := context.Background()
	script := []byte("#!/bin/bash\n# fake-guest: sleep=0s exit=3\n# fake-guest-print: hello\n")
	st, err := c.StartRun(ctx, ssh.RunSpec{ID: "quick", Script: script})
	if err != nil {
		t.Fatal(err)
	}
	for st.State != ssh.RunFinished {
		time.Sleep(5 * time.Millisecond)
		if st, err = c.InspectRun(ctx, "quick", 5); err != nil {
			t.Fatal(err)
		}
	}
	if st.ExitCode != 3 || st.OutputTail != "hello" || st.StartedAt.IsZero() || st.FinishedAt.IsZero() {
		t.Errorf("run = %+v", st)
	}

	st, err = c.StartRun(ctx, ssh.RunSpec{ID: "slow", Script: []byte("# fake-guest: sleep=1h\n")})
	if err != nil || st.State != ssh.RunRunning {
		t.Fatalf("slow run: %+v, %v", st, err)
	}
	f.b.Guest(100).Reboot()
	c = f.dial(t, c.HostKey())
	st, err = c.InspectRun(ctx, "slow", 5)
	if err != nil || st.State != ssh.RunUnknown || st.Detail != "the run is not active and recorded no exit code" {
		t.Fatalf("after reboot: %+v, %v", st, err)
	}
	if err := c.RemoveRun(ctx, "slow"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ReadFile(ctx, ssh.RunID("slow").Dir()+"/started-at"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("removed run left %v", err)
	}
	st, err = c.StartRun(ctx, ssh.RunSpec{ID: "timeout", Script: []byte("# fake-guest: sleep=1h\n"), Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	for st.State != ssh.RunFinished {
		time.Sleep(50 * time.Millisecond)
		if st, err = c.InspectRun(ctx, "timeout", 5); err != nil {
			t.Fatal(err)
		}
	}
	if st.ExitCode != ssh.TimeoutExitCode {
		t.Errorf("timed out run exited %d", st.ExitCode)
	}
	runs := f.b.Guest(100).Runs()
	if len(runs) != 3 || runs[1].State != "lost" || runs[0].ExitCode != 3 {
		t.Errorf("history %+v", runs)
	}
}

func TestGuestDiscovery(t *testing.T) {
	f := startGuest(t, t.TempDir())
	c := f.dial(t, "")
	ctx := context.Background()
	if err := c.Upload(ctx, ssh.File{Path: discovery.CollectorPath, Content: discovery.CollectorScript(), Mode: 0o755}); err != nil {
		t.Fatal(err)
	}
	script := []byte("# fake-guest: listen=tcp/8080/nginx credentials=web.env:TOKEN=abc\n")
	st, err := c.StartRun(ctx, ssh.RunSpec{ID: "web", Script: script})
	for err == nil && st.State != ssh.RunFinished {
		time.Sleep(5 * time.Millisecond)
		st, err = c.InspectRun(ctx, "web", 5)
	}
	if err != nil || st.ExitCode != 0 {
		t.Fatalf("%+v %v", st, err)
	}
	res := exec(t, c, discovery.CollectCommand)
	snap, err := discovery.ParseSnapshot(res.Stdout)
	if err != nil {
		t.Fatal(err)
	}
	services := discovery.Services(snap, netip.MustParseAddr("169.254.77.2"))
	var names []string
	for _, s := range services {
		names = append(names, s.Name+":"+s.Unit)
	}
	if strings.Join(names, ",") != "ssh:ssh.service,nginx:nginx.service" {
		t.Errorf("services %v", names)
	}
	data, err := discovery.CredentialsData(snap.Credentials)
	if err != nil || string(data["TOKEN"]) != "abc" {
		t.Errorf("credentials %v, %v", data, err)
	}
}
