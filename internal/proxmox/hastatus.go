package proxmox

import (
	"context"
	"slices"
	"strings"
)

// haStatusEntry is one entry of GET /cluster/ha/status/current.
type haStatusEntry struct {
	ID     string `json:"id"`
	Type   string `json:"type"`
	Node   string `json:"node"`
	Status string `json:"status"`
}

// MaintenanceNodes implements Client.
func (c *APIClient) MaintenanceNodes(ctx context.Context) ([]string, error) {
	entries, err := get[[]haStatusEntry](ctx, c, "get ha status", "", "/cluster/ha/status/current")
	if err != nil {
		return nil, err
	}
	return maintenanceNodes(entries), nil
}

// maintenanceNodes picks the nodes whose LRM entry reads "<node> (maintenance mode, …)": the
// only place the status shows a node's maintenance, in the words pve-ha-manager's
// src/PVE/API2/HA/Status.pm gives an LRM in maintenance mode, whether its status is fresh or
// old. A cluster whose CRM never ran has no LRM entries, and so no node in maintenance.
func maintenanceNodes(entries []haStatusEntry) []string {
	var out []string
	for _, e := range entries {
		if e.Type == "lrm" && e.Node != "" && strings.HasPrefix(e.Status, e.Node+" (maintenance mode") {
			out = append(out, e.Node)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}
