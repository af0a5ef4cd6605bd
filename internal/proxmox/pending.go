package proxmox

import (
	"context"
	"encoding/json"
	"slices"
	"time"
)

// pendingItem is one entry of GET …/pending.
type pendingItem struct {
	Key     string          `json:"key"`
	Value   json.RawMessage `json:"value"`
	Pending json.RawMessage `json:"pending"`
	Delete  int             `json:"delete"`
}

// ContainerPending implements Client. One request answers both questions: what is in effect
// (GET …/config shows pending values by default) and what waits for the next start.
func (c *APIClient) ContainerPending(ctx context.Context, node string, vmid int) (PendingConfig, error) {
	target := containerTarget(node, vmid)
	items, err := get[[]pendingItem](ctx, c, "get container pending", target, containerPath(node, vmid)+"/pending")
	if err != nil {
		return PendingConfig{}, err
	}
	return parsePending(items, "get container pending "+target)
}

func parsePending(items []pendingItem, op string) (PendingConfig, error) {
	current := map[string]json.RawMessage{}
	next := map[string]json.RawMessage{}
	var pc PendingConfig
	for _, it := range items {
		hasValue := len(it.Value) > 0 && string(it.Value) != "null"
		hasPending := len(it.Pending) > 0 && string(it.Pending) != "null"
		if hasValue {
			current[it.Key] = it.Value
			next[it.Key] = it.Value
		}
		if hasPending {
			next[it.Key] = it.Pending
		}
		if it.Delete != 0 {
			delete(next, it.Key)
		}
		if hasPending || it.Delete != 0 {
			pc.Pending = append(pc.Pending, it.Key)
		}
	}
	slices.Sort(pc.Pending)
	var perr error
	if pc.Current, perr = parseContainerConfig(current); perr != nil {
		return PendingConfig{}, invalid(op, perr)
	}
	if pc.Next, perr = parseContainerConfig(next); perr != nil {
		return PendingConfig{}, invalid(op, perr)
	}
	pc.Digest = pc.Current.Digest
	return pc, nil
}

// RebootContainer implements Client.
func (c *APIClient) RebootContainer(ctx context.Context, node string, vmid int, timeout time.Duration) (UPID, error) {
	body := map[string]any{"timeout": int(timeout.Round(time.Second) / time.Second)}
	return c.startTask(ctx, "reboot container", containerTarget(node, vmid), repeatable,
		func(ctx context.Context, upid *flexString) error {
			return c.api.Post(ctx, containerPath(node, vmid)+"/status/reboot", body, upid)
		})
}

// ParseConfigText parses a configuration given as Proxmox's option text, as in a .conf file.
func ParseConfigText(options map[string]string) (ContainerConfig, error) {
	raw := make(map[string]json.RawMessage, len(options))
	for k, v := range options {
		b, err := json.Marshal(v)
		if err != nil {
			return ContainerConfig{}, err
		}
		raw[k] = b
	}
	return parseContainerConfig(raw)
}
