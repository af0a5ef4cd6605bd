package mirror

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"testing"
)

// pgServer is a PostgreSQL of a test's own, in a temporary directory on a loopback port, so
// that a test can stop it while the machine's server keeps serving the other tests.
type pgServer struct {
	bin  string
	dir  string
	port int
	// asUser runs the server's tools as the postgres user when the test runs as root, which
	// PostgreSQL refuses.
	asUser []string
}

func startOwnPostgres(t *testing.T) *pgServer {
	t.Helper()
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(bins) == 0 {
		t.Fatal("initdb not found under /usr/lib/postgresql/*/bin: the Debian package postgresql provides it (make deps)")
	}
	s := &pgServer{bin: filepath.Dir(bins[len(bins)-1])}
	dir, err := os.MkdirTemp("", "lxctm-mirror-pg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	s.dir = dir
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Fatalf("running as root needs the postgres user: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
		s.asUser = []string{"runuser", "-u", "postgres", "--"}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.port = l.Addr().(*net.TCPAddr).Port
	l.Close()
	s.run(t, "initdb", "-D", s.data(), "-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8")
	s.start(t)
	t.Cleanup(func() { _ = s.command("pg_ctl", "-D", s.data(), "-m", "immediate", "stop").Run() })
	return s
}

func (s *pgServer) data() string { return filepath.Join(s.dir, "data") }

func (s *pgServer) dsn(db string) string {
	return fmt.Sprintf("host=127.0.0.1 port=%d user=postgres dbname=%s sslmode=disable", s.port, db)
}

func (s *pgServer) command(tool string, args ...string) *exec.Cmd {
	argv := append(append([]string{}, s.asUser...), append([]string{filepath.Join(s.bin, tool)}, args...)...)
	return exec.Command(argv[0], argv[1:]...)
}

func (s *pgServer) run(t *testing.T, tool string, args ...string) {
	t.Helper()
	if out, err := s.command(tool, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %v: %v\n%s", tool, args, err, out)
	}
}

func (s *pgServer) start(t *testing.T) {
	t.Helper()
	s.run(t, "pg_ctl", "-D", s.data(), "-w", "-l", filepath.Join(s.dir, "log"), "-o",
		fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off", s.port, s.dir), "start")
}

func (s *pgServer) stop(t *testing.T) {
	t.Helper()
	s.run(t, "pg_ctl", "-D", s.data(), "-w", "-m", "fast", "stop")
}
