package proxmox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// HAResource is a container's entry in the HA stack's resources (GET
// /cluster/ha/resources/ct:VMID).
type HAResource struct {
	// State is the requested state: started, stopped, disabled or ignored.
	State       string
	MaxRestart  *int
	MaxRelocate *int
	// NoFailback is set when the resource has failback=0 (set outside the controller): HA then
	// does not move it to a node of higher priority while its node is allowed.
	NoFailback bool
	// Digest of resources.cfg, for a change that must not overwrite a concurrent edit.
	Digest string
}

func haPath(vmid int) string { return "/cluster/ha/resources/ct:" + strconv.Itoa(vmid) }

func haTarget(vmid int) string { return "ct:" + strconv.Itoa(vmid) }

// HAResource implements Client; a container HA does not manage is ErrNotFound.
func (c *APIClient) HAResource(ctx context.Context, vmid int) (HAResource, error) {
	raw, err := get[map[string]json.RawMessage](ctx, c, "get ha resource", haTarget(vmid), haPath(vmid))
	if err != nil {
		return HAResource{}, err
	}
	text := map[string]string{}
	for k, v := range raw {
		if s, ok := jsonText(v); ok {
			text[k] = s
		}
	}
	h := HAResource{State: text["state"], Digest: text["digest"], NoFailback: text["failback"] == "0"}
	if h.State == "" || h.State == "enabled" {
		// ha-manager's default, and enabled is started's old name.
		h.State = "started"
	}
	for k, dst := range map[string]**int{"max_restart": &h.MaxRestart, "max_relocate": &h.MaxRelocate} {
		if s, ok := text[k]; ok {
			n, err := strconv.Atoi(s)
			if err != nil {
				return HAResource{}, invalid("get ha resource "+haTarget(vmid), fmt.Errorf("%s %q", k, s))
			}
			*dst = &n
		}
	}
	return h, nil
}

// haParams are the options of a create or update; unset limits go to delete on an update.
func haParams(h HAResource) (map[string]any, []string) {
	p := map[string]any{"state": h.State}
	var del []string
	for k, v := range map[string]*int{"max_restart": h.MaxRestart, "max_relocate": h.MaxRelocate} {
		if v != nil {
			p[k] = *v
		} else {
			del = append(del, k)
		}
	}
	slices.Sort(del)
	return p, del
}

// CreateHAResource implements Client: the HA stack then brings the container to the state.
func (c *APIClient) CreateHAResource(ctx context.Context, vmid int, h HAResource) error {
	p, _ := haParams(h)
	p["sid"] = haTarget(vmid)
	return c.call(ctx, "create ha resource", haTarget(vmid), createOnce, func(ctx context.Context) error {
		return c.api.Post(ctx, "/cluster/ha/resources", p, nil)
	})
}

// UpdateHAResource implements Client.
func (c *APIClient) UpdateHAResource(ctx context.Context, vmid int, h HAResource) error {
	p, del := haParams(h)
	if len(del) > 0 {
		p["delete"] = strings.Join(del, ",")
	}
	if h.Digest != "" {
		p["digest"] = h.Digest
	}
	return c.call(ctx, "update ha resource", haTarget(vmid), repeatable, func(ctx context.Context) error {
		return c.api.Put(ctx, haPath(vmid), p, nil)
	})
}

// DeleteHAResource implements Client: HA stops managing the container, which keeps running
// or stays stopped as it is.
func (c *APIClient) DeleteHAResource(ctx context.Context, vmid int) error {
	return c.call(ctx, "delete ha resource", haTarget(vmid), repeatable, func(ctx context.Context) error {
		return c.api.Delete(ctx, haPath(vmid), nil)
	})
}

// PoolMembers implements Client.
func (c *APIClient) PoolMembers(ctx context.Context, pool string) ([]int, bool, error) {
	type member struct {
		VMID flexNum    `json:"vmid"`
		Type flexString `json:"type"`
	}
	type entry struct {
		Members []member `json:"members"`
	}
	list, err := get[[]entry](ctx, c, "get pool", "pool/"+pool, "/pools?poolid="+url.QueryEscape(pool))
	if errors.Is(err, ErrNotFound) {
		return nil, false, nil
	}
	if err != nil || len(list) == 0 {
		return nil, false, err
	}
	var vmids []int
	for _, m := range list[0].Members {
		if m.Type == "lxc" || m.Type == "qemu" {
			vmids = append(vmids, int(m.VMID))
		}
	}
	return vmids, true, nil
}

// AddToPool implements Client: the container joins pool, leaving the pool it is in.
func (c *APIClient) AddToPool(ctx context.Context, pool string, vmid int) error {
	p := map[string]any{"poolid": pool, "vms": strconv.Itoa(vmid), "allow-move": 1}
	return c.call(ctx, "add to pool", "pool/"+pool, repeatable, func(ctx context.Context) error {
		return c.api.Put(ctx, "/pools", p, nil)
	})
}

// RemoveFromPool implements Client.
func (c *APIClient) RemoveFromPool(ctx context.Context, pool string, vmid int) error {
	p := map[string]any{"poolid": pool, "vms": strconv.Itoa(vmid), "delete": 1}
	return c.call(ctx, "remove from pool", "pool/"+pool, repeatable, func(ctx context.Context) error {
		return c.api.Put(ctx, "/pools", p, nil)
	})
}
