package lxc_test

import (
	"context"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"templatemanager.dev/lxc-template-manager/internal/pvesim"
	"templatemanager.dev/lxc-template-manager/internal/pvesim/lxc/lxctest"
	"templatemanager.dev/lxc-template-manager/internal/pvesim/oci"
	"templatemanager.dev/lxc-template-manager/internal/pvesim/oci/ocitest"
)

// TestOCIApplicationImage: an application image (one static binary, no init, no iproute2)
// pulled into an oci-archive runs its entrypoint as the container's init with the env of the
// spec; the host configures its host-managed address and reads its interfaces.
func TestOCIApplicationImage(t *testing.T) {
	lxctest.RequireHost(t)
	ctx := context.Background()
	dir := t.TempDir()
	bin := filepath.Join(dir, "envapp")
	build := exec.Command("go", "build", "-o", bin, "./testdata/envapp")
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build envapp: %v\n%s", err, out)
	}
	content, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	reg := ocitest.StartRegistry(t)
	layer := ocitest.Layer(t, ocitest.File{Name: "envapp", Content: string(content), Mode: 0o755},
		ocitest.File{Name: "tmp/", Dir: true})
	ocitest.Push(t, reg+"/test/envapp:v1", v1.Config{Entrypoint: []string{"/envapp"}, Env: []string{"FROM_IMAGE=1"}}, ocitest.Bytes(layer))
	archive := filepath.Join(dir, "envapp_v1.tar")
	if _, err := oci.Pull(ctx, reg+"/test/envapp:v1", archive); err != nil {
		t.Fatal(err)
	}

	b, subnet := lxctest.Backend(t)
	addr := netip.PrefixFrom(subnet.Addr().Next().Next().Next(), 24)
	spec := pvesim.ContainerSpec{
		VMID: 700, Node: "pve1", Hostname: "envapp", OSTemplate: archive, Unprivileged: true,
		MemoryMiB: 128, SwapMiB: 0, Unmanaged: true,
		Entrypoint: "/envapp", Env: []string{"GREETING=hello from the spec", "MODE=test"},
		Networks: []pvesim.NetworkSpec{{Index: 0, Name: "eth0", Bridge: "vmbr0", HWAddr: "BC:24:11:AA:BB:70",
			Address: addr, HostManaged: true}},
	}
	if err := b.Create(ctx, spec); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Destroy(context.Background(), spec.VMID) })
	if err := b.Start(ctx, spec); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Stop(context.Background(), spec.VMID) })

	var got string
	waitFor(t, time.Minute, "the entrypoint to answer on "+addr.Addr().String()+":8080", func() bool {
		c, err := net.DialTimeout("tcp", netip.AddrPortFrom(addr.Addr(), 8080).String(), time.Second)
		if err != nil {
			return false
		}
		defer c.Close()
		data, _ := io.ReadAll(c)
		got = string(data)
		return got != ""
	})
	for _, want := range []string{"GREETING=hello from the spec", "MODE=test"} {
		if !strings.Contains(got, want+"\n") {
			t.Errorf("the entrypoint's environment lacks %q:\n%s", want, got)
		}
	}
	ifaces := mustInterfaces(t, b, spec.VMID)
	if eth0, ok := findInterface(ifaces, "eth0"); !ok || !hasAddress(eth0, addr.Addr()) {
		t.Fatalf("interfaces = %+v, want eth0 with the host-managed %s", ifaces, addr)
	}
}
