package packaging

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
)

// connectionCounter is a loopback TCP port that counts who connects to it, standing in for a
// database that must not be used.
type connectionCounter struct {
	l     net.Listener
	count atomic.Int32
}

func newConnectionCounter(t *testing.T) *connectionCounter {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
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
	t.Cleanup(func() { l.Close() })
	return c
}

func (c *connectionCounter) dsn() string {
	return fmt.Sprintf("host=127.0.0.1 port=%d user=mirror dbname=mirror sslmode=disable connect_timeout=2", c.l.Addr().(*net.TCPAddr).Port)
}

func (c *connectionCounter) accepted() int { return int(c.count.Load()) }

// newMirrorDatabase creates a database on the machine's PostgreSQL for one test and drops it after.
func newMirrorDatabase(t *testing.T) (string, *pgxpool.Pool) {
	t.Helper()
	admin := os.Getenv("LXCTM_TEST_POSTGRES_DSN")
	if admin == "" {
		admin = "host=127.0.0.1 port=5432 user=postgres dbname=test sslmode=disable"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatalf("PostgreSQL at %q is needed for this test: %v", admin, err)
	}
	defer conn.Close(ctx)
	name := fmt.Sprintf("lxctm_packaging_%d", rand.IntN(1_000_000_000))
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatal(err)
	}
	cfg := conn.Config()
	dsn := fmt.Sprintf("host=%s port=%d user=%s dbname=%s sslmode=disable", cfg.Host, cfg.Port, cfg.User, name)
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		pool.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if conn, err := pgx.Connect(ctx, admin); err == nil {
			_, _ = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
			conn.Close(ctx)
		}
	})
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
