package proxmox

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	goproxmox "github.com/luthermonson/go-proxmox"
)

// Version implements Client.
func (c *APIClient) Version(ctx context.Context) (Version, error) {
	v, err := get[goproxmox.Version](ctx, c, "get version", "", "/version")
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
	raw, err := get[[]rawStorage](ctx, c, "list storages", node,
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
	raw, err := get[[]item](ctx, c, "list os templates", node+"/"+storage,
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
	s, err := get[flexString](ctx, c, "get next vmid", "", "/cluster/nextid")
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
	_, err := get[flexString](ctx, c, "check vmid", strconv.Itoa(vmid), fmt.Sprintf("/cluster/nextid?vmid=%d", vmid))
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
	raw, err := get[[]rawResource](ctx, c, "list guests", "", "/cluster/resources?type=vm")
	if err != nil {
		return nil, err
	}
	seen := time.Now()
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
			Uptime: time.Duration(r.Uptime) * time.Second, Seen: seen, Pool: r.Pool, HAState: string(r.HAState),
		})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].VMID < out[j].VMID })
	return out, nil
}

// DiscoverOSTemplates lists the container templates on every online node's enabled, active
// storages that hold vztmpl content. A shared storage's templates are listed once per node,
// since each node can use them.
func DiscoverOSTemplates(ctx context.Context, c Client, nodes []Node) ([]OSTemplate, error) {
	var out []OSTemplate
	for _, n := range nodes {
		if !n.Online() {
			continue
		}
		storages, err := c.Storages(ctx, n.Name)
		if err != nil {
			return nil, err
		}
		for _, s := range storages {
			if !s.HasContent("vztmpl") || !s.Enabled || !s.Active {
				continue
			}
			tmpls, err := c.OSTemplates(ctx, n.Name, s.Name)
			if err != nil {
				return nil, err
			}
			out = append(out, tmpls...)
		}
	}
	return out, nil
}

// PullOCIImage implements Client.
func (c *APIClient) PullOCIImage(ctx context.Context, node, storage, reference, filename string) (UPID, error) {
	params := map[string]string{"reference": reference}
	if filename != "" {
		params["filename"] = filename
	}
	return c.startTask(ctx, "pull oci image", node+"/"+storage, createOnce, func(ctx context.Context, upid *flexString) error {
		return c.api.Post(ctx, fmt.Sprintf("/nodes/%s/storage/%s/oci-registry-pull", url.PathEscape(node), url.PathEscape(storage)), params, upid)
	})
}
