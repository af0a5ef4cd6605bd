// Package desired merges an LXCContainer with its LXCTemplate, PackageBuckets, ConfigMaps and
// Secrets into the one description every phase works from (Container), and compares it with
// what Proxmox has: the options to set (Changes), the fields that drifted (Drift) and the hash
// of everything converged in place (ConfigHash). It reads Kubernetes objects through a Resolver
// and calls nothing else.
package desired

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
	"templatemanager.dev/lxc-template-manager/internal/configmanager"
	"templatemanager.dev/lxc-template-manager/internal/discovery"
	"templatemanager.dev/lxc-template-manager/internal/outcome"
	"templatemanager.dev/lxc-template-manager/internal/redact"
)

// Proxmox defaults, applied when neither the template nor the container sets a value.
const (
	defaultCores         = 1
	defaultMemoryMiB     = 512
	defaultSwapMiB       = 512
	defaultDiskGiB       = 8
	defaultStorage       = "local-lvm"
	defaultBridge        = "vmbr0"
	defaultScriptTimeout = 600 * time.Second
)

// Container is an LXCContainer merged with its template, buckets, ConfigMaps and Secrets:
// everything the phases need, resolved once per reconcile.
type Container struct {
	Hostname     string
	OSTemplate   string
	Cores        int
	MemoryMiB    int
	SwapMiB      int
	DiskGiB      int
	Storage      string
	Unprivileged bool
	Features     lxcv1.Features
	Network      lxcv1.Network
	Tags         []string
	OnBoot       bool
	// Startup is Proxmox's startup option text ("order=1,up=30"), empty when unset.
	Startup     string
	Protection  bool
	MountPoints []lxcv1.MountPoint
	// Devices are the device nodes passed through, dev0, dev1, … in this order.
	Devices []lxcv1.Device
	// Firewall is the container's firewall as the spec asks for it; nil leaves it as it is.
	Firewall *lxcv1.Firewall
	// HA is the container's HA resource as the spec asks for it; nil asks for none.
	HA *lxcv1.HA
	// Pool is the Proxmox pool the container belongs to; empty for none.
	Pool string
	// Application says the osTemplate is an OCI application image: no init, no SSH, no guest
	// phases. Entrypoint and Env are what the spec's application sets (Proxmox's entrypoint
	// option, and env as NAME=VALUE entries); empty keeps what the image gave.
	Application bool
	Entrypoint  string
	Env         []string
	Packages    []lxcv1.ResolvedPackages
	Scripts     []Script
	Config      configmanager.Config
	Promises    []discovery.Promise
}

// Script is a script with its content resolved.
type Script struct {
	Name    string
	Content []byte
	Env     []configmanager.EnvVar
	Timeout time.Duration
	// Check, when set, is the command that tells the script's work is already done.
	Check string
	// Hash keys the script's done-marker: a script runs again only when it changes.
	Hash string
}

// DHCP reports whether eth0 takes its address from DHCP.
func (d *Container) DHCP() bool { return d.Network.IPv4 == "" || d.Network.IPv4 == "dhcp" }

// StaticAddress is the static IPv4 address without its prefix length.
func (d *Container) StaticAddress() string {
	addr, _, _ := strings.Cut(d.Network.IPv4, "/")
	return addr
}

// Resolver reads the ConfigMaps and Secrets a container's config refers to. It reads them
// uncached: the manager does not keep every ConfigMap and Secret of the cluster in memory.
type Resolver struct {
	Reader    client.Reader
	Namespace string
	// redactor, when set, learns the value of every Secret read, for redaction.
	Redactor *redact.Redactor
}

func (r Resolver) Key(ctx context.Context, secret bool, name, key string) ([]byte, error) {
	data, err := r.Data(ctx, secret, name)
	if err != nil {
		return nil, err
	}
	v, ok := data[key]
	if !ok {
		return nil, outcome.Stall(lxcv1.DependencyNotReadyReason, "%s %s has no key %s", KindName(secret), name, key)
	}
	return v, nil
}

func (r Resolver) Data(ctx context.Context, secret bool, name string) (map[string][]byte, error) {
	nn := types.NamespacedName{Namespace: r.Namespace, Name: name}
	if secret {
		s := &corev1.Secret{}
		if err := r.Reader.Get(ctx, nn, s); err != nil {
			return nil, NotFoundAsWait(err, "Secret", name)
		}
		if r.Redactor != nil {
			r.Redactor.AddData(s.Data)
		}
		return s.Data, nil
	}
	cm := &corev1.ConfigMap{}
	if err := r.Reader.Get(ctx, nn, cm); err != nil {
		return nil, NotFoundAsWait(err, "ConfigMap", name)
	}
	data := make(map[string][]byte, len(cm.Data)+len(cm.BinaryData))
	for k, v := range cm.Data {
		data[k] = []byte(v)
	}
	for k, v := range cm.BinaryData {
		data[k] = v
	}
	return data, nil
}

func KindName(secret bool) string {
	if secret {
		return "Secret"
	}
	return "ConfigMap"
}

func NotFoundAsWait(err error, kind, name string) error {
	if apierrors.IsNotFound(err) {
		return outcome.Wait(outcome.DependencyRetry, lxcv1.DependencyNotReadyReason, "%s %s not found", kind, name)
	}
	return fmt.Errorf("reading %s %s: %w", kind, name, err)
}

// Sizing is the part of Build that reads nothing: resources, storage, mount points, features
// and network. The namespace quota counts other containers with it.
func Sizing(c *lxcv1.LXCContainer, t *lxcv1.LXCTemplate) *Container {
	d := &Container{
		Cores:        defaultCores,
		MemoryMiB:    defaultMemoryMiB,
		SwapMiB:      defaultSwapMiB,
		DiskGiB:      defaultDiskGiB,
		Storage:      firstNonEmpty(c.Spec.Storage, t.Spec.Storage, defaultStorage),
		Unprivileged: t.Spec.Features.Unprivileged == nil || *t.Spec.Features.Unprivileged,
		Features:     t.Spec.Features,
		Network:      mergeNetwork(t.Spec.Network, c.Spec.Network),
	}
	d.MountPoints = mergeMountPoints(t.Spec.MountPoints, c.Spec.MountPoints, d.Storage)
	d.Devices = mergeDevices(t.Spec.Devices, c.Spec.Devices)
	for _, res := range []*lxcv1.Resources{&t.Spec.Resources, c.Spec.Resources} {
		if res == nil {
			continue
		}
		setInt(&d.Cores, res.Cores)
		setInt(&d.MemoryMiB, res.MemoryMiB)
		setInt(&d.SwapMiB, res.SwapMiB)
		setInt(&d.DiskGiB, res.DiskGiB)
	}
	return d
}

// Build merges a container with its template and buckets.
func Build(ctx context.Context, r Resolver, c *lxcv1.LXCContainer, t *lxcv1.LXCTemplate, buckets []*lxcv1.PackageBucket) (*Container, error) {
	d := Sizing(c, t)
	d.Hostname, d.OSTemplate = c.Spec.Hostname, t.Spec.OSTemplate
	if app := t.Spec.Application; app != nil {
		d.Application = true
		if app.Entrypoint != nil {
			d.Entrypoint = *app.Entrypoint
		}
		for _, e := range app.Env {
			d.Env = append(d.Env, e.Name+"="+e.Value)
		}
	}
	if d.Hostname == "" {
		d.Hostname = c.Name
	}
	d.OnBoot = c.Spec.PowerState != lxcv1.PowerStateStopped
	if c.Spec.OnBoot != nil {
		d.OnBoot = *c.Spec.OnBoot
	}
	d.Startup = startupText(c.Spec.Startup)
	d.Protection = c.Spec.Protection
	d.Firewall = mergeFirewall(t.Spec.Firewall, c.Spec.Firewall)
	// A bake becomes a Proxmox template, which HA can neither start nor stop: it never
	// takes its template's HA resource.
	if c.Labels[lxcv1.BakeOfLabel] == "" {
		d.HA = mergeHA(t.Spec.HA, c.Spec.HA, c.Spec.PowerState)
	}
	d.Pool = mergePool(t.Spec.Pool, c.Spec.Pool)
	d.Tags = []string{lxcv1.ProxmoxTag}
	for _, tag := range t.Spec.Tags {
		if !slices.Contains(d.Tags, string(tag)) {
			d.Tags = append(d.Tags, string(tag))
		}
	}
	sort.Strings(d.Tags)

	var extra []lxcv1.PackageList
	if c.Spec.Packages != nil {
		extra = c.Spec.Packages.Extra
	}
	d.Packages = ResolvePackages(buckets, t.Spec.Packages, extra)

	env, err := buildEnv(ctx, r, t, c)
	if err != nil {
		return nil, err
	}
	d.Config.Env = env
	d.Config.ContainerUser = t.Spec.ContainerUser

	if d.Config.Files, err = buildFiles(ctx, r, t); err != nil {
		return nil, err
	}
	if d.Scripts, err = buildScripts(ctx, r, c, t); err != nil {
		return nil, err
	}
	d.Promises = promises(t)
	return d, nil
}

// buildFiles resolves the template's managed files with their contents, modes and owners.
func buildFiles(ctx context.Context, r Resolver, t *lxcv1.LXCTemplate) ([]configmanager.ManagedFile, error) {
	var files []configmanager.ManagedFile
	for _, f := range t.Spec.Files {
		content, err := fileContent(ctx, r, f)
		if err != nil {
			return nil, err
		}
		mode := fs.FileMode(0o644)
		if f.Mode != "" {
			m, err := strconv.ParseUint(f.Mode, 8, 32)
			if err != nil {
				return nil, outcome.Stall(lxcv1.InvalidSpecReason, "file %s: mode %q is not octal", f.Path, f.Mode)
			}
			mode = fs.FileMode(m)
		}
		files = append(files, configmanager.ManagedFile{
			Path: f.Path, Content: content, Mode: mode, Owner: ownerWithGroup(f.Owner), Policy: configmanager.Policy(f.Policy),
		})
	}

	return files, nil
}

// buildScripts resolves the template's scripts the container does not skip, each with the hash
// that keys its run.
func buildScripts(ctx context.Context, r Resolver, c *lxcv1.LXCContainer, t *lxcv1.LXCTemplate) ([]Script, error) {
	var scripts []Script
	var skip []string
	if c.Spec.Scripts != nil {
		skip = c.Spec.Scripts.Skip
	}
	for _, s := range t.Spec.Scripts {
		if slices.Contains(skip, s.Name) {
			continue
		}
		content, err := scriptContent(ctx, r, s)
		if err != nil {
			return nil, err
		}
		timeout := defaultScriptTimeout
		if s.TimeoutSeconds != nil {
			timeout = time.Duration(*s.TimeoutSeconds) * time.Second
		}
		ds := Script{Name: s.Name, Content: content, Timeout: timeout}
		for _, e := range s.Env {
			ds.Env = append(ds.Env, configmanager.EnvVar{Name: e.Name, Value: e.Value})
		}
		if s.Check != nil {
			ds.Check = *s.Check
		}
		ds.Hash = scriptHash(ds, checkRound(c, ds))
		scripts = append(scripts, ds)
	}

	return scripts, nil
}

// promises lists the services the template promises.
func promises(t *lxcv1.LXCTemplate) []discovery.Promise {
	var out []discovery.Promise
	for _, p := range t.Spec.Services {
		proto := discovery.TCP
		if p.Protocol == lxcv1.ProtocolUDP {
			proto = discovery.UDP
		}
		out = append(out, discovery.Promise{Name: p.Name, Port: uint16(p.Port), Protocol: proto})
	}
	return out
}

// buildEnv merges config.env: template env, then the container's envFrom sources in order, then
// the container's env; a later name wins.
func buildEnv(ctx context.Context, r Resolver, t *lxcv1.LXCTemplate, c *lxcv1.LXCContainer) ([]configmanager.EnvVar, error) {
	lists := [][]configmanager.EnvVar{envVars(t.Spec.Config.Env)}
	if cfg := c.Spec.Config; cfg != nil {
		for _, src := range cfg.EnvFrom {
			secret, name := false, ""
			if src.SecretRef != nil {
				secret, name = true, src.SecretRef.Name
			} else if src.ConfigMapRef != nil {
				name = src.ConfigMapRef.Name
			}
			data, err := r.Data(ctx, secret, name)
			if err != nil {
				return nil, err
			}
			keys := make([]string, 0, len(data))
			for k := range data {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			var vars []configmanager.EnvVar
			for _, k := range keys {
				name := src.Prefix + k
				if configmanager.ValidateEnvName(name) != nil {
					// Keys that are no shell names cannot be variables; kubelet skips them too.
					continue
				}
				if secret {
					if err := redactable(src.SecretRef.Name, k, data[k]); err != nil {
						return nil, err
					}
				}
				vars = append(vars, configmanager.EnvVar{Name: name, Value: string(data[k])})
			}
			lists = append(lists, vars)
		}
		lists = append(lists, envVars(cfg.Env))
	}
	return configmanager.MergeEnv(lists...), nil
}

// redactable refuses a Secret value scripts would see that is too short to be told apart from
// ordinary output (redact.MinLength): it would reach status, Events and logs unredacted.
func redactable(secret, key string, value []byte) error {
	if len(value) > 0 && len(value) < redact.MinLength {
		return outcome.Stall(lxcv1.InvalidSpecReason,
			"Secret %s key %s holds a value of %d characters; scripts see it, and a value shorter than %d characters cannot be kept out of their output, so it is refused: use a longer value",
			secret, key, len(value), redact.MinLength)
	}
	return nil
}

func envVars(in []lxcv1.EnvVar) []configmanager.EnvVar {
	out := make([]configmanager.EnvVar, 0, len(in))
	for _, e := range in {
		out = append(out, configmanager.EnvVar{Name: e.Name, Value: e.Value})
	}
	return out
}

func fileContent(ctx context.Context, r Resolver, f lxcv1.ManagedFile) ([]byte, error) {
	switch {
	case f.Content != nil:
		return []byte(*f.Content), nil
	case f.SecretRef != nil:
		v, err := r.Key(ctx, true, f.SecretRef.Name, f.SecretRef.Key)
		if err == nil {
			err = redactable(f.SecretRef.Name, f.SecretRef.Key, v)
		}
		return v, err
	case f.ConfigMapRef != nil:
		return r.Key(ctx, false, f.ConfigMapRef.Name, f.ConfigMapRef.Key)
	}
	return nil, outcome.Stall(lxcv1.InvalidSpecReason, "file %s has no content source", f.Path)
}

func scriptContent(ctx context.Context, r Resolver, s lxcv1.Script) ([]byte, error) {
	switch {
	case s.Content != nil:
		return []byte(*s.Content), nil
	case s.ConfigMapRef != nil:
		return r.Key(ctx, false, s.ConfigMapRef.Name, s.ConfigMapRef.Key)
	}
	return nil, outcome.Stall(lxcv1.InvalidSpecReason, "script %s has no content source", s.Name)
}

// scriptHash covers what makes a run different: the content, the script's own env and timeout,
// its check and the round of checks it belongs to.
func scriptHash(s Script, round string) string {
	h := sha256.New()
	h.Write(s.Content)
	for _, e := range s.Env {
		fmt.Fprintf(h, "\x00%s=%s", e.Name, e.Value)
	}
	fmt.Fprintf(h, "\x00timeout=%d", s.Timeout)
	if s.Check != "" {
		fmt.Fprintf(h, "\x00check=%s\x00round=%s", s.Check, round)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// checkRound is what makes a checked script run again: each reconcile a user requests with the
// reconcile-requested-at annotation starts a new round, in which the check is asked again and
// the script runs only if it fails. Scripts without a check are keyed by content alone.
func checkRound(c *lxcv1.LXCContainer, s Script) string {
	if s.Check == "" {
		return ""
	}
	return c.Annotations[lxcv1.ReconcileRequestAnnotation]
}

// mergeNetwork lays the container's network over the template's, field by field.
func mergeNetwork(t lxcv1.Network, c *lxcv1.Network) lxcv1.Network {
	n := t
	if c != nil {
		if c.Bridge != "" {
			n.Bridge = c.Bridge
		}
		if c.IPv4 != "" {
			n.IPv4 = c.IPv4
			// A container that switches to DHCP, or to another address, does not inherit the
			// template's gateway for it.
			n.Gateway = c.Gateway
		} else if c.Gateway != "" {
			n.Gateway = c.Gateway
		}
		if c.Nameservers != nil {
			n.Nameservers = c.Nameservers
		}
		if c.SearchDomains != nil {
			n.SearchDomains = c.SearchDomains
		}
		if c.VLANTag != nil {
			n.VLANTag = c.VLANTag
		}
	}
	if n.Bridge == "" {
		n.Bridge = defaultBridge
	}
	if n.IPv4 == "" {
		n.IPv4 = "dhcp"
	}
	return n
}

func setInt(dst *int, v *int32) {
	if v != nil {
		*dst = int(*v)
	}
}

func firstNonEmpty(values ...string) string {
	for _, v := range values {
		if v != "" {
			return v
		}
	}
	return ""
}

// ownerWithGroup gives a bare user name its own group, as Debian's adduser does.
func ownerWithGroup(owner string) string {
	if owner == "" {
		return "root:root"
	}
	if strings.Contains(owner, ":") {
		return owner
	}
	return owner + ":" + owner
}

// ContentHash is the hex SHA-256 of data.
func ContentHash(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// startupText renders the startup order as Proxmox's pve-startup-order text.
func startupText(o *lxcv1.StartupOrder) string {
	if o == nil {
		return ""
	}
	var parts []string
	for _, p := range []struct {
		key string
		v   *int32
	}{{"order", o.Order}, {"up", o.UpDelaySeconds}, {"down", o.DownDelaySeconds}} {
		if p.v != nil {
			parts = append(parts, fmt.Sprintf("%s=%d", p.key, *p.v))
		}
	}
	return strings.Join(parts, ",")
}

// mergeMountPoints lays the container's mount points over the template's by index, sorted by
// index, each with its storage resolved.
func mergeMountPoints(t, c []lxcv1.MountPoint, storage string) []lxcv1.MountPoint {
	byIndex := map[int32]lxcv1.MountPoint{}
	for _, list := range [][]lxcv1.MountPoint{t, c} {
		for _, m := range list {
			if m.Storage == "" && !m.IsBind() {
				m.Storage = storage
			}
			byIndex[m.Index] = m
		}
	}
	out := make([]lxcv1.MountPoint, 0, len(byIndex))
	for _, m := range byIndex {
		out = append(out, m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Index < out[j].Index })
	return out
}

// mergeDevices is the template's devices in their order, each replaced by the container's
// device of the same path, then the container's other devices.
func mergeDevices(t, c []lxcv1.Device) []lxcv1.Device {
	out := make([]lxcv1.Device, 0, len(t)+len(c))
	own := map[string]lxcv1.Device{}
	for _, dev := range c {
		own[dev.Path] = dev
	}
	for _, dev := range t {
		if o, ok := own[dev.Path]; ok {
			dev = o
			delete(own, dev.Path)
		}
		out = append(out, dev)
	}
	for _, dev := range c {
		if _, ok := own[dev.Path]; ok {
			out = append(out, dev)
		}
	}
	return out
}
