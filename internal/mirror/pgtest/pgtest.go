// Package pgtest gives tests a real PostgreSQL: the machine's server on 127.0.0.1:5432 when it
// answers, otherwise a server of the test process's own, initialised with initdb in a temporary
// directory (the Debian package postgresql provides both).
package pgtest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"templatemanager.dev/lxc-template-manager/internal/testkit"
)

// MachineDSN is the machine's PostgreSQL: trust authentication on loopback, database test.
const MachineDSN = "host=127.0.0.1 port=5432 user=postgres dbname=test sslmode=disable connect_timeout=5"

var (
	adminOnce sync.Once
	adminDSN  string
	adminErr  error
)

// AdminDSN is a superuser's DSN: LXCTM_TEST_POSTGRES_DSN when set, else the machine's server,
// else a server this process starts (and that ends with it).
func AdminDSN(tb testing.TB) string {
	tb.Helper()
	testkit.SkipUnlessFull(tb, testkit.PostgreSQL)
	adminOnce.Do(func() {
		if dsn := os.Getenv("LXCTM_TEST_POSTGRES_DSN"); dsn != "" {
			adminDSN = dsn
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if conn, err := pgx.Connect(ctx, MachineDSN); err == nil {
			conn.Close(ctx)
			adminDSN = MachineDSN
			return
		}
		var s *Server
		s, adminErr = startProcessServer()
		if adminErr == nil {
			adminDSN = s.DSN("postgres")
		}
	})
	if adminErr != nil {
		tb.Fatalf("no PostgreSQL for the test: %s does not answer and starting one failed: %v", MachineDSN, adminErr)
	}
	return adminDSN
}

// NewDatabase creates an empty database for one test and drops it when the test ends.
func NewDatabase(tb testing.TB) string {
	tb.Helper()
	admin := AdminDSN(tb)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		tb.Fatal(err)
	}
	defer conn.Close(ctx)
	name := fmt.Sprintf("lxctm_test_%d_%d", time.Now().Unix(), rand.IntN(1_000_000_000))
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, admin)
		if err != nil {
			tb.Errorf("dropping %s: %v", name, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			tb.Errorf("dropping %s: %v", name, err)
		}
	})
	cfg := conn.Config()
	return fmt.Sprintf("host=%s port=%d user=%s dbname=%s sslmode=disable", cfg.Host, cfg.Port, cfg.User, name)
}

// Server is a PostgreSQL in a temporary directory on a loopback port of its own.
type Server struct {
	bin  string
	dir  string
	Port int
	cred *syscall.Credential
	uid  int
	gid  int
	// releasePort gives the reserved port back.
	releasePort func()
}

// NewServer initialises a server's data directory; Start runs it.
func NewServer() (*Server, error) {
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(bins) == 0 {
		return nil, fmt.Errorf("initdb not found under /usr/lib/postgresql/*/bin: install the Debian package postgresql (make deps)")
	}
	s := &Server{bin: filepath.Dir(bins[len(bins)-1])}
	dir, err := os.MkdirTemp("", "lxctm-pg-")
	if err != nil {
		return nil, err
	}
	s.dir = dir
	// PostgreSQL refuses to run as root; as root, its tools run as the postgres user.
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return nil, fmt.Errorf("running as root needs the postgres user: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		s.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		if err := os.Chown(dir, uid, gid); err != nil {
			return nil, err
		}
	}
	// postgres must be told its port; a reserved one stays its own across restarts.
	if s.Port, s.releasePort, err = testkit.ReserveProcessPort(); err != nil {
		return nil, err
	}
	if out, err := s.command("initdb", "-D", s.data(), "-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8").CombinedOutput(); err != nil {
		s.releasePort()
		return nil, fmt.Errorf("initdb: %v\n%s", err, out)
	}
	return s, nil
}

func (s *Server) data() string { return filepath.Join(s.dir, "data") }

// DSN reaches database db on the server.
func (s *Server) DSN(db string) string {
	return fmt.Sprintf("host=127.0.0.1 port=%d user=postgres dbname=%s sslmode=disable", s.Port, db)
}

func (s *Server) command(tool string, args ...string) *exec.Cmd {
	cmd := exec.Command(filepath.Join(s.bin, tool), args...)
	cmd.Dir = s.dir
	if s.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred}
	}
	return cmd
}

func (s *Server) postgresFlags() []string {
	return []string{"-p", strconv.Itoa(s.Port), "-k", s.dir, "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off"}
}

// Start starts the server with pg_ctl and waits until it accepts connections.
func (s *Server) Start() error {
	out, err := s.command("pg_ctl", "-D", s.data(), "-w", "-l", filepath.Join(s.dir, "log"), "-o", strings.Join(s.postgresFlags(), " "), "start").CombinedOutput()
	if err != nil {
		return fmt.Errorf("pg_ctl start: %v\n%s", err, out)
	}
	return nil
}

// Stop stops the server (fast shutdown) and waits for it.
func (s *Server) Stop() error {
	out, err := s.command("pg_ctl", "-D", s.data(), "-w", "-m", "fast", "stop").CombinedOutput()
	if err != nil {
		return fmt.Errorf("pg_ctl stop: %v\n%s", err, out)
	}
	return nil
}

// Remove stops the server at once, deletes its directory and gives its port back.
func (s *Server) Remove() {
	_ = s.command("pg_ctl", "-D", s.data(), "-m", "immediate", "stop").Run()
	os.RemoveAll(s.dir)
	s.releasePort()
}

// startProcessServer runs a server as a child that the kernel stops when the test process ends,
// however it ends.
func startProcessServer() (*Server, error) {
	s, err := NewServer()
	if err != nil {
		return nil, err
	}
	cmd := s.command("postgres", append([]string{"-D", s.data()}, s.postgresFlags()...)...)
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	// SIGQUIT is PostgreSQL's immediate shutdown.
	cmd.SysProcAttr.Pdeathsig = syscall.SIGQUIT
	log, err := os.Create(filepath.Join(s.dir, "log"))
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		conn, err := pgx.Connect(ctx, s.DSN("postgres"))
		cancel()
		if err == nil {
			conn.Close(context.Background())
			return s, nil
		}
		if time.Now().After(deadline) {
			data, _ := os.ReadFile(filepath.Join(s.dir, "log"))
			return nil, fmt.Errorf("postgres did not start: %v\n%s", err, data)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
