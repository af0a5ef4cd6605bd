package lxc_test

import (
	"context"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"templatemanager.dev/lxc-template-manager/internal/proxmox"
	"templatemanager.dev/lxc-template-manager/internal/pvesim"
	"templatemanager.dev/lxc-template-manager/internal/pvesim/lxc"
	"templatemanager.dev/lxc-template-manager/internal/pvesim/lxc/lxctest"
	"templatemanager.dev/lxc-template-manager/internal/pvesim/pvesimtest"
	"templatemanager.dev/lxc-template-manager/internal/testkit"
)

// movingSim starts a two-node simulator on a fresh lxc backend (one that copies the template
// for each container with fullCopies) and returns a client of it.
func movingSim(t *testing.T, vmid int, fullCopies bool) (*lxc.Backend, proxmox.Client, netip.Prefix, string) {
	t.Helper()
	lxctest.RequireHost(t)
	tarball := lxctest.Template(t)
	bridge, subnet := lxctest.Network(t)
	dir := t.TempDir()
	opts := lxctest.Options(t, dir, bridge, subnet)
	opts.FullCopies = fullCopies
	b, err := lxc.New(opts)
	if err != nil {
		t.Fatalf("lxc backend: %v", err)
	}
	// Registered before the simulator, so it runs after the simulator stopped.
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_ = b.Destroy(ctx, vmid)
		lxctest.Shutdown(t, b)
	})
	sim := pvesimtest.Start(t, pvesimtest.WithNodes("pve1", "pve2"), pvesimtest.WithBackend(b), pvesimtest.WithStateDir(dir),
		pvesimtest.WithSubnet(subnet), pvesimtest.WithTemplateDir(filepath.Dir(tarball)),
		pvesimtest.WithOptions(func(o *pvesim.Options) { o.LockTimeout = 10 * time.Second }))
	px, err := proxmox.New(proxmox.Settings{
		Endpoint: sim.URL,
		Auth:     proxmox.Auth{TokenID: sim.TokenID, TokenSecret: sim.Secret},
		TLS:      proxmox.TLSSettings{CAPEM: sim.CAPEM},
	})
	if err != nil {
		t.Fatal(err)
	}
	return b, px, subnet, "local:vztmpl/" + filepath.Base(tarball)
}

// filesNamed maps the path of each file called name below dir to its content.
func filesNamed(t *testing.T, dir, name string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() && d.Name() == name {
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			out[p] = strings.TrimSpace(string(data))
		}
		return nil
	})
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return out
}

// TestMigrationMovesVolumes: a restart migration through the simulator carries an
// unprivileged container's data to the target node's storage, as pve-container's
// src/PVE/LXC/Migrate.pm copies each local volume and frees the source's: a file written in
// its root filesystem and one in its mount point volume are found under the target node's
// directory and nothing of the container is left under the source's; it runs on the target
// with both files, and what it writes there lands on the target's storage. Both with the
// root filesystem as an overlay and as a full copy of the template.
func TestMigrationMovesVolumes(t *testing.T) {
	t.Run("overlay", func(t *testing.T) { testMigrationMovesVolumes(t, false) })
	t.Run("full copy", func(t *testing.T) { testMigrationMovesVolumes(t, true) })
}

func testMigrationMovesVolumes(t *testing.T, fullCopies bool) {
	const vmid = 410
	b, px, subnet, osTemplate := movingSim(t, vmid, fullCopies)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	signer := lxctest.NewSigner(t)
	addr := netip.PrefixFrom(subnet.Addr().Next().Next(), subnet.Bits())
	upid, err := px.CreateContainer(ctx, "pve1", proxmox.CreateSpec{
		VMID: vmid, OSTemplate: osTemplate, Hostname: "mover", Storage: "local-lvm", RootFSGiB: 2, MemoryMiB: 512,
		Nets:          []proxmox.NetConfig{{Name: "eth0", Bridge: "vmbr0", IP: addr.String(), Gateway: b.HostAddress().String()}},
		SSHPublicKeys: []string{strings.TrimSpace(string(ssh.MarshalAuthorizedKey(signer.PublicKey())))},
	})
	if err != nil {
		t.Fatal(err)
	}
	testkit.WaitTaskOK(t, ctx, px, upid)
	if err := px.UpdateContainerConfig(ctx, "pve1", vmid, proxmox.ConfigUpdate{Set: map[string]string{"mp0": "local-lvm:1,mp=/data"}}); err != nil {
		t.Fatal(err)
	}
	upid, err = px.StartContainer(ctx, "pve1", vmid)
	if err != nil {
		t.Fatal(err)
	}
	testkit.WaitTaskOK(t, ctx, px, upid)
	ct := &lxctest.CT{Backend: b, Spec: pvesim.ContainerSpec{VMID: vmid}, Addr: addr.Addr(), Signer: signer}
	ct.WaitBooted(t)
	ct.Exec(t, "/bin/sh", "-c", "echo written-on-pve1 > /root/moved.txt && echo volume-on-pve1 > /data/moved.txt && sync")
	if got := filesNamed(t, b.ImagesDir("pve1", vmid), "moved.txt"); len(got) != 2 {
		t.Fatalf("before the move, pve1's storage holds %v, want the two files", got)
	}

	upid, err = px.MigrateContainer(ctx, "pve1", vmid, proxmox.MigrateOptions{Target: "pve2", Restart: true, Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	testkit.WaitTaskOK(t, ctx, px, upid)

	if _, err := os.Stat(b.ImagesDir("pve1", vmid)); !os.IsNotExist(err) {
		t.Errorf("pve1's storage still holds the container's volumes (%v)", err)
	}
	moved := filesNamed(t, b.ImagesDir("pve2", vmid), "moved.txt")
	contents := map[string]bool{}
	for _, c := range moved {
		contents[c] = true
	}
	if len(moved) != 2 || !contents["written-on-pve1"] || !contents["volume-on-pve1"] {
		t.Fatalf("pve2's storage holds %v, want the root filesystem's and the volume's file", moved)
	}
	st, err := px.ContainerStatus(ctx, "pve2", vmid)
	if err != nil || !st.Running() {
		t.Fatalf("CT %d on pve2: %+v, %v", vmid, st, err)
	}
	ct.WaitBooted(t)
	client := ct.Dial(t)
	if got := strings.Fields(sshRun(t, client, "cat /root/moved.txt /data/moved.txt")); strings.Join(got, " ") != "written-on-pve1 volume-on-pve1" {
		t.Errorf("the container on pve2 reads %q", got)
	}
	sshRun(t, client, "echo written-on-pve2 > /data/after.txt && sync")
	if got := filesNamed(t, b.ImagesDir("pve2", vmid), "after.txt"); len(got) != 1 {
		t.Errorf("a file written on pve2 is not on pve2's storage: %v", got)
	}
}
