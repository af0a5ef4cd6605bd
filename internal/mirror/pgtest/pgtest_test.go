package pgtest

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"

	"templatemanager.dev/lxc-template-manager/internal/testkit"
)

// TestProcessServer starts the fallback server a machine without its own PostgreSQL gets, and
// uses it.
func TestProcessServer(t *testing.T) {
	testkit.SkipUnlessFull(t, testkit.PostgreSQL)
	s, err := startProcessServer()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Remove()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, s.DSN("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE probe"); err != nil {
		t.Fatal(err)
	}
	var one int
	if err := conn.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil || one != 1 {
		t.Fatalf("SELECT 1: %d, %v", one, err)
	}
}
