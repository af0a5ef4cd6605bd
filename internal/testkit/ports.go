package testkit

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Listen opens a TCP listener on a free loopback port, closed when the test ends. Hand the
// listener itself to the server under test; its address is l.Addr().
func Listen(t testing.TB) net.Listener {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("testkit: listen: %v", err)
	}
	t.Cleanup(func() { _ = l.Close() })
	return l
}

// ReservePort returns a loopback TCP port for a process that must be told its port up front,
// reserved for the test until it ends: no Listen, no outgoing connection and no other
// reservation of this repository's tests takes it meanwhile (see the package documentation).
// Nothing listens on it when it is returned, so it also serves as an address where nothing
// answers.
func ReservePort(t testing.TB) int {
	t.Helper()
	port, release, err := ReserveProcessPort()
	if err != nil {
		t.Fatalf("testkit: %v", err)
	}
	t.Cleanup(release)
	return port
}

// ReserveProcessPort is ReservePort for what outlives one test (a server a package's tests
// share): the port stays reserved until release is called or the process ends.
func ReserveProcessPort() (port int, release func(), err error) {
	lo, hi, err := reservableRange()
	if err != nil {
		return 0, nil, err
	}
	dir := filepath.Join(os.TempDir(), "lxctm-ports")
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return 0, nil, fmt.Errorf("port locks: %w", err)
	}
	// Test processes of other users share the locks.
	_ = os.Chmod(dir, 0o777|os.ModeSticky)
	n := hi - lo + 1
	start := rand.IntN(n)
	for i := range n {
		port := lo + (start+i)%n
		f, err := os.OpenFile(filepath.Join(dir, strconv.Itoa(port)+".lock"), os.O_CREATE|os.O_RDONLY, 0o444)
		if err != nil {
			return 0, nil, fmt.Errorf("port lock: %w", err)
		}
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
			f.Close() // another test holds it
			continue
		}
		if !unused(port) {
			f.Close()
			continue
		}
		var once sync.Once
		return port, func() { once.Do(func() { f.Close() }) }, nil
	}
	return 0, nil, fmt.Errorf("no free port in %d-%d", lo, hi)
}

// unused reports whether nothing listens on the loopback port.
func unused(port int) bool {
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return false
	}
	_ = l.Close()
	return true
}

// reservableRange is the range ReservePort takes ports from: up to 8192 ports just below the
// kernel's ephemeral range, or else above it.
func reservableRange() (lo, hi int, err error) {
	ephemeralLo, ephemeralHi := 32768, 60999 // Linux's default
	if data, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		f := strings.Fields(string(data))
		if len(f) == 2 {
			a, errA := strconv.Atoi(f[0])
			b, errB := strconv.Atoi(f[1])
			if errA == nil && errB == nil {
				ephemeralLo, ephemeralHi = a, b
			}
		}
	}
	switch {
	case ephemeralLo-1 >= 10000+1024:
		return max(10000, ephemeralLo-8192), ephemeralLo - 1, nil
	case 65535-ephemeralHi >= 1024:
		return ephemeralHi + 1, min(65535, ephemeralHi+8192), nil
	}
	return 0, 0, fmt.Errorf("the ephemeral port range %d-%d leaves no range of 1024 ports to reserve from "+
		"(sysctl net.ipv4.ip_local_port_range)", ephemeralLo, ephemeralHi)
}

// ReportedAddress waits until the text read returns matches re and returns re's first group:
// how a child process started on port 0 says which address it got (pvesim logs
// `url=https://ADDRESS/api2/json`). It fails the test when no match comes within timeout, or
// when read fails with a Permanent error (say, because the process exited).
func ReportedAddress(t testing.TB, timeout time.Duration, re *regexp.Regexp, read func() ([]byte, error)) string {
	t.Helper()
	var addr string
	Eventually(t, timeout, func() error {
		text, err := read()
		if err != nil {
			return err
		}
		m := re.FindSubmatch(text)
		if m == nil || len(m) < 2 {
			return fmt.Errorf("no address matching %s reported yet", re)
		}
		addr = string(m[1])
		return nil
	})
	return addr
}

// ReadFile returns a read function for ReportedAddress over a file a process writes; a file that
// does not exist yet reads as empty.
func ReadFile(path string) func() ([]byte, error) {
	return func() ([]byte, error) {
		data, err := os.ReadFile(path)
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		return data, err
	}
}
