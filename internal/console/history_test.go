package console

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"templatemanager.dev/lxc-template-manager/internal/console/pages"
	"templatemanager.dev/lxc-template-manager/internal/mirror"
	"templatemanager.dev/lxc-template-manager/internal/mirror/pgtest"
)

// Events the API server no longer keeps come from the mirror's container_events, the newest
// row of each series once, and only the container's own (by UID).
func TestMirrorHistory(t *testing.T) {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, pgtest.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if _, err := mirror.Migrate(ctx, pool); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-48 * time.Hour).UTC().Truncate(time.Second)
	insert := func(uid string, series int, containerUID, note string) {
		_, err := pool.Exec(ctx, `INSERT INTO container_events (uid, series_count, namespace, name, container_name, container_uid,
			resource_version, generation, updated_at, event_time, type, reason, action, note, reporting_controller, reporting_instance)
			VALUES ($1, $2, 'team-a', $1, 'web-1', $3, 1, 1, now(), $4, 'Warning', 'ScriptFailed', 'Run', $5, 'lxc-template-manager', 'm-0')`,
			uid, series, containerUID, old.Add(time.Duration(series)*time.Minute), note)
		if err != nil {
			t.Fatal(err)
		}
	}
	insert("ev-1", 1, "uid-1", "install exited 1")
	insert("ev-1", 3, "uid-1", "install exited 1")
	insert("ev-2", 1, "uid-0", "an earlier container of the same name")
	events, err := (&MirrorHistory{Pool: pool}).Events(ctx, "team-a", "web-1", "uid-1")
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 1 || events[0].Count != 3 || events[0].Message != "install exited 1" || !events[0].Last.Equal(old.Add(3*time.Minute)) {
		t.Fatalf("events %+v", events)
	}
	merged := mergeEvents([]pages.Event{{Reason: "Started", Message: "now", Last: time.Now()}}, events)
	if len(merged) != 2 || merged[0].Reason != "Started" {
		t.Fatalf("merged %+v", merged)
	}
}
