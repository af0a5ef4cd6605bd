package proxmox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/go-logr/logr"
	goproxmox "github.com/luthermonson/go-proxmox"
)

// APIClient implements Client over go-proxmox. go-proxmox provides authentication (API token
// header, or ticket login with its 401 → login → retry dance), the JSON envelope and request
// plumbing; the calls use its generic Get/Post/Put/Delete with this package's own types,
// because several of its typed calls break on real response shapes (fractional cpus, string
// cpulimit, null-valued fields, nil tasks from synchronous calls).
//
// An APIClient is safe for concurrent use.
type APIClient struct {
	api       *goproxmox.Client
	transport *instrumentedTransport
	idle      interface{ CloseIdleConnections() }
	settings  Settings
	metrics   *Metrics
	login     bool
}

var _ Client = (*APIClient)(nil)

// Option adjusts an APIClient.
type Option func(*clientOptions)

type clientOptions struct {
	metrics   *Metrics
	userAgent string
}

// WithMetrics records requests, latencies and retries on m.
func WithMetrics(m *Metrics) Option { return func(o *clientOptions) { o.metrics = m } }

// WithUserAgent sets the User-Agent header.
func WithUserAgent(ua string) Option { return func(o *clientOptions) { o.userAgent = ua } }

// New builds a client from connection settings. It makes no request.
func New(s Settings, opts ...Option) (*APIClient, error) {
	if err := s.validate(); err != nil {
		return nil, err
	}
	s = s.withDefaults()
	o := clientOptions{userAgent: "lxc-template-manager"}
	for _, opt := range opts {
		opt(&o)
	}
	base, err := s.baseURL()
	if err != nil {
		return nil, err
	}
	tr, err := newTransport(s)
	if err != nil {
		return nil, err
	}
	it := &instrumentedTransport{base: tr, basePath: base.Path, metrics: o.metrics}
	pveOpts := []goproxmox.Option{
		goproxmox.WithHTTPClient(&http.Client{Transport: it}),
		goproxmox.WithUserAgent(o.userAgent),
		goproxmox.WithLogger(quietLogger{}),
	}
	login := s.Auth.TokenID == ""
	if login {
		pveOpts = append(pveOpts,
			goproxmox.WithCredentials(&goproxmox.Credentials{Username: s.Auth.Username, Password: s.Auth.Password}),
			goproxmox.WithDefaultRealm("pam"))
	} else {
		pveOpts = append(pveOpts, goproxmox.WithAPIToken(s.Auth.TokenID, s.Auth.TokenSecret))
	}
	return &APIClient{
		api:       goproxmox.NewClient(base.String(), pveOpts...),
		transport: it,
		idle:      tr,
		settings:  s,
		metrics:   o.metrics,
		login:     login,
	}, nil
}

// Close releases idle connections.
func (c *APIClient) Close() { c.idle.CloseIdleConnections() }

// callMode says when a failed call may be sent again.
type callMode int

const (
	// repeatable calls have the same outcome when sent twice: reads, config updates, and power
	// and destroy requests (a repeat finds the container already in the requested state).
	repeatable callMode = iota
	// createOnce calls are retried only when the failure proves Proxmox did not act: the
	// request never left this process, or Proxmox answered that it is busy or locked. A
	// dropped connection or timeout after sending may have created the container; a blind
	// retry would then fail with "already exists" or, with an allocated VMID, race another
	// creator. The caller adopts the container by its marker instead.
	createOnce
)

// call runs one API operation with per-attempt timeouts and retries.
func (c *APIClient) call(ctx context.Context, name, target string, mode callMode, fn func(context.Context) error) error {
	op := name
	if target != "" {
		op = name + " " + target
	}
	policy := c.settings.Retry
	start := time.Now()
	loginRetried := false
	for attempt := 1; ; attempt++ {
		ex := &exchange{}
		logins := c.transport.logins.Load()
		actx, cancel := context.WithTimeout(withExchange(ctx, ex), c.settings.RequestTimeout)
		err := fn(actx)
		attemptErr := actx.Err()
		cancel()
		perr := c.classify(ctx, op, err, ex, attemptErr)
		if perr == nil {
			return nil
		}
		if perr.Kind == ErrCanceled {
			return perr
		}
		retry := retryableKind(perr.Kind, perr.Err)
		if mode == createOnce && retry && !provenUnapplied(perr, ex) {
			perr.OutcomeUnknown = outcomeUnknown(ex)
			return perr
		}
		// go-proxmox refuses a request that raced a concurrent ticket login; the fresh ticket
		// works, so try once more at once.
		pause := true
		if c.login && perr.Kind == ErrAuthentication && !loginRetried && c.transport.logins.Load() != logins {
			loginRetried, retry, pause = true, true, false
		}
		if !retry || attempt >= policy.Attempts {
			return perr
		}
		var d time.Duration
		if pause {
			d = policy.Backoff(attempt)
		}
		if time.Since(start)+d > policy.MaxElapsed {
			return perr
		}
		c.metrics.retried(strings.ReplaceAll(name, " ", "_"), perr.Kind)
		logr.FromContextOrDiscard(ctx).V(1).Info("Retrying Proxmox call",
			"operation", op, "attempt", attempt, "kind", string(perr.Kind), "backoff", d)
		if err := sleep(ctx, d); err != nil {
			return &Error{Kind: ErrCanceled, Op: op, Message: err.Error(), Err: errors.Join(err, perr)}
		}
	}
}

// provenUnapplied reports whether a failed request certainly had no effect on Proxmox.
func provenUnapplied(perr *Error, ex *exchange) bool {
	status, _, _, _, wrote := ex.snapshot()
	switch {
	case status == 0:
		return !wrote
	case status == http.StatusServiceUnavailable, status == http.StatusTooManyRequests:
		return true
	case perr.Kind == ErrLocked:
		// Proxmox checks locks before it writes anything.
		return true
	}
	return false
}

// outcomeUnknown reports whether a failed request may nevertheless have been carried out: it
// was sent and no answer came, or a gateway gave up waiting for Proxmox's answer.
func outcomeUnknown(ex *exchange) bool {
	status, _, _, _, wrote := ex.snapshot()
	return (status == 0 && wrote) || status == http.StatusBadGateway || status == http.StatusGatewayTimeout
}

// classify turns the outcome of one attempt into a classified error, or nil on success.
func (c *APIClient) classify(parent context.Context, op string, err error, ex *exchange, attemptErr error) *Error {
	status, reason, message, params, _ := ex.snapshot()
	if err == nil && status < 400 {
		return nil
	}
	if perr := parent.Err(); perr != nil {
		return &Error{Kind: ErrCanceled, Op: op, Message: perr.Error(), Err: errors.Join(perr, err)}
	}
	e := &Error{Op: op, StatusCode: status, Err: err}
	if status >= 400 {
		e.Message = message
		if e.Message == "" {
			e.Message = reason
		}
		e.Params = params
		e.Kind = classifyStatus(status, e.Message, params)
		return e
	}
	switch {
	case errors.Is(attemptErr, context.DeadlineExceeded):
		e.Kind = ErrUnreachable
		e.Message = fmt.Sprintf("no answer within %s", c.settings.RequestTimeout)
	case isGoProxmoxAuth(err):
		e.Kind = ErrAuthentication
	default:
		if k := classifyTransport(err); k != "" {
			e.Kind = k
			e.Message = transportMessage(err)
		} else {
			e.Kind = ErrInvalidResponse
			e.Message = err.Error()
		}
	}
	return e
}

// get reads path into a fresh T.
func get[T any](c *APIClient, ctx context.Context, name, target, path string) (T, error) {
	var out T
	err := c.call(ctx, name, target, repeatable, func(ctx context.Context) error {
		var v T
		if err := c.api.Get(ctx, path, &v); err != nil {
			return err
		}
		out = v
		return nil
	})
	return out, err
}

func containerPath(node string, vmid int) string {
	return fmt.Sprintf("/nodes/%s/lxc/%d", url.PathEscape(node), vmid)
}

func containerTarget(node string, vmid int) string { return fmt.Sprintf("%s/%d", node, vmid) }

func invalid(op string, err error) error {
	return &Error{Kind: ErrInvalidResponse, Op: op, Message: err.Error(), Err: err}
}

// Version implements Client.
func (c *APIClient) Version(ctx context.Context) (Version, error) {
	v, err := get[goproxmox.Version](c, ctx, "get version", "", "/version")
	if err != nil {
		return Version{}, err
	}
	return Version{Release: v.Release, Version: v.Version, RepoID: v.RepoID}, nil
}

// Nodes implements Client.
func (c *APIClient) Nodes(ctx context.Context) ([]Node, error) {
	var statuses goproxmox.NodeStatuses
	err := c.call(ctx, "list nodes", "", repeatable, func(ctx context.Context) error {
		ns, err := c.api.Nodes(ctx)
		statuses = ns
		return err
	})
	if err != nil {
		return nil, err
	}
	out := make([]Node, 0, len(statuses))
	for _, s := range statuses {
		if s == nil {
			continue
		}
		n := Node{Name: s.Node, Status: s.Status, CPU: s.CPU, MaxCPU: s.MaxCPU, MaxMemory: s.MaxMem, Memory: s.Mem}
		if s.MaxMem > s.Mem {
			n.FreeMemory = s.MaxMem - s.Mem
		}
		out = append(out, n)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

type rawStorage struct {
	Storage string    `json:"storage"`
	Type    string    `json:"type"`
	Content string    `json:"content"`
	Active  *flexBool `json:"active"`
	Enabled *flexBool `json:"enabled"`
	Shared  flexBool  `json:"shared"`
	Total   flexNum   `json:"total"`
	Used    flexNum   `json:"used"`
	Avail   flexNum   `json:"avail"`
}

// Storages implements Client. Proxmox always sends active and enabled; when absent they are
// taken as true.
func (c *APIClient) Storages(ctx context.Context, node string) ([]Storage, error) {
	raw, err := get[[]rawStorage](c, ctx, "list storages", node,
		fmt.Sprintf("/nodes/%s/storage", url.PathEscape(node)))
	if err != nil {
		return nil, err
	}
	out := make([]Storage, 0, len(raw))
	for _, r := range raw {
		out = append(out, Storage{
			Name: r.Storage, Type: r.Type,
			Content: strings.FieldsFunc(r.Content, func(r rune) bool { return r == ',' || r == ' ' }),
			Active:  r.Active == nil || bool(*r.Active), Enabled: r.Enabled == nil || bool(*r.Enabled),
			Shared: bool(r.Shared), Total: uint64(r.Total), Used: uint64(r.Used), Avail: uint64(r.Avail),
		})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// OSTemplates implements Client.
func (c *APIClient) OSTemplates(ctx context.Context, node, storage string) ([]OSTemplate, error) {
	type item struct {
		VolID   string  `json:"volid"`
		Content string  `json:"content"`
		Format  string  `json:"format"`
		Size    flexNum `json:"size"`
	}
	raw, err := get[[]item](c, ctx, "list os templates", node+"/"+storage,
		fmt.Sprintf("/nodes/%s/storage/%s/content?content=vztmpl", url.PathEscape(node), url.PathEscape(storage)))
	if err != nil {
		return nil, err
	}
	out := make([]OSTemplate, 0, len(raw))
	for _, r := range raw {
		if r.Content != "" && r.Content != "vztmpl" {
			continue
		}
		out = append(out, OSTemplate{Node: node, Storage: storage, VolID: r.VolID, Format: r.Format, Size: uint64(r.Size)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].VolID < out[j].VolID })
	return out, nil
}

// NextVMID implements Client.
func (c *APIClient) NextVMID(ctx context.Context) (int, error) {
	// Proxmox sends the id as a JSON string; accept a number too.
	s, err := get[flexString](c, ctx, "get next vmid", "", "/cluster/nextid")
	if err != nil {
		return 0, err
	}
	id, perr := strconv.Atoi(string(s))
	if perr != nil {
		return 0, invalid("get next vmid", fmt.Errorf("malformed vmid %q", string(s)))
	}
	return id, nil
}

// VMIDFree implements Client.
func (c *APIClient) VMIDFree(ctx context.Context, vmid int) (bool, error) {
	_, err := get[flexString](c, ctx, "check vmid", strconv.Itoa(vmid), fmt.Sprintf("/cluster/nextid?vmid=%d", vmid))
	if errors.Is(err, ErrAlreadyExists) {
		return false, nil
	}
	return err == nil, err
}

type rawResource struct {
	ID       string     `json:"id"`
	Type     string     `json:"type"`
	Node     string     `json:"node"`
	VMID     flexNum    `json:"vmid"`
	Name     string     `json:"name"`
	Status   string     `json:"status"`
	Tags     string     `json:"tags"`
	Lock     string     `json:"lock"`
	Template flexBool   `json:"template"`
	MaxCPU   flexNum    `json:"maxcpu"`
	CPU      flexNum    `json:"cpu"`
	MaxMem   flexNum    `json:"maxmem"`
	Mem      flexNum    `json:"mem"`
	MaxDisk  flexNum    `json:"maxdisk"`
	Disk     flexNum    `json:"disk"`
	Uptime   flexNum    `json:"uptime"`
	Pool     string     `json:"pool"`
	HAState  flexString `json:"hastate"`
}

// Guests implements Client.
func (c *APIClient) Guests(ctx context.Context) ([]Guest, error) {
	raw, err := get[[]rawResource](c, ctx, "list guests", "", "/cluster/resources?type=vm")
	if err != nil {
		return nil, err
	}
	out := make([]Guest, 0, len(raw))
	for _, r := range raw {
		if r.Type != "lxc" && r.Type != "qemu" {
			continue
		}
		out = append(out, Guest{
			ID: r.ID, Type: r.Type, Node: r.Node, VMID: int(r.VMID), Name: r.Name, Status: r.Status,
			Tags: ParseTags(r.Tags), Lock: r.Lock, Template: bool(r.Template),
			CPUs: float64(r.MaxCPU), CPU: float64(r.CPU),
			MaxMemory: uint64(r.MaxMem), Memory: uint64(r.Mem), MaxDisk: uint64(r.MaxDisk), Disk: uint64(r.Disk),
			Uptime: time.Duration(r.Uptime) * time.Second, Pool: r.Pool, HAState: string(r.HAState),
		})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].VMID < out[j].VMID })
	return out, nil
}

// ContainerStatus implements Client.
func (c *APIClient) ContainerStatus(ctx context.Context, node string, vmid int) (ContainerStatus, error) {
	type status struct {
		VMID     flexNum  `json:"vmid"`
		Name     string   `json:"name"`
		Status   string   `json:"status"`
		Lock     string   `json:"lock"`
		Tags     string   `json:"tags"`
		Template flexBool `json:"template"`
		CPUs     flexNum  `json:"cpus"`
		MaxMem   flexNum  `json:"maxmem"`
		Mem      flexNum  `json:"mem"`
		MaxSwap  flexNum  `json:"maxswap"`
		MaxDisk  flexNum  `json:"maxdisk"`
		Disk     flexNum  `json:"disk"`
		Uptime   flexNum  `json:"uptime"`
		PID      flexNum  `json:"pid"`
	}
	r, err := get[status](c, ctx, "get container status", containerTarget(node, vmid),
		containerPath(node, vmid)+"/status/current")
	if err != nil {
		return ContainerStatus{}, err
	}
	return ContainerStatus{
		VMID: int(r.VMID), Name: r.Name, Status: r.Status, Lock: r.Lock, Tags: ParseTags(r.Tags),
		Template: bool(r.Template), CPUs: float64(r.CPUs), MaxMemory: uint64(r.MaxMem), Memory: uint64(r.Mem),
		MaxSwap: uint64(r.MaxSwap), MaxDisk: uint64(r.MaxDisk), Disk: uint64(r.Disk),
		Uptime: time.Duration(r.Uptime) * time.Second, PID: int(r.PID),
	}, nil
}

// ContainerConfig implements Client.
func (c *APIClient) ContainerConfig(ctx context.Context, node string, vmid int) (ContainerConfig, error) {
	target := containerTarget(node, vmid)
	raw, err := get[map[string]json.RawMessage](c, ctx, "get container config", target, containerPath(node, vmid)+"/config")
	if err != nil {
		return ContainerConfig{}, err
	}
	cfg, perr := parseContainerConfig(raw)
	if perr != nil {
		return ContainerConfig{}, invalid("get container config "+target, perr)
	}
	return cfg, nil
}

// createParams turns a CreateSpec into the parameters of POST /nodes/{node}/lxc.
func createParams(s CreateSpec) (map[string]any, error) {
	if s.VMID < 100 || s.VMID > 999999999 {
		return nil, fmt.Errorf("vmid %d out of range 100-999999999", s.VMID)
	}
	if s.OSTemplate == "" {
		return nil, errors.New("no os template")
	}
	p := map[string]any{"vmid": s.VMID, "ostemplate": s.OSTemplate, "unprivileged": 1}
	if s.Privileged {
		p["unprivileged"] = 0
	}
	setString := func(k, v string) {
		if v != "" {
			p[k] = v
		}
	}
	setString("hostname", s.Hostname)
	setString("description", s.Description)
	setString("searchdomain", s.SearchDomain)
	setString("pool", s.Pool)
	if len(s.Tags) > 0 {
		tags, err := FormatTags(s.Tags)
		if err != nil {
			return nil, err
		}
		p["tags"] = tags
	}
	if s.Cores > 0 {
		p["cores"] = s.Cores
	}
	if s.MemoryMiB > 0 {
		p["memory"] = s.MemoryMiB
	}
	if s.SwapMiB != nil {
		if *s.SwapMiB < 0 {
			return nil, fmt.Errorf("swap %d MiB is negative", *s.SwapMiB)
		}
		p["swap"] = *s.SwapMiB
	}
	switch {
	case s.RootFSGiB > 0 && s.Storage == "":
		return nil, errors.New("a root filesystem size needs a storage")
	case s.RootFSGiB > 0:
		p["rootfs"] = fmt.Sprintf("%s:%d", s.Storage, s.RootFSGiB)
	case s.Storage != "":
		p["storage"] = s.Storage
	}
	if f := s.Features.String(); f != "" {
		p["features"] = f
	}
	for i, n := range s.Nets {
		if n.Name == "" {
			return nil, fmt.Errorf("net%d has no interface name", i)
		}
		p[fmt.Sprintf("net%d", i)] = n.String()
	}
	if len(s.Nameservers) > 0 {
		p["nameserver"] = strings.Join(s.Nameservers, " ")
	}
	if s.Password != "" {
		if len(s.Password) < 5 {
			return nil, errors.New("root password shorter than 5 characters")
		}
		p["password"] = s.Password
	}
	if len(s.SSHPublicKeys) > 0 {
		p["ssh-public-keys"] = strings.Join(s.SSHPublicKeys, "\n")
	}
	if s.OnBoot {
		p["onboot"] = 1
	}
	if s.Start {
		p["start"] = 1
	}
	return p, nil
}

// CreateContainer implements Client.
func (c *APIClient) CreateContainer(ctx context.Context, node string, spec CreateSpec) (UPID, error) {
	target := containerTarget(node, spec.VMID)
	params, err := createParams(spec)
	if err != nil {
		return "", &Error{Kind: ErrBadRequest, Op: "create container " + target, Message: err.Error()}
	}
	return c.startTask(ctx, "create container", target, createOnce, func(ctx context.Context, upid *flexString) error {
		return c.api.Post(ctx, fmt.Sprintf("/nodes/%s/lxc", url.PathEscape(node)), params, upid)
	})
}

// startTask runs a call that answers with a UPID.
func (c *APIClient) startTask(ctx context.Context, name, target string, mode callMode,
	fn func(context.Context, *flexString) error) (UPID, error) {
	var upid UPID
	err := c.call(ctx, name, target, mode, func(ctx context.Context) error {
		var s flexString
		if err := fn(ctx, &s); err != nil {
			return err
		}
		upid = UPID(s)
		return nil
	})
	if err != nil {
		return "", err
	}
	if _, perr := upid.Parse(); perr != nil {
		return "", invalid(name+" "+target, perr)
	}
	return upid, nil
}

// StartContainer implements Client.
func (c *APIClient) StartContainer(ctx context.Context, node string, vmid int) (UPID, error) {
	upid, err := c.startTask(ctx, "start container", containerTarget(node, vmid), repeatable,
		func(ctx context.Context, upid *flexString) error {
			return c.api.Post(ctx, containerPath(node, vmid)+"/status/start", nil, upid)
		})
	if errors.Is(err, ErrAlreadyRunning) {
		return "", nil
	}
	return upid, err
}

// StopContainer implements Client.
func (c *APIClient) StopContainer(ctx context.Context, node string, vmid int) (UPID, error) {
	upid, err := c.startTask(ctx, "stop container", containerTarget(node, vmid), repeatable,
		func(ctx context.Context, upid *flexString) error {
			return c.api.Post(ctx, containerPath(node, vmid)+"/status/stop", nil, upid)
		})
	if errors.Is(err, ErrNotRunning) {
		return "", nil
	}
	return upid, err
}

// ShutdownContainer implements Client.
func (c *APIClient) ShutdownContainer(ctx context.Context, node string, vmid int, timeout time.Duration, forceStop bool) (UPID, error) {
	body := map[string]any{"timeout": int(timeout.Round(time.Second) / time.Second), "forceStop": 0}
	if forceStop {
		body["forceStop"] = 1
	}
	upid, err := c.startTask(ctx, "shutdown container", containerTarget(node, vmid), repeatable,
		func(ctx context.Context, upid *flexString) error {
			return c.api.Post(ctx, containerPath(node, vmid)+"/status/shutdown", body, upid)
		})
	if errors.Is(err, ErrNotRunning) {
		return "", nil
	}
	return upid, err
}

// DeleteContainer implements Client.
func (c *APIClient) DeleteContainer(ctx context.Context, node string, vmid int, opts DeleteOptions) (UPID, error) {
	q := url.Values{}
	if opts.Purge {
		q.Set("purge", "1")
	}
	if opts.Force {
		q.Set("force", "1")
	}
	if opts.DestroyUnreferencedDisks {
		q.Set("destroy-unreferenced-disks", "1")
	}
	path := containerPath(node, vmid)
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	return c.startTask(ctx, "delete container", containerTarget(node, vmid), repeatable,
		func(ctx context.Context, upid *flexString) error {
			return c.api.Delete(ctx, path, upid)
		})
}

// updateParams turns a ConfigUpdate into the parameters of PUT …/config.
func updateParams(u ConfigUpdate) (map[string]any, error) {
	p := map[string]any{}
	var del []string
	if u.Hostname != nil {
		p["hostname"] = *u.Hostname
	}
	if u.Description != nil {
		if *u.Description == "" {
			del = append(del, "description")
		} else {
			p["description"] = *u.Description
		}
	}
	if u.Tags != nil {
		if len(u.Tags) == 0 {
			del = append(del, "tags")
		} else {
			tags, err := FormatTags(u.Tags)
			if err != nil {
				return nil, err
			}
			p["tags"] = tags
		}
	}
	if u.Cores != nil {
		p["cores"] = *u.Cores
	}
	if u.MemoryMiB != nil {
		p["memory"] = *u.MemoryMiB
	}
	if u.SwapMiB != nil {
		p["swap"] = *u.SwapMiB
	}
	if u.Features != nil {
		if f := u.Features.String(); f != "" {
			p["features"] = f
		} else {
			del = append(del, "features")
		}
	}
	if u.OnBoot != nil {
		p["onboot"] = 0
		if *u.OnBoot {
			p["onboot"] = 1
		}
	}
	for i, n := range u.Nets {
		if n.Name == "" {
			return nil, fmt.Errorf("net%d has no interface name", i)
		}
		p[fmt.Sprintf("net%d", i)] = n.String()
	}
	if u.Nameservers != nil {
		if len(u.Nameservers) == 0 {
			del = append(del, "nameserver")
		} else {
			p["nameserver"] = strings.Join(u.Nameservers, " ")
		}
	}
	del = append(del, u.Delete...)
	for _, k := range del {
		if _, both := p[k]; both {
			return nil, fmt.Errorf("%s is both set and deleted", k)
		}
	}
	if len(del) > 0 {
		p["delete"] = strings.Join(del, ",")
	}
	if len(p) > 0 && u.Digest != "" {
		p["digest"] = u.Digest
	}
	return p, nil
}

// UpdateContainerConfig implements Client. An update that changes nothing sends no request.
func (c *APIClient) UpdateContainerConfig(ctx context.Context, node string, vmid int, update ConfigUpdate) error {
	target := containerTarget(node, vmid)
	params, err := updateParams(update)
	if err != nil {
		return &Error{Kind: ErrBadRequest, Op: "update container config " + target, Message: err.Error()}
	}
	if len(params) == 0 {
		return nil
	}
	// Proxmox answers with data null: go-proxmox's Container.Config would hand back a nil task.
	return c.call(ctx, "update container config", target, repeatable, func(ctx context.Context) error {
		return c.api.Put(ctx, containerPath(node, vmid)+"/config", params, nil)
	})
}

// ContainerInterfaces implements Client.
func (c *APIClient) ContainerInterfaces(ctx context.Context, node string, vmid int) ([]Interface, error) {
	target := containerTarget(node, vmid)
	raw, err := get[[]rawInterface](c, ctx, "get container interfaces", target, containerPath(node, vmid)+"/interfaces")
	if err != nil {
		return nil, err
	}
	ifaces, perr := parseInterfaces(raw)
	if perr != nil {
		return nil, invalid("get container interfaces "+target, perr)
	}
	return ifaces, nil
}

// TaskStatus implements Client.
func (c *APIClient) TaskStatus(ctx context.Context, upid UPID) (TaskStatus, error) {
	parts, err := upid.Parse()
	if err != nil {
		return TaskStatus{}, &Error{Kind: ErrBadRequest, Op: "get task status", Message: err.Error()}
	}
	type status struct {
		Status     string     `json:"status"`
		ExitStatus string     `json:"exitstatus"`
		Type       string     `json:"type"`
		ID         flexString `json:"id"`
		User       string     `json:"user"`
		TokenID    string     `json:"tokenid"`
		StartTime  flexNum    `json:"starttime"`
	}
	op := "get task status"
	r, err := get[status](c, ctx, op, string(upid),
		fmt.Sprintf("/nodes/%s/tasks/%s/status", url.PathEscape(parts.Node), upid))
	if err != nil {
		return TaskStatus{}, err
	}
	ts := TaskStatus{
		UPID: upid, Node: parts.Node, Type: r.Type, ID: string(r.ID), User: r.User,
		StartTime: parts.StartTime, ExitStatus: r.ExitStatus,
	}
	if ts.Type == "" {
		ts.Type, ts.ID = parts.Type, parts.ID
	}
	if r.TokenID != "" {
		ts.User += "!" + r.TokenID
	}
	if ts.User == "" {
		ts.User = parts.User
	}
	if r.StartTime > 0 {
		ts.StartTime = time.Unix(int64(r.StartTime), 0).UTC()
	}
	switch r.Status {
	case "running":
		ts.Running = true
		ts.ExitStatus = ""
	case "stopped":
	default:
		return TaskStatus{}, invalid(op+" "+string(upid), fmt.Errorf("unknown task status %q", r.Status))
	}
	return ts, nil
}

// taskLogPage is how many lines one log request asks for.
const taskLogPage = 500

// TaskLogTail implements Client.
func (c *APIClient) TaskLogTail(ctx context.Context, upid UPID, n int) ([]string, error) {
	parts, err := upid.Parse()
	if err != nil {
		return nil, &Error{Kind: ErrBadRequest, Op: "get task log", Message: err.Error()}
	}
	if n <= 0 {
		return nil, nil
	}
	type line struct {
		N flexNum `json:"n"`
		T string  `json:"t"`
	}
	var tail []string
	for start := 0; ; start += taskLogPage {
		page, err := get[[]line](c, ctx, "get task log", string(upid),
			fmt.Sprintf("/nodes/%s/tasks/%s/log?start=%d&limit=%d", url.PathEscape(parts.Node), upid, start, taskLogPage))
		if err != nil {
			return nil, err
		}
		for _, l := range page {
			tail = append(tail, l.T)
		}
		if len(tail) > n {
			tail = append([]string(nil), tail[len(tail)-n:]...)
		}
		if len(page) < taskLogPage {
			return tail, nil
		}
	}
}

// quietLogger keeps go-proxmox silent; this package reports through errors and metrics.
type quietLogger struct{}

func (quietLogger) Debugf(string, ...interface{}) {}
func (quietLogger) Errorf(string, ...interface{}) {}
func (quietLogger) Infof(string, ...interface{})  {}
func (quietLogger) Warnf(string, ...interface{})  {}
