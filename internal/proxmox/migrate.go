package proxmox

import (
	"context"
	"time"
)

// MigrateOptions are the parameters of a container migration.
type MigrateOptions struct {
	// Target is the node the container moves to.
	Target string
	// Restart shuts a running container down, moves it and starts it on the target (restart
	// mode: PVE has no live migration of containers).
	Restart bool
	// TargetStorage maps the container's storages to the target's ("local-lvm:fast", or one
	// storage id for all); empty keeps each volume on the storage of the same name.
	TargetStorage string
	// Timeout is how long the shutdown of a restart migration may take before the container
	// is stopped; zero keeps Proxmox's 180 s.
	Timeout time.Duration
}

// MigrateContainer implements Client.
func (c *APIClient) MigrateContainer(ctx context.Context, node string, vmid int, opts MigrateOptions) (UPID, error) {
	body := map[string]any{"target": opts.Target}
	if opts.Restart {
		body["restart"] = 1
	}
	if opts.TargetStorage != "" {
		body["target-storage"] = opts.TargetStorage
	}
	if opts.Timeout > 0 {
		body["timeout"] = int(opts.Timeout.Round(time.Second) / time.Second)
	}
	return c.startTask(ctx, "migrate container", containerTarget(node, vmid), createOnce,
		func(ctx context.Context, upid *flexString) error {
			return c.api.Post(ctx, containerPath(node, vmid)+"/migrate", body, upid)
		})
}
