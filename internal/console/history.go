package console

import (
	"context"

	"github.com/jackc/pgx/v5/pgxpool"
	"k8s.io/apimachinery/pkg/types"

	"templatemanager.dev/lxc-template-manager/internal/console/pages"
)

// EventHistory gives a container's Events older than the API server keeps.
type EventHistory interface {
	Events(ctx context.Context, namespace, name string, uid types.UID) ([]pages.Event, error)
}

// MirrorHistory reads older Events from the status mirror's container_events table.
type MirrorHistory struct {
	Pool *pgxpool.Pool
	// Limit caps the rows per container.
	Limit int
}

// Events returns the container's Events the mirror kept, newest first; only the newest row
// of each Event series.
func (m *MirrorHistory) Events(ctx context.Context, namespace, name string, uid types.UID) ([]pages.Event, error) {
	limit := m.Limit
	if limit <= 0 {
		limit = 200
	}
	rows, err := m.Pool.Query(ctx, `
		SELECT DISTINCT ON (uid) event_time, type, reason, note, reporting_controller, series_count
		FROM container_events
		WHERE namespace = $1 AND container_name = $2 AND container_uid = $3
		ORDER BY uid, series_count DESC
		LIMIT $4`, namespace, name, string(uid), limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []pages.Event
	for rows.Next() {
		var e pages.Event
		var count int32
		if err := rows.Scan(&e.Last, &e.Type, &e.Reason, &e.Message, &e.Source, &count); err != nil {
			return nil, err
		}
		e.Count = max(count, 1)
		out = append(out, e)
	}
	return out, rows.Err()
}
