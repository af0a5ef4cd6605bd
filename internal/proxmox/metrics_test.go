package proxmox

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestMetricsRegistration(t *testing.T) {
	reg := prometheus.NewRegistry()
	a, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	// A second set on the same registry (another factory, a restarted manager component)
	// shares the registered collectors instead of failing.
	b, err := NewMetrics(reg)
	if err != nil {
		t.Fatalf("second registration: %v", err)
	}
	a.observe("/version", "GET", "200", 10*time.Millisecond)
	b.observe("/version", "GET", "200", 20*time.Millisecond)
	b.retried("get version", ErrServer)
	if got := testutil.ToFloat64(a.requests.WithLabelValues("/version", "GET", "200")); got != 2 {
		t.Errorf("shared counter = %v, want 2", got)
	}
	want := `
# HELP lxctm_proxmox_retries_total Proxmox API calls tried again after a retryable failure, by operation and error kind.
# TYPE lxctm_proxmox_retries_total counter
lxctm_proxmox_retries_total{kind="server_error",operation="get version"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "lxctm_proxmox_retries_total"); err != nil {
		t.Error(err)
	}
	if n, err := testutil.GatherAndCount(reg, "lxctm_proxmox_requests_total", "lxctm_proxmox_request_duration_seconds"); err != nil || n != 2 {
		t.Errorf("gathered %d series, %v", n, err)
	}
	var nilMetrics *Metrics
	nilMetrics.observe("/version", "GET", "200", time.Millisecond) // clients without metrics
}

func TestTaskCallsRejectMalformedUPID(t *testing.T) {
	c, err := New(Settings{Endpoint: "https://127.0.0.1:1/api2/json", Auth: Auth{TokenID: "root@pam!ctl", TokenSecret: "s"}})
	if err != nil {
		t.Fatal(err)
	}
	// A seven-field UPID (no trailing colon) makes go-proxmox's NewTask panic; here it is a
	// bad request that never leaves the process.
	_, err = c.TaskStatus(context.Background(), "UPID:node1:0031B740:0645340C:23E5BA99:vzstart:101:root")
	if !errors.Is(err, ErrBadRequest) {
		t.Errorf("status: %v", err)
	}
	if _, err := c.TaskLogTail(context.Background(), "garbage", 10); !errors.Is(err, ErrBadRequest) {
		t.Errorf("log: %v", err)
	}
}
