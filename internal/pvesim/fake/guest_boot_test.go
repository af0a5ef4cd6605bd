package fake

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"syscall"
	"testing"
	"time"

	"templatemanager.dev/lxc-template-manager/internal/ssh"
)

// A guest with a slow boot refuses SSH connections until sshd is up, SSHReadyAfter after the
// container started, and again after a reboot; other containers answer at once.
func TestGuestAnswersSSHOnceBooted(t *testing.T) {
	const boot = time.Second
	began := time.Now()
	f := startGuest(t, t.TempDir(), func(o *Options) {
		o.SSHReadyAfter = func(vmid int, hostname string) time.Duration {
			if hostname == "web" {
				return boot
			}
			return 0
		}
	})
	ctx := context.Background()
	target := ssh.Target{Address: "169.254.77.2", Signer: f.signer}
	if _, err := f.dialer.Dial(ctx, target); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("dialling a booting guest: %v, want connection refused", err)
	}
	if f.b.Guest(100).Address() != "" {
		t.Fatal("a booting guest listens")
	}

	// Another container, started meanwhile, has sshd at once.
	other := f.spec
	other.VMID, other.Hostname = 101, "db"
	other.Networks = slices.Clone(f.spec.Networks)[:1]
	other.Networks[0].HWAddr, other.Networks[0].Lease = "BC:24:11:00:00:03", netip.MustParsePrefix("169.254.77.3/24")
	if err := f.b.Create(ctx, other); err != nil {
		t.Fatal(err)
	}
	if err := f.b.Start(ctx, other); err != nil {
		t.Fatal(err)
	}
	c, err := f.dialer.Dial(ctx, ssh.Target{Address: "169.254.77.3", Signer: f.signer})
	if err != nil {
		t.Fatalf("a guest without a boot delay: %v", err)
	}
	_ = c.Close()

	for {
		c, err = f.dialer.Dial(ctx, target)
		if err == nil {
			break
		}
		if !errors.Is(err, syscall.ECONNREFUSED) || time.Since(began) > boot+10*time.Second {
			t.Fatalf("waiting for sshd: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	_ = c.Close()
	if elapsed := time.Since(began); elapsed < boot {
		t.Fatalf("the guest answered SSH %s after the test began, before its %s boot", elapsed, boot)
	}

	// A reboot takes as long again; a container stopped while booting never starts sshd.
	f.b.Guest(100).Reboot()
	if _, err := f.dialer.Dial(ctx, target); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("dialling a rebooting guest: %v, want connection refused", err)
	}
	if err := f.b.Stop(ctx, 100); err != nil {
		t.Fatal(err)
	}
	time.Sleep(boot + 200*time.Millisecond)
	if addr := f.b.Guest(100).Address(); addr != "" {
		t.Fatalf("a guest stopped while booting listens on %s", addr)
	}
}
