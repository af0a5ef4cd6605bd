package progressfeed

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

// redisServer is a redis-server of the test's own on a reserved loopback port, which stays its
// port across a kill and a start.
type redisServer struct {
	t        *testing.T
	bin      string
	dir      string
	port     int
	password string
	cmd      *exec.Cmd
	exited   chan struct{}
}

// startRedis starts a redis-server (Debian's redis-server package) that is killed when the test
// ends; password, when set, is required of clients.
func startRedis(t *testing.T, password string) *redisServer {
	t.Helper()
	testkit.SkipUnlessFull(t, "redis-server (the Debian package redis-server)")
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatalf("the live progress feed's tests need redis-server: install the Debian package redis-server (make deps): %v", err)
	}
	s := &redisServer{t: t, bin: bin, dir: t.TempDir(), port: testkit.ReservePort(t), password: password}
	t.Cleanup(s.kill)
	s.start()
	return s
}

// start runs the server and waits until it answers.
func (s *redisServer) start() {
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

	rdb := redis.NewClient(s.options())
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

// kill stops the server at once, as a crash would.
func (s *redisServer) kill() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	<-s.exited
	s.cmd = nil
}

// URL is the server's URL, with its password.
func (s *redisServer) URL() string {
	return fmt.Sprintf("redis://:%s@127.0.0.1:%d/0", s.password, s.port)
}

func (s *redisServer) options() *redis.Options {
	opts, err := redis.ParseURL(s.URL())
	if err != nil {
		s.t.Fatal(err)
	}
	return opts
}

// client is a client of the server, closed when the test ends.
func (s *redisServer) client() *redis.Client {
	rdb := redis.NewClient(s.options())
	s.t.Cleanup(func() { _ = rdb.Close() })
	return rdb
}
