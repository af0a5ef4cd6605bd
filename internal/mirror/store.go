package mirror

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// upsertSQL writes a row unless the table holds the same object at the same or a newer
// resourceVersion: an older state never overwrites a newer one.
func upsertSQL(table string, columns []string) string {
	params := make([]string, len(columns))
	var set []string
	for i, c := range columns {
		params[i] = fmt.Sprintf("$%d", i+1)
		if c != "namespace" && c != "name" {
			set = append(set, c+" = excluded."+c)
		}
	}
	return fmt.Sprintf("INSERT INTO %s (%s) VALUES (%s) ON CONFLICT (namespace, name) DO UPDATE SET %s WHERE %s.resource_version < excluded.resource_version",
		table, strings.Join(columns, ", "), strings.Join(params, ", "), strings.Join(set, ", "), table)
}

var (
	upsertBucket    = upsertSQL("package_buckets", bucketColumns)
	upsertTemplate  = upsertSQL("templates", templateColumns)
	upsertContainer = upsertSQL("containers", containerColumns)

	// setDashboardUser names the Proxmox user the dashboard's node rows belong to.
	setDashboardUser = `UPDATE dashboard_settings SET user_id = $1 WHERE user_id IS DISTINCT FROM $1`

	// The services of an older state go; the current ones are written only when the
	// container's row holds exactly the state they came from.
	deleteOldServices = `DELETE FROM container_services
WHERE namespace = $1 AND container_name = $2 AND resource_version < $3`
	insertServices = `INSERT INTO container_services (namespace, container_name, name, uid,
    resource_version, generation, updated_at, port, protocol, address, process, unit, url)
SELECT $1, $2, s.name, $4, $3, $5, $6, s.port, s.protocol, s.address, s.process, s.unit, s.url
FROM jsonb_to_recordset($7::jsonb) AS s(name text, port integer, protocol text, address text,
    process text, unit text, url text)
WHERE EXISTS (SELECT 1 FROM containers c
              WHERE c.namespace = $1 AND c.name = $2 AND c.resource_version = $3)
ON CONFLICT DO NOTHING`

	insertEvent = fmt.Sprintf("INSERT INTO container_events (%s) VALUES (%s) ON CONFLICT (uid, series_count) DO NOTHING",
		strings.Join(eventColumns, ", "), placeholders(len(eventColumns)))
)

func placeholders(n int) string {
	p := make([]string, n)
	for i := range p {
		p[i] = fmt.Sprintf("$%d", i+1)
	}
	return strings.Join(p, ", ")
}

// Table names of the objects the mirror keeps, by kind.
var tableOf = map[kind]string{
	kindBucket:    "package_buckets",
	kindTemplate:  "templates",
	kindContainer: "containers",
}

// Tables lists every table of the mirror, for the row-count metric and the tests.
var Tables = []string{"templates", "package_buckets", "containers", "container_services", "container_events"}

// deleteSQL removes an object's row; a container's services go with it (foreign key cascade),
// its events stay.
func deleteSQL(k kind) string {
	return "DELETE FROM " + tableOf[k] + " WHERE namespace = $1 AND name = $2"
}

// pruneSQL removes the rows of objects that the cache no longer holds.
func pruneSQL(k kind) string {
	return "DELETE FROM " + tableOf[k] + " WHERE uid <> ALL($1::text[])"
}

// inTx sends a batch in one transaction.
func inTx(ctx context.Context, pool *pgxpool.Pool, b *pgx.Batch) error {
	if b.Len() == 0 {
		return nil
	}
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		return tx.SendBatch(ctx, b).Close()
	})
}

// countRows counts the rows of every table.
func countRows(ctx context.Context, pool *pgxpool.Pool) (map[string]int64, error) {
	out := map[string]int64{}
	b := &pgx.Batch{}
	for _, t := range Tables {
		b.Queue("SELECT count(*) FROM " + t).QueryRow(func(r pgx.Row) error {
			var n int64
			if err := r.Scan(&n); err != nil {
				return err
			}
			out[t] = n
			return nil
		})
	}
	if err := pool.SendBatch(ctx, b).Close(); err != nil {
		return nil, err
	}
	return out, nil
}
