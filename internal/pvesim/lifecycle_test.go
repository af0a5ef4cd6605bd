package pvesim_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	proxmox "github.com/luthermonson/go-proxmox"
	"golang.org/x/crypto/ssh"

	"templatemanager.dev/lxc-template-manager/internal/pvesim"
	"templatemanager.dev/lxc-template-manager/internal/pvesim/fake"
	"templatemanager.dev/lxc-template-manager/internal/pvesim/lxc"
	"templatemanager.dev/lxc-template-manager/internal/pvesim/lxc/lxctest"
	"templatemanager.dev/lxc-template-manager/internal/pvesim/pvesimtest"
)

// lifecycleBackend is one backend the lifecycle test runs against.
type lifecycleBackend struct {
	name string
	// start returns a simulator on this backend and the OS template volid to create from.
	start func(t *testing.T) (*pvesimtest.Simulator, string)
	// realContainers: log in over SSH with the key given at create and look around.
	realContainers bool
	timeout        time.Duration
}

var lifecycleBackends = []lifecycleBackend{
	{
		name: "fake",
		start: func(t *testing.T) (*pvesimtest.Simulator, string) {
			return pvesimtest.Start(t), "local:vztmpl/" + fake.Template
		},
		timeout: 30 * time.Second,
	},
	{
		name: "lxc",
		start: func(t *testing.T) (*pvesimtest.Simulator, string) {
			lxctest.RequireHost(t) // skips under -short
			tarball := lxctest.Template(t)
			bridge, subnet := lxctest.Network(t)
			for subnet.Addr().As4()[2] == 169 { // pvesim keeps off 169.254.169.0/24
				bridge, subnet = lxctest.Network(t)
			}
			dir := t.TempDir()
			b, err := lxc.New(lxctest.Options(t, dir, bridge, subnet))
			if err != nil {
				t.Fatalf("lxc backend: %v", err)
			}
			// Registered before the simulator, so it runs after it stopped: real containers a
			// failed test left behind must not outlive it.
			t.Cleanup(func() {
				ctx := testContext(t, time.Minute)
				for _, vmid := range []int{300, 301} {
					if running, _ := b.State(ctx, vmid); running {
						_ = b.Stop(ctx, vmid)
					}
					_ = b.Destroy(ctx, vmid)
				}
			})
			sim := pvesimtest.Start(t, pvesimtest.WithBackend(b), pvesimtest.WithStateDir(dir),
				pvesimtest.WithSubnet(subnet), pvesimtest.WithTemplateDir(filepath.Dir(tarball)),
				pvesimtest.WithOptions(func(o *pvesim.Options) { o.LockTimeout = 10 * time.Second }))
			return sim, "local:vztmpl/" + filepath.Base(tarball)
		},
		realContainers: true,
		timeout:        10 * time.Minute,
	},
}

// TestLifecycle drives go-proxmox v0.8.2, unmodified, through a container's life on every
// backend: create (static and DHCP net0) → task OK → start → the address in /interfaces →
// config update → shutdown → destroy.
func TestLifecycle(t *testing.T) {
	for _, be := range lifecycleBackends {
		t.Run(be.name, func(t *testing.T) {
			sim, template := be.start(t)
			ctx := testContext(t, be.timeout)
			client := newClient(sim)
			node, err := client.Node(ctx, "pve1")
			if err != nil {
				t.Fatalf("node: %v", err)
			}
			gateway := sim.Gateway()
			static := netip.PrefixFrom(addrAt(sim.Subnet, 200), sim.Subnet.Bits())
			cases := []struct {
				name string
				vmid int
				net0 string
				want func(netip.Prefix) bool
			}{
				{"static", 300, fmt.Sprintf("name=eth0,bridge=vmbr0,ip=%s,gw=%s", static, gateway),
					func(p netip.Prefix) bool { return p == static }},
				{"dhcp", 301, "name=eth0,bridge=vmbr0,ip=dhcp",
					func(p netip.Prefix) bool {
						return sim.Subnet.Contains(p.Addr()) && p.Bits() == sim.Subnet.Bits() && p.Addr() != gateway
					}},
			}
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					signer, authorized := newSSHKey(t)
					task, err := node.NewContainer(ctx, c.vmid,
						proxmox.ContainerOption{Name: "ostemplate", Value: template},
						proxmox.ContainerOption{Name: "hostname", Value: "web-" + c.name},
						proxmox.ContainerOption{Name: "cores", Value: 1},
						proxmox.ContainerOption{Name: "memory", Value: 512},
						proxmox.ContainerOption{Name: "rootfs", Value: "local-lvm:4"},
						proxmox.ContainerOption{Name: "net0", Value: c.net0},
						proxmox.ContainerOption{Name: "ssh-public-keys", Value: authorized},
						proxmox.ContainerOption{Name: "password", Value: "s3cret-root"},
						proxmox.ContainerOption{Name: "tags", Value: "lxctm,Web lxctm"},
						proxmox.ContainerOption{Name: "features", Value: "nesting=1"},
						proxmox.ContainerOption{Name: "unprivileged", Value: true},
					)
					waitOK(t, ctx, task, err, "create")

					ct, err := node.Container(ctx, c.vmid)
					if err != nil {
						t.Fatalf("container: %v", err)
					}
					cfg := ct.ContainerConfig
					if cfg.Hostname != "web-"+c.name || cfg.Tags != "lxctm;web" || cfg.Lock != "" || !bool(cfg.Unprivileged) {
						t.Fatalf("config after create: hostname %q tags %q lock %q unprivileged %v", cfg.Hostname, cfg.Tags, cfg.Lock, cfg.Unprivileged)
					}
					if !strings.Contains(cfg.Nets["net0"], "hwaddr=BC:24:11:") || !strings.Contains(cfg.Nets["net0"], "type=veth") {
						t.Fatalf("net0 after create: %q", cfg.Nets["net0"])
					}
					if ct.Status != "stopped" {
						t.Fatalf("status after create: %q", ct.Status)
					}

					task, err = ct.Start(ctx)
					waitOK(t, ctx, task, err, "start")
					if err := ct.Ping(ctx); err != nil || ct.Status != "running" {
						t.Fatalf("status after start: %q, %v", ct.Status, err)
					}
					if _, err := ct.Start(ctx); err == nil || !strings.Contains(err.Error(), fmt.Sprintf("CT %d already running", c.vmid)) {
						t.Fatalf("second start: %v", err)
					}

					addr := waitForAddress(t, ctx, ct, "eth0")
					if !c.want(addr) {
						t.Fatalf("eth0 has %s", addr)
					}
					if be.realContainers {
						checkSSH(t, ctx, addr.Addr(), signer)
					}
					if c.name == "dhcp" {
						// A lease that moves: the running guest's DHCP client takes the new address.
						renewed, err := sim.RenewLease(ctx, c.vmid, 0)
						if err != nil || renewed == addr {
							t.Fatalf("renewing the lease of %s: %s, %v", addr, renewed, err)
						}
						for now := waitForAddress(t, ctx, ct, "eth0"); now != renewed; now = waitForAddress(t, ctx, ct, "eth0") {
							time.Sleep(200 * time.Millisecond)
						}
						addr = renewed
						if be.realContainers {
							checkSSH(t, ctx, addr.Addr(), signer)
						}
					}

					task, err = ct.Config(ctx,
						proxmox.ContainerOption{Name: "memory", Value: 1024},
						proxmox.ContainerOption{Name: "description", Value: "lxctm-owner: default/web uid=1"},
						proxmox.ContainerOption{Name: "tags", Value: "lxctm;web;B"},
					)
					if err != nil || task != nil {
						t.Fatalf("config update: task %v, %v", task, err)
					}
					ct, err = node.Container(ctx, c.vmid)
					if err != nil {
						t.Fatal(err)
					}
					if ct.ContainerConfig.Memory == nil || *ct.ContainerConfig.Memory != 1024 || ct.ContainerConfig.Tags != "b;lxctm;web" ||
						ct.ContainerConfig.Description != "lxctm-owner: default/web uid=1" || ct.MaxMem != 1024<<20 {
						t.Fatalf("config after update: memory %v tags %q description %q maxmem %d",
							ct.ContainerConfig.Memory, ct.ContainerConfig.Tags, ct.ContainerConfig.Description, ct.MaxMem)
					}

					if _, err := ct.Delete(ctx, nil); err == nil || !strings.Contains(err.Error(), fmt.Sprintf("unable to destroy CT %d - container is running", c.vmid)) {
						t.Fatalf("delete while running: %v", err)
					}
					task, err = ct.Shutdown(ctx, true, 60)
					waitOK(t, ctx, task, err, "shutdown")
					if err := ct.Ping(ctx); err != nil || ct.Status != "stopped" {
						t.Fatalf("status after shutdown: %q, %v", ct.Status, err)
					}
					ifaces, err := ct.Interfaces(ctx)
					if err != nil || len(ifaces) != 0 {
						t.Fatalf("interfaces of a stopped CT: %v, %v", ifaces, err)
					}

					task, err = ct.Delete(ctx, &proxmox.ContainerDeleteOptions{Purge: true})
					waitOK(t, ctx, task, err, "destroy")
					_, err = node.Container(ctx, c.vmid)
					want := fmt.Sprintf("Configuration file 'nodes/pve1/lxc/%d.conf' does not exist", c.vmid)
					if err == nil || !strings.Contains(err.Error(), want) {
						t.Fatalf("container after destroy: %v, want %q", err, want)
					}
				})
			}
		})
	}
}

func addrAt(p netip.Prefix, n int) netip.Addr {
	a := p.Masked().Addr()
	for range n {
		a = a.Next()
	}
	return a
}

// waitForAddress polls /interfaces until name has an IPv4 address, as a controller must.
func waitForAddress(t *testing.T, ctx context.Context, ct *proxmox.Container, name string) netip.Prefix {
	t.Helper()
	for {
		ifaces, err := ct.Interfaces(ctx)
		if err != nil {
			t.Fatalf("interfaces: %v", err)
		}
		for _, in := range ifaces {
			if in.Name == name && in.Inet != "" {
				p, err := netip.ParsePrefix(in.Inet)
				if err != nil {
					t.Fatalf("%s inet %q: %v", name, in.Inet, err)
				}
				return p
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("no IPv4 address on %s: %+v", name, ifaces)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func newSSHKey(t *testing.T) (ssh.Signer, string) {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return signer, strings.TrimSpace(string(ssh.MarshalAuthorizedKey(signer.PublicKey())))
}

// checkSSH logs into a real container with the key given at create, waits for systemd to
// finish booting and checks that sshd listens.
func checkSSH(t *testing.T, ctx context.Context, addr netip.Addr, signer ssh.Signer) {
	t.Helper()
	cfg := &ssh.ClientConfig{
		User:            "root",
		Auth:            []ssh.AuthMethod{ssh.PublicKeys(signer)},
		HostKeyCallback: ssh.InsecureIgnoreHostKey(), //nolint:gosec // a container the test just created
		Timeout:         5 * time.Second,
	}
	target := net.JoinHostPort(addr.String(), "22")
	var client *ssh.Client
	for {
		var err error
		if client, err = ssh.Dial("tcp", target, cfg); err == nil {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("ssh %s: %v", target, err)
		case <-time.After(500 * time.Millisecond):
		}
	}
	defer client.Close()
	run := func(cmd string) (string, error) {
		s, err := client.NewSession()
		if err != nil {
			return "", err
		}
		defer s.Close()
		var out, errOut bytes.Buffer
		s.Stdout, s.Stderr = &out, &errOut
		err = s.Run(cmd)
		return strings.TrimSpace(out.String() + errOut.String()), err
	}
	for {
		out, err := run("systemctl is-system-running")
		if err == nil && out == "running" {
			break
		}
		if out != "starting" && out != "initializing" {
			t.Fatalf("systemctl is-system-running: %q, %v", out, err)
		}
		select {
		case <-ctx.Done():
			t.Fatalf("systemd still %q", out)
		case <-time.After(500 * time.Millisecond):
		}
	}
	out, err := run("ss -tln")
	if err != nil || !strings.Contains(out, ":22 ") {
		t.Fatalf("ss -tln: %v\n%s", err, out)
	}
}
