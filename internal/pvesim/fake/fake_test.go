package fake

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"templatemanager.dev/lxc-template-manager/internal/pvesim"
)

func spec() pvesim.ContainerSpec {
	return pvesim.ContainerSpec{
		VMID: 100, Node: "pve1", Hostname: "web", RootPassword: "do-not-keep", SSHKeys: "ssh-ed25519 AAAA test",
		Networks: []pvesim.NetworkSpec{
			{Index: 0, Name: "eth0", Bridge: "vmbr0", HWAddr: "BC:24:11:00:00:01", DHCP: true, Lease: netip.MustParsePrefix("169.254.9.2/24")},
			{Index: 1, Name: "eth1", Bridge: "vmbr0", HWAddr: "BC:24:11:00:00:02", Address: netip.MustParsePrefix("169.254.9.50/24")},
		},
	}
}

func addresses(t *testing.T, b *Backend, name string) []string {
	t.Helper()
	ifaces, err := b.Interfaces(context.Background(), 100)
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range ifaces {
		if in.Name == name {
			var out []string
			for _, a := range in.Addresses {
				out = append(out, a.String())
			}
			return out
		}
	}
	t.Fatalf("no %s in %+v", name, ifaces)
	return nil
}

func TestAddressesAndPersistence(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	b, err := New(Options{StateDir: dir, DHCPDelay: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Create(ctx, spec()); err != nil {
		t.Fatal(err)
	}
	if err := b.Create(ctx, spec()); err == nil {
		t.Fatal("created twice")
	}
	if running, _ := b.State(ctx, 100); running {
		t.Fatal("running after create")
	}
	if err := b.Start(ctx, spec()); err != nil {
		t.Fatal(err)
	}
	if got := addresses(t, b, "eth0"); len(got) != 1 || !strings.HasPrefix(got[0], "fe80::be24:11ff:fe00:1/64") {
		t.Fatalf("eth0 before the DHCP delay: %v", got)
	}
	if got := addresses(t, b, "eth1"); got[0] != "169.254.9.50/24" {
		t.Fatalf("static eth1: %v", got)
	}
	time.Sleep(200 * time.Millisecond)
	if got := addresses(t, b, "eth0"); got[0] != "169.254.9.2/24" {
		t.Fatalf("eth0 after the DHCP delay: %v", got)
	}

	// A new backend on the same directory finds the container running; no password was kept.
	b2, err := New(Options{StateDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if running, _ := b2.State(ctx, 100); !running {
		t.Fatal("not running after reload")
	}
	data, err := os.ReadFile(filepath.Join(dir, "fake-backend.json"))
	if err != nil || strings.Contains(string(data), "do-not-keep") {
		t.Fatalf("state file: %v %s", err, data)
	}
	if err := b2.Destroy(ctx, 100); err != nil {
		t.Fatal(err)
	}
	if running, _ := b2.State(ctx, 100); running {
		t.Fatal("running after destroy")
	}
}

func TestShutdownDelay(t *testing.T) {
	ctx := context.Background()
	b, _ := New(Options{ShutdownDelay: 100 * time.Millisecond})
	_ = b.Create(ctx, spec())
	_ = b.Start(ctx, spec())
	if err := b.Shutdown(ctx, 100, 50*time.Millisecond); err == nil {
		t.Fatal("shutdown within a timeout shorter than it takes")
	}
	if running, _ := b.State(ctx, 100); !running {
		t.Fatal("stopped although the shutdown timed out")
	}
	if err := b.Shutdown(ctx, 100, time.Second); err != nil {
		t.Fatal(err)
	}
	if running, _ := b.State(ctx, 100); running {
		t.Fatal("running after shutdown")
	}
}
