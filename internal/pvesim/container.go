package pvesim

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"templatemanager.dev/lxc-template-manager/internal/pvesim/schema"
)

// container is the simulator's view of one CT: its PVE config plus what the config file does
// not hold (SSH keys for the backend, DHCP leases, snapshots, start time).
type container struct {
	VMID int               `json:"vmid"`
	Node string            `json:"node"`
	Conf map[string]string `json:"config"`
	// Pending is the [pve:pending] section: changes a running container takes at its next
	// start, and under "delete" the options to remove then.
	Pending map[string]string `json:"pending,omitempty"`
	// OSTemplate is the volid the CT was created from; clones without backend support are
	// created from it again.
	OSTemplate string            `json:"ostemplate,omitempty"`
	SSHKeys    string            `json:"sshKeys,omitempty"`
	Leases     map[string]string `json:"leases,omitempty"` // net index → leased prefix
	Snapshots  []*snapshot       `json:"snapshots,omitempty"`
	StartedAt  time.Time         `json:"startedAt,omitzero"`
	// Firewall is the container's firewall file, nil until its first change.
	Firewall *firewallConf `json:"firewall,omitempty"`
	// Init holds the raw lxc.* entries a create from an OCI image adds (lxc.signal.halt,
	// lxc.init.cwd); nil for containers from an OS template.
	Init *initConf `json:"init,omitempty"`

	// flock stands for /run/lock/lxc/pve-config-<vmid>.lock: tasks and config writes hold it.
	flock chan struct{}
}

type snapshot struct {
	Name        string            `json:"name"`
	Description string            `json:"description,omitempty"`
	SnapTime    int64             `json:"snaptime"`
	Parent      string            `json:"parent,omitempty"`
	Conf        map[string]string `json:"config"`
	Running     bool              `json:"running,omitempty"`
}

func newContainer(vmid int, node string) *container {
	return &container{VMID: vmid, Node: node, Conf: map[string]string{}, Leases: map[string]string{}, flock: make(chan struct{}, 1)}
}

// errLockTimeout is what PVE says when the config flock stays busy.
func errLockTimeout(vmid int) *apiError {
	return pveError("can't lock file '/run/lock/lxc/pve-config-%d.lock' - got timeout", vmid)
}

// lock takes the container's config lock, waiting up to timeout like PVE's lock_file.
func (ct *container) lock(ctx context.Context, timeout time.Duration) error {
	select {
	case ct.flock <- struct{}{}:
		return nil
	default:
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case ct.flock <- struct{}{}:
		return nil
	case <-t.C:
		return errLockTimeout(ct.VMID)
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (ct *container) unlock() { <-ct.flock }

// checkLock fails like PVE's check_lock while the config carries a lock.
func (ct *container) checkLock() error {
	if l := ct.Conf["lock"]; l != "" {
		return pveError("CT is locked (%s)", l)
	}
	return nil
}

func configPath(node string, vmid int) string {
	return fmt.Sprintf("nodes/%s/lxc/%d.conf", node, vmid)
}

func errNoConfig(node string, vmid int) *apiError {
	return pveError("Configuration file '%s' does not exist", configPath(node, vmid))
}

// raw renders the config as PVE's .conf text; its SHA1 is the digest.
func (ct *container) raw() string {
	var b strings.Builder
	b.WriteString(pctConfText(ct.Conf))
	if len(ct.Pending) > 0 {
		b.WriteString("\n[pve:pending]\n")
		for _, k := range slices.Sorted(maps.Keys(ct.Pending)) {
			fmt.Fprintf(&b, "%s: %s\n", k, ct.Pending[k])
		}
	}
	for _, sn := range ct.Snapshots {
		fmt.Fprintf(&b, "\n[%s]\n", sn.Name)
		for _, k := range slices.Sorted(maps.Keys(sn.Conf)) {
			fmt.Fprintf(&b, "%s: %s\n", k, sn.Conf[k])
		}
	}
	return b.String()
}

func (ct *container) digest() string {
	sum := sha1.Sum([]byte(ct.raw()))
	return hex.EncodeToString(sum[:])
}

func (ct *container) clone() *container {
	c := *ct
	c.Conf = maps.Clone(ct.Conf)
	c.Pending = maps.Clone(ct.Pending)
	c.Leases = maps.Clone(ct.Leases)
	c.Snapshots = slices.Clone(ct.Snapshots)
	c.Firewall = ct.Firewall.clone()
	if ct.Init != nil {
		init := *ct.Init
		c.Init = &init
	}
	c.flock = nil
	return &c
}

// configSchema types the config keys: PVE returns integers and booleans as JSON numbers and
// the one number option, cpulimit, as the string it stored.
var configSchema = schema.Lookup("PUT", "/nodes/{node}/lxc/{vmid}/config")

func configJSON(conf map[string]string) map[string]any {
	out := make(map[string]any, len(conf)+1)
	for k, v := range conf {
		out[k] = configValue(k, v)
	}
	return out
}

func configValue(key, v string) any {
	p := configSchema.Property(key)
	if p == nil {
		return v
	}
	switch p.Type {
	case "integer":
		if n, err := strconv.ParseInt(v, 10, 64); err == nil {
			return n
		}
	case "boolean":
		if v == "1" || strings.EqualFold(v, "true") || strings.EqualFold(v, "yes") || strings.EqualFold(v, "on") {
			return 1
		}
		return 0
	}
	return v
}

// intConf reads an integer option with its default.
func intConf(conf map[string]string, key string, def int64) int64 {
	if v, err := strconv.ParseInt(conf[key], 10, 64); err == nil {
		return v
	}
	return def
}

const mib = 1 << 20

// rootfsSize is the size= of rootfs in bytes (4 GiB when unknown, as PVE reports then).
func rootfsSize(conf map[string]string) int64 {
	if v, ok := conf["rootfs"]; ok {
		if mp, err := schema.ParsePropertyString(rootfsFormat, v); err == nil {
			if n, ok := schema.ParseSize(mp["size"]); ok {
				return n
			}
		}
	}
	return 4 << 30
}

// cpus is what the lists report, as PVE's vmstatus computes it: the cores, else cpulimit (the
// number PVE sends, possibly fractional), else all of the node's cores.
func cpus(conf map[string]string, nodeCPUs int) any {
	if c := intConf(conf, "cores", 0); c > 0 {
		return c
	}
	if v := conf["cpulimit"]; v != "" && v != "0" {
		if f, err := strconv.ParseFloat(v, 64); err == nil && f > 0 {
			if f == float64(int64(f)) {
				return int64(f)
			}
			return json.Number(v)
		}
	}
	return nodeCPUs
}

// vmStatus is one entry of /nodes/{node}/lxc and the body of status/current.
func (s *Server) vmStatus(ct *container, running bool, current bool) map[string]any {
	conf := ct.Conf
	maxmem := intConf(conf, "memory", 512) * mib
	maxswap := intConf(conf, "swap", 0) * mib
	maxdisk := rootfsSize(conf)
	name := conf["hostname"]
	if name == "" {
		name = fmt.Sprintf("CT%d", ct.VMID)
	}
	st := map[string]any{
		"vmid":      ct.VMID,
		"name":      name,
		"type":      "lxc",
		"status":    "stopped",
		"cpus":      cpus(conf, nodeCPUs),
		"maxmem":    maxmem,
		"maxswap":   maxswap,
		"maxdisk":   maxdisk,
		"mem":       0,
		"swap":      0,
		"disk":      0,
		"cpu":       0,
		"uptime":    0,
		"netin":     0,
		"netout":    0,
		"diskread":  0,
		"diskwrite": 0,
	}
	if running {
		uptime := int64(time.Since(ct.StartedAt).Seconds())
		if ct.StartedAt.IsZero() || uptime < 0 {
			uptime = 0
		}
		st["status"] = "running"
		st["uptime"] = uptime
		st["mem"] = min(maxmem, 40*mib+int64(ct.VMID%64)*mib)
		st["disk"] = maxdisk / 20
		st["cpu"] = 0.0042
		st["netin"] = uptime * 512
		st["netout"] = uptime * 256
		st["pid"] = 100000 + ct.VMID%100000
	}
	if t := conf["tags"]; t != "" {
		st["tags"] = t
	}
	if l := conf["lock"]; l != "" {
		st["lock"] = l
	}
	if conf["template"] == "1" {
		st["template"] = 1
	}
	if current {
		st["ha"] = map[string]any{"managed": 0}
	}
	return st
}

// nodeCPUs is the number of cores every simulated node reports.
const nodeCPUs = 8

// running asks the backend whether a container runs; a backend that does not know the
// container (still being created) reports it stopped.
func (s *Server) running(ctx context.Context, vmid int) bool {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	ok, err := s.backend.State(ctx, vmid)
	if err != nil {
		s.log.Debug("Backend state unknown", "vmid", vmid, "error", err)
		return false
	}
	return ok
}

// lookup returns a container on a node, or PVE's missing-config error.
func (s *Server) lookup(node string, vmid int) (*container, error) {
	if !s.hasNode(node) {
		return nil, errNoNode(node)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ct, ok := s.containers[vmid]
	if !ok || ct.Node != node {
		return nil, errNoConfig(node, vmid)
	}
	return ct, nil
}

func errNoNode(node string) *apiError {
	return pveError("hostname lookup '%s' failed - failed to get address info for: %s: Name or service not known", node, node)
}

// spec builds what the backend needs from a container's config, leasing addresses for DHCP
// interfaces on the way. The caller must not hold s.mu.
func (s *Server) spec(live *container) (ContainerSpec, error) {
	s.mu.Lock()
	ct := live.clone()
	s.mu.Unlock()
	sp := s.specOf(ct)
	nets, err := s.networkSpecs(live, ct.Conf)
	sp.Networks = nets
	return sp, err
}

// specOf is the spec of a container copy without its networks.
func (s *Server) specOf(ct *container) ContainerSpec {
	conf := ct.Conf
	sp := ContainerSpec{
		VMID:         ct.VMID,
		Node:         ct.Node,
		Hostname:     conf["hostname"],
		SSHKeys:      ct.SSHKeys,
		Unprivileged: conf["unprivileged"] == "1",
		Cores:        int(intConf(conf, "cores", 0)),
		MemoryMiB:    int(intConf(conf, "memory", 512)),
		SwapMiB:      int(intConf(conf, "swap", 512)),
	}
	if sp.Hostname == "" {
		sp.Hostname = fmt.Sprintf("CT%d", ct.VMID)
	}
	if f := conf["features"]; f != "" {
		if feats, err := schema.ParsePropertyString(featuresFormat, f); err == nil {
			sp.Nesting = feats["nesting"] == "1"
			sp.Fuse = feats["fuse"] == "1"
			sp.Keyctl = feats["keyctl"] == "1"
			sp.Mknod = feats["mknod"] == "1"
			sp.MountTypes = strings.Fields(strings.ReplaceAll(feats["mount"], ";", " "))
		}
	}
	sp.Nameservers = strings.Fields(strings.NewReplacer(",", " ", ";", " ").Replace(conf["nameserver"]))
	sp.SearchDomains = strings.Fields(strings.NewReplacer(",", " ", ";", " ").Replace(conf["searchdomain"]))
	for _, k := range slices.SortedFunc(maps.Keys(conf), compareIndexed) {
		if !indexed(k, "mp") {
			continue
		}
		mp, err := schema.ParsePropertyString(createSchema.Property("mp0").FormatProps, conf[k])
		if err != nil || mountType(mp["volume"]) == "device" {
			continue
		}
		size, _ := schema.ParseSize(mp["size"])
		sp.Mounts = append(sp.Mounts, MountSpec{Key: k, Volume: mp["volume"], Path: mp["mp"], Size: size,
			Bind: mountType(mp["volume"]) == "bind", ReadOnly: mp["ro"] == "1"})
	}
	for _, k := range slices.SortedFunc(maps.Keys(conf), compareIndexed) {
		if !indexed(k, "dev") {
			continue
		}
		dev, err := schema.ParsePropertyString(deviceFormat, conf[k])
		if err != nil || dev["path"] == "" {
			continue
		}
		d := DeviceSpec{Key: k, Path: dev["path"], Mode: dev["mode"], DenyWrite: dev["deny-write"] == "1"}
		d.UID, _ = strconv.Atoi(dev["uid"])
		d.GID, _ = strconv.Atoi(dev["gid"])
		sp.Devices = append(sp.Devices, d)
	}
	sp.Entrypoint = conf["entrypoint"]
	if env := conf["env"]; env != "" {
		sp.Env = strings.FieldsFunc(env, func(r rune) bool { return r == 0 })
	}
	sp.Unmanaged = conf["ostype"] == "unmanaged"
	if ct.Init != nil {
		sp.HaltSignal, sp.InitCwd = ct.Init.Halt, ct.Init.Cwd
	}
	if _, name, ok := schema.ParseVolumeID(ct.OSTemplate); ok {
		sp.OSTemplate = s.templatePath(strings.TrimPrefix(name, "vztmpl/"))
	} else if strings.HasPrefix(ct.OSTemplate, "/") {
		sp.OSTemplate = ct.OSTemplate
	}
	return sp
}

// compareIndexed orders keys such as mp2 and mp10 by their number.
func compareIndexed(a, b string) int {
	na, nb := strings.TrimLeft(a, "abcdefghijklmnopqrstuvwxyz"), strings.TrimLeft(b, "abcdefghijklmnopqrstuvwxyz")
	ia, ea := strconv.Atoi(na)
	ib, eb := strconv.Atoi(nb)
	if ea == nil && eb == nil && a[:len(a)-len(na)] == b[:len(b)-len(nb)] {
		return ia - ib
	}
	return strings.Compare(a, b)
}
