package proxmox

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Snapshot is a snapshot of a container.
type Snapshot struct {
	Name        string
	Description string
	// Parent is the snapshot this one was taken on top of, empty for the first.
	Parent string
	Time   time.Time
}

// Snapshots implements Client.
func (c *APIClient) Snapshots(ctx context.Context, node string, vmid int) ([]Snapshot, error) {
	type entry struct {
		Name        string  `json:"name"`
		Description string  `json:"description"`
		Parent      string  `json:"parent"`
		SnapTime    flexNum `json:"snaptime"`
	}
	list, err := get[[]entry](ctx, c, "list snapshots", containerTarget(node, vmid), containerPath(node, vmid)+"/snapshot")
	if err != nil {
		return nil, err
	}
	out := []Snapshot{}
	for _, e := range list {
		// "current" stands for the container's present state, not a snapshot.
		if e.Name == "current" {
			continue
		}
		s := Snapshot{Name: e.Name, Description: e.Description, Parent: e.Parent}
		if e.SnapTime > 0 {
			s.Time = time.Unix(int64(e.SnapTime), 0).UTC()
		}
		out = append(out, s)
	}
	slices.SortStableFunc(out, func(a, b Snapshot) int {
		if c := a.Time.Compare(b.Time); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
	return out, nil
}

func snapshotPath(node string, vmid int, name string) string {
	return containerPath(node, vmid) + "/snapshot/" + url.PathEscape(name)
}

// CreateSnapshot implements Client.
func (c *APIClient) CreateSnapshot(ctx context.Context, node string, vmid int, name, description string) (UPID, error) {
	body := map[string]any{"snapname": name}
	if description != "" {
		body["description"] = description
	}
	return c.startTask(ctx, "create snapshot", containerTarget(node, vmid), createOnce,
		func(ctx context.Context, upid *flexString) error {
			return c.api.Post(ctx, containerPath(node, vmid)+"/snapshot", body, upid)
		})
}

// DeleteSnapshot implements Client. Proxmox finds a missing snapshot only in the task, so the
// snapshot is looked up first.
func (c *APIClient) DeleteSnapshot(ctx context.Context, node string, vmid int, name string) (UPID, error) {
	target := fmt.Sprintf("%s/%s", containerTarget(node, vmid), name)
	if _, err := get[[]map[string]any](ctx, c, "get snapshot", target, snapshotPath(node, vmid, name)); err != nil {
		return "", err
	}
	return c.startTask(ctx, "delete snapshot", target, createOnce, func(ctx context.Context, upid *flexString) error {
		return c.api.Delete(ctx, snapshotPath(node, vmid, name), upid)
	})
}

// RollbackSnapshot implements Client.
func (c *APIClient) RollbackSnapshot(ctx context.Context, node string, vmid int, name string, start bool) (UPID, error) {
	body := map[string]any{}
	if start {
		body["start"] = 1
	}
	target := fmt.Sprintf("%s/%s", containerTarget(node, vmid), name)
	return c.startTask(ctx, "roll back snapshot", target, createOnce, func(ctx context.Context, upid *flexString) error {
		return c.api.Post(ctx, snapshotPath(node, vmid, name)+"/rollback", body, upid)
	})
}

// HasFeature implements Client.
func (c *APIClient) HasFeature(ctx context.Context, node string, vmid int, feature string) (bool, error) {
	type answer struct {
		HasFeature flexBool `json:"hasFeature"`
	}
	path := containerPath(node, vmid) + "/feature?feature=" + url.QueryEscape(feature)
	r, err := get[answer](ctx, c, "check feature", containerTarget(node, vmid), path)
	return bool(r.HasFeature), err
}
