package packaging

import (
	"context"
	"fmt"
	"net"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
	"templatemanager.dev/lxc-template-manager/internal/mirror/pgtest"
	"templatemanager.dev/lxc-template-manager/internal/testkit"
)

// connectionCounter is a loopback TCP port that counts who connects to it, standing in for a
// database that must not be used.
type connectionCounter struct {
	l     net.Listener
	count atomic.Int32
}

func newConnectionCounter(t *testing.T) *connectionCounter {
	t.Helper()
	l := testkit.Listen(t)
	c := &connectionCounter{l: l}
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			c.count.Add(1)
			conn.Close()
		}
	}()
	return c
}

func (c *connectionCounter) dsn() string {
	return fmt.Sprintf("host=127.0.0.1 port=%d user=mirror dbname=mirror sslmode=disable connect_timeout=2", c.l.Addr().(*net.TCPAddr).Port)
}

func (c *connectionCounter) accepted() int { return int(c.count.Load()) }

// newMirrorDatabase creates a database for one test and drops it after.
func newMirrorDatabase(t *testing.T) (string, *pgxpool.Pool) {
	t.Helper()
	dsn := pgtest.NewDatabase(t)
	pool, err := pgxpool.New(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return dsn, pool
}

func mirroredBucketReady(pool *pgxpool.Pool, b *lxcv1.PackageBucket) error {
	var ready bool
	var count int
	err := pool.QueryRow(context.Background(), `SELECT ready, package_count FROM package_buckets WHERE namespace = $1 AND name = $2`,
		b.Namespace, b.Name).Scan(&ready, &count)
	if err != nil {
		return err
	}
	if !ready || count != len(b.Spec.Packages) {
		return fmt.Errorf("row ready=%v package_count=%d", ready, count)
	}
	return nil
}
