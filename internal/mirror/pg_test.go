package mirror

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"templatemanager.dev/lxc-template-manager/internal/mirror/pgtest"
)

// newDatabase creates an empty database for one test and returns its DSN and a pool on it.
func newDatabase(t testing.TB) (string, *pgxpool.Pool) {
	t.Helper()
	dsn := pgtest.NewDatabase(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	// Registered after the drop, so it runs before it.
	t.Cleanup(pool.Close)
	return dsn, pool
}
