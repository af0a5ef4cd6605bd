package lxc

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"strings"

	"templatemanager.dev/lxc-template-manager/internal/pvesim"
)

// The files a Debian container gets from its Proxmox configuration, as PVE::LXC::Setup::Debian
// writes them.

// hostNames splits a configured hostname into the short name and the fully qualified one.
func hostNames(hostname string) (short, fqdn string) {
	short, _, _ = strings.Cut(hostname, ".")
	return short, hostname
}

func renderHostname(hostname string) string {
	short, _ := hostNames(hostname)
	return short + "\n"
}

const (
	hostsBegin = "# --- BEGIN PVE ---"
	hostsEnd   = "# --- END PVE ---"
)

// renderHosts keeps what the container's /etc/hosts already says and replaces the section
// that names the container itself.
func renderHosts(existing, hostname string) string {
	var kept []string
	inSection := false
	for _, line := range strings.Split(strings.TrimRight(existing, "\n"), "\n") {
		switch {
		case strings.TrimSpace(line) == hostsBegin:
			inSection = true
		case strings.TrimSpace(line) == hostsEnd:
			inSection = false
		case !inSection && line != "":
			kept = append(kept, line)
		}
	}
	short, fqdn := hostNames(hostname)
	names := short
	if fqdn != short {
		names = fqdn + " " + short
	}
	kept = append(kept, hostsBegin, "127.0.1.1 "+names, hostsEnd)
	return strings.Join(kept, "\n") + "\n"
}

// renderInterfaces writes one ifupdown stanza per netN: static with the given address and
// gateway, or dhcp.
func renderInterfaces(nets []pvesim.NetworkSpec) string {
	var b strings.Builder
	b.WriteString("auto lo\niface lo inet loopback\n")
	for _, n := range nets {
		fmt.Fprintf(&b, "\nauto %s\n", n.Name)
		switch {
		case n.DHCP:
			fmt.Fprintf(&b, "iface %s inet dhcp\n", n.Name)
		case n.Address.IsValid():
			fmt.Fprintf(&b, "iface %s inet static\n\taddress %s\n", n.Name, n.Address)
			if n.Gateway.IsValid() {
				fmt.Fprintf(&b, "\tgateway %s\n", n.Gateway)
			}
		default:
			fmt.Fprintf(&b, "iface %s inet manual\n", n.Name)
		}
	}
	return b.String()
}

func renderAuthorizedKeys(keys string) string {
	keys = strings.TrimSpace(keys)
	if keys == "" {
		return ""
	}
	return keys + "\n"
}

// rootfsFiles writes into a stopped container's root filesystem. Writes stay inside the tree
// even if the container replaced a directory with a symlink, and files get the owner that
// root inside the container sees as itself.
type rootfsFiles struct {
	root  *os.Root
	shift int
}

func openRootfs(dir string, shift int) (*rootfsFiles, error) {
	r, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	return &rootfsFiles{root: r, shift: shift}, nil
}

func (f *rootfsFiles) Close() error { return f.root.Close() }

func (f *rootfsFiles) read(name string) (string, error) {
	data, err := f.root.ReadFile(strings.TrimPrefix(name, "/"))
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	return string(data), err
}

// write replaces name atomically, owned by the container's root.
func (f *rootfsFiles) write(name, content string, mode fs.FileMode) error {
	name = strings.TrimPrefix(name, "/")
	tmp := name + ".pvesim-new"
	if err := f.root.WriteFile(tmp, []byte(content), mode); err != nil {
		return err
	}
	if err := f.root.Chmod(tmp, mode); err != nil {
		return err
	}
	if err := f.root.Lchown(tmp, f.shift, f.shift); err != nil {
		return err
	}
	return f.root.Rename(tmp, name)
}

func (f *rootfsFiles) mkdir(name string, mode fs.FileMode) error {
	name = strings.TrimPrefix(name, "/")
	if err := f.root.MkdirAll(name, mode); err != nil {
		return err
	}
	if err := f.root.Chmod(name, mode); err != nil {
		return err
	}
	return f.root.Lchown(name, f.shift, f.shift)
}

// applyIdentity writes hostname, hosts and network configuration.
func (f *rootfsFiles) applyIdentity(spec pvesim.ContainerSpec) error {
	if err := f.write("/etc/hostname", renderHostname(spec.Hostname), 0o644); err != nil {
		return fmt.Errorf("write /etc/hostname: %w", err)
	}
	hosts, err := f.read("/etc/hosts")
	if err != nil {
		return err
	}
	if err := f.write("/etc/hosts", renderHosts(hosts, spec.Hostname), 0o644); err != nil {
		return fmt.Errorf("write /etc/hosts: %w", err)
	}
	if err := f.mkdir("/etc/network", 0o755); err != nil {
		return err
	}
	if err := f.write("/etc/network/interfaces", renderInterfaces(spec.Networks), 0o644); err != nil {
		return fmt.Errorf("write /etc/network/interfaces: %w", err)
	}
	if len(spec.Nameservers) > 0 || len(spec.SearchDomains) > 0 {
		if err := f.write("/etc/resolv.conf", renderResolvConf(spec.Nameservers, spec.SearchDomains), 0o644); err != nil {
			return fmt.Errorf("write /etc/resolv.conf: %w", err)
		}
	}
	return nil
}

// renderResolvConf is resolv.conf as PVE's set_dns writes it.
func renderResolvConf(nameservers, searchDomains []string) string {
	var b strings.Builder
	if len(searchDomains) > 0 {
		b.WriteString("search " + strings.Join(searchDomains, " ") + "\n")
	}
	for _, ns := range nameservers {
		b.WriteString("nameserver " + ns + "\n")
	}
	return b.String()
}

// applySSHKeys installs root's authorized_keys.
func (f *rootfsFiles) applySSHKeys(keys string) error {
	if strings.TrimSpace(keys) == "" {
		return nil
	}
	if err := f.mkdir("/root/.ssh", 0o700); err != nil {
		return err
	}
	if err := f.write("/root/.ssh/authorized_keys", renderAuthorizedKeys(keys), 0o600); err != nil {
		return fmt.Errorf("write authorized_keys: %w", err)
	}
	return nil
}

// setRootPassword runs the container's own chpasswd against its root filesystem, so the hash
// is the one its PAM configuration prescribes. The password travels on standard input only.
func setRootPassword(ctx context.Context, rootfs, password string) error {
	if password == "" {
		return nil
	}
	if strings.ContainsAny(password, "\n\r") {
		return errors.New("root password must not contain a line break")
	}
	if _, err := run(ctx, strings.NewReader("root:"+password+"\n"), "chroot", rootfs, "/usr/sbin/chpasswd"); err != nil {
		return fmt.Errorf("set root password: %w", err)
	}
	return nil
}

// shellQuote quotes s for a POSIX shell.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// writeInside replaces a file in a running container through lxc-attach, so the container's
// own view of its filesystem (and its id mapping) applies.
func (b *Backend) writeInside(ctx context.Context, vmid int, name, content string, mode fs.FileMode) error {
	script := fmt.Sprintf("set -e; mkdir -p %s; cat > %s.pvesim-new; chmod %o %s.pvesim-new; mv -f %s.pvesim-new %s",
		shellQuote(path.Dir(name)), shellQuote(name), mode, shellQuote(name), shellQuote(name), shellQuote(name))
	if _, err := b.attach(ctx, vmid, strings.NewReader(content), "/bin/sh", "-c", script); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	return nil
}
