package mirror

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// checkViewsRefuseWrites tries every kind of write on every view of the dashboard's schema, as
// the mirror's own role (which owns them) and as a role granted every privilege on them, and
// checks that each is refused with a message saying where changes are made, and changes nothing.
func checkViewsRefuseWrites(t *testing.T, pool *pgxpool.Pool) {
	t.Helper()
	ctx := context.Background()
	if _, err := pool.Exec(ctx, `DO $$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'dashboard_writer') THEN CREATE ROLE dashboard_writer; END IF;
END $$`); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `GRANT USAGE ON SCHEMA public TO dashboard_writer;
GRANT ALL ON ALL TABLES IN SCHEMA public TO dashboard_writer`); err != nil {
		t.Fatal(err)
	}
	before := dumpDatabase(t, pool)
	for table := range pveHomeLabColumns {
		var rows int
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM "`+table+`"`).Scan(&rows); err != nil {
			t.Fatal(err)
		}
		if rows == 0 {
			// A row-level refusal needs a row to refuse: the fixture fills every view.
			t.Fatalf("%s has no rows to try writes on", table)
		}
		for _, role := range []string{"", "dashboard_writer"} {
			for _, write := range []string{
				`INSERT INTO "` + table + `" ("id") VALUES ('written-by-the-dashboard')`,
				`UPDATE "` + table + `" SET "id" = "id"`,
				`DELETE FROM "` + table + `"`,
			} {
				err := tryAs(ctx, pool, role, write)
				var pgErr *pgconn.PgError
				if !errors.As(err, &pgErr) {
					t.Errorf("%s as %q: %v, want a refusal", write, roleName(role), err)
					continue
				}
				if pgErr.Code != "25006" || !strings.Contains(pgErr.Message, "read-only") ||
					!strings.Contains(pgErr.Hint, "console or kubectl") {
					t.Errorf("%s as %q refused with %s %q (hint %q), want 25006 naming the console and kubectl",
						write, roleName(role), pgErr.Code, pgErr.Message, pgErr.Hint)
				}
			}
		}
	}
	if after := dumpDatabase(t, pool); after != before {
		t.Error("a refused write changed the database")
	}
}

// tryAs runs sql in a transaction as role (the pool's own when empty) and rolls it back.
func tryAs(ctx context.Context, pool *pgxpool.Pool, role, sql string) error {
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if role != "" {
			if _, err := tx.Exec(ctx, "SET LOCAL ROLE "+role); err != nil {
				return err
			}
		}
		_, err := tx.Exec(ctx, sql)
		if err == nil {
			return errors.New("accepted")
		}
		return err
	})
}

func roleName(role string) string {
	if role == "" {
		return "the mirror's owner"
	}
	return role
}
