package desired

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"strings"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
	"templatemanager.dev/lxc-template-manager/internal/proxmox"
)

// setting is one Proxmox option the spec decides.
type setting struct {
	key   string // Proxmox option
	field string // what the spec calls it, for Events and conditions
	want  string // Proxmox text; empty means unset
	same  func(have string) bool
}

// Settings lists the options the controller keeps as the spec says, given the container's
// configuration (the MAC address and interface name of net0 are the container's own).
func (d *Container) settings(have proxmox.ContainerConfig) []setting {
	text := func(want string) func(string) bool { return func(h string) bool { return h == want } }
	flag := func(on bool) string {
		if on {
			return "1"
		}
		return ""
	}
	flagSame := func(on bool) func(string) bool {
		return func(h string) bool { return (h == "1") == on }
	}
	intText := func(n int) string { return strconv.Itoa(n) }

	features := d.ProxmoxFeatures()
	net := d.Net0()
	if cur, ok := have.Nets[0]; ok {
		net.HWAddr = cur.HWAddr
		if cur.Name != "" {
			net.Name = cur.Name
		}
		if d.Firewall == nil {
			net.Firewall = cur.Firewall // the firewall is not the spec's to decide
		}
	}
	tags, _ := proxmox.FormatTags(d.Tags)
	out := []setting{
		{"hostname", "hostname", d.Hostname, text(d.Hostname)},
		{"cores", "resources.cores", intText(d.Cores), text(intText(d.Cores))},
		{"memory", "resources.memoryMiB", intText(d.MemoryMiB), text(intText(d.MemoryMiB))},
		{"swap", "resources.swapMiB", intText(d.SwapMiB), text(intText(d.SwapMiB))},
		{"features", "features", features.String(), func(h string) bool {
			f, err := proxmox.ParseFeatures(h)
			return err == nil && f.Nesting == features.Nesting && f.Keyctl == features.Keyctl && f.Fuse == features.Fuse &&
				f.Mknod == features.Mknod && slices.Equal(sortedCopy(f.Mount), sortedCopy(features.Mount))
		}},
		{"net0", "network", net.String(), func(h string) bool {
			n, err := proxmox.ParseNetConfig(h)
			return err == nil && n.Bridge == net.Bridge && n.IP == net.IP && n.Gateway == net.Gateway && n.Tag == net.Tag &&
				n.Firewall == net.Firewall
		}},
		{"nameserver", "network.nameservers", strings.Join(d.Network.Nameservers, " "), func(h string) bool {
			return slices.Equal(strings.Fields(h), d.Network.Nameservers) || (len(d.Network.Nameservers) == 0 && h == "")
		}},
		{"searchdomain", "network.searchDomains", strings.Join(d.Network.SearchDomains, " "), func(h string) bool {
			return slices.Equal(strings.Fields(h), d.Network.SearchDomains) || (len(d.Network.SearchDomains) == 0 && h == "")
		}},
		{"tags", "tags", tags, func(h string) bool {
			have := proxmox.ParseTags(h)
			slices.Sort(have)
			return slices.Equal(have, d.Tags)
		}},
		{"onboot", "onBoot", flag(d.OnBoot), flagSame(d.OnBoot)},
		{"startup", "startup", d.Startup, text(d.Startup)},
		{"protection", "protection", flag(d.Protection), flagSame(d.Protection)},
	}
	// An application image's entrypoint and env are the spec's only when it names them:
	// unset, they stay as Proxmox took them from the image at create.
	if d.Application && d.Entrypoint != "" {
		out = append(out, setting{"entrypoint", "application.entrypoint", d.Entrypoint, text(d.Entrypoint)})
	}
	if d.Application && len(d.Env) > 0 {
		env := strings.Join(d.Env, "\x00")
		out = append(out, setting{"env", "application.env", env, text(env)})
	}
	return out
}

// ConfigHash identifies everything applyConfig converges; it changes with the spec, the
// template and the buckets' effect on them.
func (d *Container) ConfigHash() string {
	h := sha256.New()
	for _, st := range d.settings(proxmox.ContainerConfig{}) {
		fmt.Fprintf(h, "%s=%s\x00", st.key, st.want)
	}
	for _, m := range d.MountPoints {
		fmt.Fprintf(h, "mp%d=%s:%d,%s,%t,%s,%t\x00", m.Index, m.Storage, m.SizeGiB, m.Path, m.Backup, m.HostPath, m.ReadOnly)
	}
	for i, dev := range d.Devices {
		fmt.Fprintf(h, "dev%d=%s\x00", i, DeviceText(dev))
	}
	fmt.Fprintf(h, "disk=%d\x00storage=%s\x00unprivileged=%t\x00os=%s\x00", d.DiskGiB, d.Storage, d.Unprivileged, d.OSTemplate)
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// Changes is the update that makes next (the configuration with its pending changes) what
// the spec says, and the spec fields it changes. Sizes are left to growDisks.
func Changes(d *Container, next proxmox.ContainerConfig) (proxmox.ConfigUpdate, []string) {
	u := proxmox.ConfigUpdate{Set: map[string]string{}}
	var fields []string
	for _, st := range d.settings(next) {
		if st.same(next.Raw[st.key]) {
			continue
		}
		if st.want == "" {
			u.Delete = append(u.Delete, st.key)
		} else {
			u.Set[st.key] = st.want
		}
		fields = append(fields, st.field)
	}
	wanted := map[int]bool{}
	for _, m := range d.MountPoints {
		i := int(m.Index)
		wanted[i] = true
		key := fmt.Sprintf("mp%d", i)
		field := fmt.Sprintf("mountPoints[%d]", i)
		have, ok := next.MountPoints[i]
		switch {
		case m.IsBind() && (!ok || have.Volume != m.HostPath || have.Options["mp"] != m.Path || (have.Options["ro"] == "1") != m.ReadOnly):
			// A bind mount is its host path: one replacing a volume leaves that volume unused.
			u.Set[key] = mountText(m.HostPath, "", m)
			fields = append(fields, field)
		case m.IsBind():
		case !ok || strings.HasPrefix(have.Volume, "/"):
			u.Set[key] = mountText(fmt.Sprintf("%s:%d", m.Storage, m.SizeGiB), "", m)
			fields = append(fields, field)
		case have.Options["mp"] != m.Path || (have.Options["backup"] == "1") != m.Backup || (have.Options["ro"] == "1") != m.ReadOnly:
			u.Set[key] = mountText(have.Volume, have.Size, m)
			fields = append(fields, field)
		}
	}
	for i := range next.MountPoints {
		if !wanted[i] {
			u.Delete = append(u.Delete, fmt.Sprintf("mp%d", i))
			fields = append(fields, fmt.Sprintf("mountPoints[%d] (removed; its volume stays, unused)", i))
		}
	}
	for i, dev := range d.Devices {
		key := fmt.Sprintf("dev%d", i)
		if have, ok := next.Raw[key]; !ok || !sameDevice(have, dev) {
			u.Set[key] = DeviceText(dev)
			fields = append(fields, fmt.Sprintf("devices[%d] (%s)", i, dev.Path))
		}
	}
	for key := range next.Raw {
		n, ok := strings.CutPrefix(key, "dev")
		if i, err := strconv.Atoi(n); ok && err == nil && i >= len(d.Devices) {
			u.Delete = append(u.Delete, key)
			fields = append(fields, key+" (removed)")
		}
	}
	slices.Sort(u.Delete)
	return u, fields
}

func mountText(volume, size string, m lxcv1.MountPoint) string {
	s := volume + ",mp=" + m.Path
	if size != "" {
		s += ",size=" + size
	}
	if m.Backup {
		s += ",backup=1"
	}
	if m.ReadOnly {
		s += ",ro=1"
	}
	return s
}

// PassthroughOptions are the bind mount points and devices as Proxmox's mp[n] and dev[n]
// options, for the create call.
func PassthroughOptions(d *Container) map[string]string {
	opts := map[string]string{}
	for _, m := range d.MountPoints {
		if m.IsBind() {
			opts[fmt.Sprintf("mp%d", m.Index)] = mountText(m.HostPath, "", m)
		}
	}
	for i, dev := range d.Devices {
		opts[fmt.Sprintf("dev%d", i)] = DeviceText(dev)
	}
	return opts
}

// ProxmoxFeatures is the features option the spec asks for.
func (d *Container) ProxmoxFeatures() proxmox.Features {
	f := proxmox.Features{Nesting: d.Features.Nesting, Keyctl: d.Features.Keyctl, Fuse: d.Features.Fuse, Mknod: d.Features.Mknod}
	for _, fs := range d.Features.Mount {
		f.Mount = append(f.Mount, string(fs))
	}
	return f
}

func sortedCopy(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

// DeviceText is a device as Proxmox's dev<n> option writes it.
func DeviceText(dev lxcv1.Device) string {
	parts := []string{dev.Path}
	if dev.Mode != "" {
		parts = append(parts, "mode="+dev.Mode)
	}
	if dev.UID != nil {
		parts = append(parts, fmt.Sprintf("uid=%d", *dev.UID))
	}
	if dev.GID != nil {
		parts = append(parts, fmt.Sprintf("gid=%d", *dev.GID))
	}
	if dev.DenyWrite {
		parts = append(parts, "deny-write=1")
	}
	return strings.Join(parts, ",")
}

// sameDevice compares Proxmox's dev<n> text with the spec's device, whatever the order and
// spelling of its options (path= or the bare path, defaults written out or left away).
func sameDevice(have string, dev lxcv1.Device) bool {
	got := map[string]string{}
	for i, part := range strings.Split(have, ",") {
		k, v, ok := strings.Cut(part, "=")
		if !ok && i == 0 {
			k, v = "path", part
		}
		got[k] = v
	}
	id := func(p *int32) string {
		if p == nil {
			return "0"
		}
		return strconv.Itoa(int(*p))
	}
	orDefault := func(v, def string) string {
		if v == "" {
			return def
		}
		return v
	}
	deny := got["deny-write"] == "1" || got["deny-write"] == "true" || got["deny-write"] == "yes" || got["deny-write"] == "on"
	return got["path"] == dev.Path && orDefault(got["mode"], "0660") == orDefault(dev.Mode, "0660") &&
		orDefault(got["uid"], "0") == id(dev.UID) && orDefault(got["gid"], "0") == id(dev.GID) && deny == dev.DenyWrite
}

// Drift names what the cluster-wide resource list shows differing from the spec: changes
// made outside the controller (the Proxmox UI, pct, the API), noticed without a request of
// their own.
func Drift(g *proxmox.Guest, d *Container) []string {
	if g == nil {
		return nil
	}
	var fields []string
	if g.MaxMemory > 0 && g.MaxMemory != uint64(d.MemoryMiB)<<20 {
		fields = append(fields, "memory")
	}
	if g.CPUs > 0 && d.Cores > 0 && int(g.CPUs) != d.Cores {
		fields = append(fields, "cores")
	}
	if g.MaxDisk > 0 && g.MaxDisk != uint64(d.DiskGiB)<<30 {
		fields = append(fields, "disk")
	}
	if g.Name != "" && g.Name != d.Hostname {
		fields = append(fields, "hostname")
	}
	tags := slices.Clone(g.Tags)
	slices.Sort(tags)
	if g.Tags != nil && !slices.Equal(tags, d.Tags) {
		fields = append(fields, "tags")
	}
	return fields
}

// NetConfig turns the merged network into net0.
func NetConfig(n lxcv1.Network) proxmox.NetConfig {
	nc := proxmox.NetConfig{Name: "eth0", Bridge: n.Bridge, IP: n.IPv4, Type: "veth"}
	if n.IPv4 != "dhcp" {
		nc.Gateway = n.Gateway
	}
	if n.VLANTag != nil {
		nc.Tag = int(*n.VLANTag)
	}
	return nc
}
