package proxmox

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"syscall"
	"testing"
)

func TestClassifyStatus(t *testing.T) {
	cases := []struct {
		code   int
		msg    string
		params map[string]string
		want   Kind
	}{
		{500, "Configuration file 'nodes/pve/lxc/101.conf' does not exist", nil, ErrNotFound},
		{500, "CT 100 already exists on node 'pve1'", nil, ErrAlreadyExists},
		{500, "unable to create CT 100 - CT 100 already exists on node 'pve'", nil, ErrAlreadyExists},
		{500, "CT 100 already running", nil, ErrAlreadyRunning},
		{500, "unable to destroy CT 100 - container is running", nil, ErrAlreadyRunning},
		{500, "CT 100 not running", nil, ErrNotRunning},
		{500, "CT is locked (create)", nil, ErrLocked},
		{500, "can't lock file '/run/lock/lxc/pve-config-100.lock' - got timeout", nil, ErrLocked},
		{500, "detected modified configuration - file changed by other user? Try again.", nil, ErrConflict},
		{500, "can't remove CT 100 - protection mode enabled", nil, ErrConflict},
		{500, "hostname lookup 'pve9' failed - failed to get address info for: pve9: Name or service not known", nil, ErrNotFound},
		{500, "unable to get any free VMID in range [100, 1000000]", nil, ErrServer},
		{500, "", nil, ErrServer},
		{502, "Bad Gateway", nil, ErrServer},
		{503, "Service Unavailable", nil, ErrServer},
		{429, "Too Many Requests", nil, ErrServer},
		{501, "Method 'GET /foo' not implemented", nil, ErrBadRequest},
		{400, "Parameter verification failed.", map[string]string{"memory": "value must have a minimum value of 16"}, ErrBadRequest},
		{400, "Parameter verification failed.", map[string]string{"vmid": "VM 200 already exists"}, ErrAlreadyExists},
		{400, "Parameter verification failed.", map[string]string{"upid": "no such task"}, ErrNotFound},
		{401, "Authentication failed!", nil, ErrAuthentication},
		{403, "Permission check failed (changing feature flags (except nesting) is only allowed for root@pam)", nil, ErrPermission},
		{404, "Not Found", nil, ErrNotFound},
	}
	for _, c := range cases {
		if got := classifyStatus(c.code, c.msg, c.params); got != c.want {
			t.Errorf("%d %q %v: got %q, want %q", c.code, c.msg, c.params, got, c.want)
		}
	}
}

func TestClassifyTransport(t *testing.T) {
	cases := []struct {
		name string
		err  error
		want Kind
	}{
		{"unknown authority", &url.Error{Op: "Get", URL: "https://127.0.0.1:1/", Err: x509.UnknownAuthorityError{}}, ErrTLS},
		{"hostname mismatch", &url.Error{Op: "Get", Err: x509.HostnameError{Host: "pve"}}, ErrTLS},
		{"refused", &url.Error{Op: "Get", Err: &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}}, ErrUnreachable},
		{"dns", &url.Error{Op: "Get", Err: &net.DNSError{Err: "no such host", Name: "pve.invalid", IsNotFound: true}}, ErrUnreachable},
		{"eof", &url.Error{Op: "Post", Err: io.EOF}, ErrUnreachable},
		{"reset", &url.Error{Op: "Post", Err: fmt.Errorf("read: %w", syscall.ECONNRESET)}, ErrUnreachable},
		{"deadline", &url.Error{Op: "Get", Err: context.DeadlineExceeded}, ErrUnreachable},
		{"json", errors.New("invalid character '<' looking for beginning of value"), ""},
	}
	for _, c := range cases {
		if got := classifyTransport(c.err); got != c.want {
			t.Errorf("%s: got %q, want %q", c.name, got, c.want)
		}
	}
}

func TestErrorMatching(t *testing.T) {
	err := fmt.Errorf("reconcile: %w", &Error{Kind: ErrLocked, Op: "start container pve/101", StatusCode: 500, Message: "CT is locked (create)"})
	if !errors.Is(err, ErrLocked) || errors.Is(err, ErrNotFound) {
		t.Error("errors.Is does not follow Kind")
	}
	var pe *Error
	if !errors.As(err, &pe) || pe.StatusCode != 500 {
		t.Error("errors.As does not find *Error")
	}
	if KindOf(err) != ErrLocked || !IsRetryable(err) {
		t.Errorf("KindOf = %q, retryable = %v", KindOf(err), IsRetryable(err))
	}
	if got := err.Error(); got != "reconcile: start container pve/101: locked: CT is locked (create)" {
		t.Errorf("message = %q", got)
	}

	for _, k := range []Kind{ErrNotFound, ErrAlreadyExists, ErrAuthentication, ErrPermission, ErrTLS, ErrBadRequest, ErrConflict} {
		if IsRetryable(&Error{Kind: k}) {
			t.Errorf("%s is retryable", k)
		}
	}
	for _, k := range []Kind{ErrServer, ErrLocked, ErrUnreachable} {
		if !IsRetryable(&Error{Kind: k}) {
			t.Errorf("%s is not retryable", k)
		}
	}
	nxdomain := &Error{Kind: ErrUnreachable, Err: &net.DNSError{Name: "pve.invalid", IsNotFound: true}}
	if IsRetryable(nxdomain) {
		t.Error("a name that does not resolve is retryable")
	}
	if IsRetryable(errors.New("other")) || KindOf(nil) != "" {
		t.Error("foreign errors classified")
	}

	unknown := &Error{Kind: ErrUnreachable, Op: "create container pve/100", Message: "EOF", OutcomeUnknown: true}
	if !IsOutcomeUnknown(unknown) || IsOutcomeUnknown(&Error{Kind: ErrUnreachable}) {
		t.Error("IsOutcomeUnknown")
	}
}

func TestTaskStatusErr(t *testing.T) {
	running := TaskStatus{Running: true}
	if running.Err() != nil || running.Done() || running.Succeeded() {
		t.Error("running task")
	}
	ok := TaskStatus{ExitStatus: "OK"}
	if ok.Err() != nil || !ok.Succeeded() {
		t.Error("OK task")
	}
	warn := TaskStatus{UPID: "UPID:pve:00000001:00000002:00000003:vzstart:100:root@pam:", Type: "vzstart", ExitStatus: "WARNINGS: 1"}
	if !warn.Succeeded() || warn.Err() != nil || warn.Warnings() != 1 {
		t.Error("WARNINGS: 1 is not a success with one warning, as Proxmox VE counts it")
	}
	for _, status := range []string{"WARNINGS: x", "WARNINGS:", "unable to start: WARNINGS: 1"} {
		if bad := (TaskStatus{ExitStatus: status}); bad.Succeeded() || bad.Err() == nil {
			t.Errorf("exit status %q counted as success", status)
		}
	}
	locked := TaskStatus{ExitStatus: "CT is locked (create)"}
	err := locked.Err()
	var te *TaskError
	if !errors.As(err, &te) || te.ExitStatus != "CT is locked (create)" || !errors.Is(err, ErrLocked) || !IsRetryable(err) {
		t.Errorf("locked task error: %v", err)
	}
	failed := TaskStatus{ExitStatus: "unable to create CT 100 - something failed"}
	if IsRetryable(failed.Err()) || KindOf(failed.Err()) != ErrTaskFailed {
		t.Errorf("failed task: kind %q", KindOf(failed.Err()))
	}
}

func TestEndpointPattern(t *testing.T) {
	cases := map[string]string{
		"/api2/json/version":                         "/version",
		"/api2/json/nodes":                           "/nodes",
		"/api2/json/nodes/pve1/lxc":                  "/nodes/{node}/lxc",
		"/api2/json/nodes/pve1/lxc/101/status/start": "/nodes/{node}/lxc/{vmid}/status/start",
		"/api2/json/nodes/pve1/lxc/101":              "/nodes/{node}/lxc/{vmid}",
		"/api2/json/nodes/pve/tasks/UPID:pve:1:2:3:vzstart:101:root@pam!ctl:/status": "/nodes/{node}/tasks/{upid}/status",
		"/api2/json/nodes/pve/storage":                      "/nodes/{node}/storage",
		"/api2/json/nodes/pve/storage/local/content":        "/nodes/{node}/storage/{storage}/content",
		"/api2/json/nodes/pve/lxc/101/snapshot/pre-upgrade": "/nodes/{node}/lxc/{vmid}/snapshot/{snapname}",
		"/api2/json/cluster/nextid":                         "/cluster/nextid",
		"/api2/json/cluster/tasks":                          "/cluster/tasks",
		"/api2/json/access/ticket":                          "/access/ticket",
		"/api2/json/":                                       "/",
	}
	for in, want := range cases {
		if got := endpointPattern(in, "/api2/json"); got != want {
			t.Errorf("%s: got %s, want %s", in, got, want)
		}
	}
	if got := endpointPattern("/proxy/api2/json/nodes/pve/lxc/7", ""); got != "/nodes/{node}/lxc/{vmid}" {
		t.Errorf("without base path: %s", got)
	}
}
