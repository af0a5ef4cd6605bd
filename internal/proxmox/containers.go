package proxmox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

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
	r, err := get[status](ctx, c, "get container status", containerTarget(node, vmid),
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
	raw, err := get[map[string]json.RawMessage](ctx, c, "get container config", target, containerPath(node, vmid)+"/config")
	if err != nil {
		return ContainerConfig{}, err
	}
	cfg, perr := parseContainerConfig(raw)
	if perr != nil {
		return ContainerConfig{}, invalid("get container config "+target, perr)
	}
	return cfg, nil
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
		e := &Error{Kind: ErrInvalidResponse, Op: name + " " + target, StatusCode: http.StatusOK, Message: perr.Error(), Err: perr}
		// The request was accepted, so whatever it asked for may be under way.
		e.OutcomeUnknown = mode == createOnce
		return "", e
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

// ResizeDisk implements Client.
func (c *APIClient) ResizeDisk(ctx context.Context, node string, vmid int, disk, size string) (UPID, error) {
	body := map[string]any{"disk": disk, "size": size}
	upid, err := c.startTask(ctx, "resize disk", containerTarget(node, vmid), repeatable,
		func(ctx context.Context, upid *flexString) error {
			return c.api.Put(ctx, containerPath(node, vmid)+"/resize", body, upid)
		})
	if err != nil && !strings.HasPrefix(size, "+") && strings.Contains(err.Error(), "disk is already at specified size") {
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
	raw, err := get[[]rawInterface](ctx, c, "get container interfaces", target, containerPath(node, vmid)+"/interfaces")
	if err != nil {
		return nil, err
	}
	ifaces, perr := parseInterfaces(raw)
	if perr != nil {
		return nil, invalid("get container interfaces "+target, perr)
	}
	return ifaces, nil
}

// CloneSpec is what a clone of a container (or of a container template) is given.
type CloneSpec struct {
	NewID       int
	Hostname    string
	Description string
	// Full asks for a full copy of the disks; otherwise a linked clone, which Proxmox allows
	// only from a template on a storage that supports it.
	Full bool
	// Storage is the target storage of a full clone; empty keeps the source's.
	Storage string
	Pool    string
}

// CloneContainer implements Client.
func (c *APIClient) CloneContainer(ctx context.Context, node string, vmid int, spec CloneSpec) (UPID, error) {
	p := map[string]any{"newid": spec.NewID, "full": 0}
	if spec.Full {
		p["full"] = 1
		if spec.Storage != "" {
			p["storage"] = spec.Storage
		}
	}
	for k, v := range map[string]string{"hostname": spec.Hostname, "description": spec.Description, "pool": spec.Pool} {
		if v != "" {
			p[k] = v
		}
	}
	return c.startTask(ctx, "clone container", containerTarget(node, vmid), createOnce, func(ctx context.Context, upid *flexString) error {
		return c.api.Post(ctx, containerPath(node, vmid)+"/clone", p, upid)
	})
}

// ConvertToTemplate implements Client.
func (c *APIClient) ConvertToTemplate(ctx context.Context, node string, vmid int) error {
	return c.call(ctx, "convert to template", containerTarget(node, vmid), repeatable, func(ctx context.Context) error {
		return c.api.Post(ctx, containerPath(node, vmid)+"/template", nil, nil)
	})
}
