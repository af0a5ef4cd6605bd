// Package redistest gives tests a redis-server of their own (Debian's redis-server package) on a
// reserved loopback port, which keeps its port across a kill and a start.
package redistest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"templatemanager.dev/lxc-template-manager/internal/testkit"
)

// Server is a redis-server of the test's own.
type Server struct {
	t        *testing.T
	bin      string
	dir      string
	port     int
	password string
	cmd      *exec.Cmd
	exited   chan struct{}
}

// Start starts a redis-server that is killed when the test ends; password, when set, is
// required of clients.
func Start(t *testing.T, password string) *Server {
	t.Helper()
	testkit.SkipUnlessFull(t, "redis-server (the Debian package redis-server)")
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatalf("the live progress feed's tests need redis-server: install the Debian package redis-server (make deps): %v", err)
	}
	s := &Server{t: t, bin: bin, dir: t.TempDir(), port: testkit.ReservePort(t), password: password}
	t.Cleanup(s.Kill)
	s.Start()
	return s
}

// Start runs the server (again) and waits until it answers.
func (s *Server) Start() {
	s.t.Helper()
	args := []string{"--port", strconv.Itoa(s.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", s.dir}
	if s.password != "" {
		args = append(args, "--requirepass", s.password)
	}
	logPath := filepath.Join(s.dir, "redis.log")
	log, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		s.t.Fatal(err)
	}
	defer log.Close()
	cmd := exec.Command(s.bin, args...)
	cmd.Stdout, cmd.Stderr = log, log
	// Gone with the test process, however it ends.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("starting redis-server: %v", err)
	}
	s.cmd, s.exited = cmd, make(chan struct{})
	go func(done chan struct{}) { _ = cmd.Wait(); close(done) }(s.exited)

	rdb := redis.NewClient(s.Options())
	defer rdb.Close()
	testkit.Eventually(s.t, 30*time.Second, func() error {
		select {
		case <-s.exited:
			out, _ := os.ReadFile(logPath)
			return testkit.Permanent(fmt.Errorf("redis-server exited: %s\n%s", cmd.ProcessState, out))
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		return rdb.Ping(ctx).Err()
	})
}

// Kill stops the server at once, as a crash would.
func (s *Server) Kill() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	<-s.exited
	s.cmd = nil
}

// Addr is the server's host:port.
func (s *Server) Addr() string { return fmt.Sprintf("127.0.0.1:%d", s.port) }

// URL is the server's URL, with its password.
func (s *Server) URL() string {
	return fmt.Sprintf("redis://:%s@127.0.0.1:%d/0", s.password, s.port)
}

// Options are a client's options for the server.
func (s *Server) Options() *redis.Options {
	opts, err := redis.ParseURL(s.URL())
	if err != nil {
		s.t.Fatal(err)
	}
	return opts
}

// Client is a client of the server, closed when the test ends.
func (s *Server) Client() *redis.Client {
	rdb := redis.NewClient(s.Options())
	s.t.Cleanup(func() { _ = rdb.Close() })
	return rdb
}
