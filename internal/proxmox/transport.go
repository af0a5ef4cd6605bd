package proxmox

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptrace"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// exchange records what the transport saw of the requests made for one attempt of a call.
// go-proxmox turns 401 and 403 into one error, ignores the body of 500s and decodes any other
// status as success; the recorded status, reason phrase and body message let the caller
// classify the failure properly.
type exchange struct {
	mu      sync.Mutex
	status  int
	reason  string
	message string
	params  map[string]string
	// wrote is set once the request was written completely to the connection: from then on
	// Proxmox may act on it even if no answer arrives.
	wrote bool
}

type exchangeKey struct{}

func withExchange(ctx context.Context, ex *exchange) context.Context {
	return context.WithValue(ctx, exchangeKey{}, ex)
}

func exchangeFrom(ctx context.Context) *exchange {
	ex, _ := ctx.Value(exchangeKey{}).(*exchange)
	return ex
}

func (ex *exchange) begin() {
	ex.mu.Lock()
	defer ex.mu.Unlock()
	ex.status, ex.reason, ex.message, ex.params, ex.wrote = 0, "", "", nil, false
}

func (ex *exchange) markWritten() {
	ex.mu.Lock()
	defer ex.mu.Unlock()
	ex.wrote = true
}

func (ex *exchange) snapshot() (status int, reason, message string, params map[string]string, wrote bool) {
	ex.mu.Lock()
	defer ex.mu.Unlock()
	return ex.status, ex.reason, ex.message, ex.params, ex.wrote
}

// maxErrorBody bounds how much of an error response is read for its message.
const maxErrorBody = 64 << 10

// instrumentedTransport counts and times every HTTP request (so every attempt of a retried
// call, and go-proxmox's own ticket logins) and records the exchange for classification.
type instrumentedTransport struct {
	base     http.RoundTripper
	basePath string
	metrics  *Metrics
	// logins counts successful ticket logins, so a call refused during a concurrent login can
	// tell that a fresh session exists and try once more.
	logins atomic.Int64
}

func (t *instrumentedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ex := exchangeFrom(req.Context())
	if ex != nil {
		ex.begin()
		trace := &httptrace.ClientTrace{
			WroteRequest: func(info httptrace.WroteRequestInfo) {
				if info.Err == nil {
					ex.markWritten()
				}
			},
		}
		req = req.WithContext(httptrace.WithClientTrace(req.Context(), trace))
	}

	endpoint := endpointPattern(req.URL.Path, t.basePath)
	start := time.Now()
	res, err := t.base.RoundTrip(req)
	elapsed := time.Since(start)

	code := ""
	if err != nil {
		code = transportCode(req.Context(), err)
	} else {
		code = strconv.Itoa(res.StatusCode)
		if res.StatusCode >= 400 {
			readErrorBody(res, ex)
		} else if ex != nil {
			ex.mu.Lock()
			ex.status = res.StatusCode
			ex.mu.Unlock()
		}
		if res.StatusCode == http.StatusOK && endpoint == "/access/ticket" {
			t.logins.Add(1)
		}
	}
	t.metrics.observe(endpoint, req.Method, code, elapsed)
	return res, err
}

// transportCode is the metric code label for a request that got no response.
func transportCode(ctx context.Context, err error) string {
	if ctx.Err() == context.DeadlineExceeded {
		return "timeout"
	}
	if ctx.Err() != nil {
		return ErrCanceled.label()
	}
	if k := classifyTransport(err); k != "" {
		return k.label()
	}
	return "error"
}

// readErrorBody records status, reason phrase and the JSON body's message and parameter errors
// of an error response, leaving the body readable for go-proxmox.
func readErrorBody(res *http.Response, ex *exchange) {
	body, _ := io.ReadAll(io.LimitReader(res.Body, maxErrorBody))
	res.Body = struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(body), res.Body), res.Body}
	if ex == nil {
		return
	}
	var envelope struct {
		Message string                     `json:"message"`
		Errors  map[string]json.RawMessage `json:"errors"`
	}
	_ = json.Unmarshal(body, &envelope)
	var params map[string]string
	if len(envelope.Errors) > 0 {
		params = make(map[string]string, len(envelope.Errors))
		for k, v := range envelope.Errors {
			var s string
			if json.Unmarshal(v, &s) != nil {
				s = string(v)
			}
			params[k] = strings.TrimSpace(s)
		}
	}
	ex.mu.Lock()
	defer ex.mu.Unlock()
	ex.status = res.StatusCode
	ex.reason = strings.TrimSpace(strings.TrimPrefix(res.Status, strconv.Itoa(res.StatusCode)))
	ex.message = strings.TrimSpace(envelope.Message)
	ex.params = params
}

// endpointPattern turns a request path into a label with placeholders for ids, so metrics
// stay bounded: /nodes/pve/lxc/101/status/start → /nodes/{node}/lxc/{vmid}/status/start.
func endpointPattern(path, basePath string) string {
	p := strings.TrimPrefix(path, basePath)
	if i := strings.Index(p, "/api2/json"); i >= 0 && basePath == "" {
		p = p[i+len("/api2/json"):]
	}
	segs := strings.Split(strings.Trim(p, "/"), "/")
	if len(segs) == 1 && segs[0] == "" {
		return "/"
	}
	out := make([]string, len(segs))
	for i, s := range segs {
		out[i] = s
		if i == 0 {
			continue
		}
		prev := segs[i-1]
		switch {
		case prev == "nodes" && i == 1:
			out[i] = "{node}"
		case prev == "lxc" || prev == "qemu":
			out[i] = "{vmid}"
		case prev == "tasks" && i > 1:
			out[i] = "{upid}"
		case prev == "storage" && i > 1:
			out[i] = "{storage}"
		case prev == "content" && i > 1:
			out[i] = "{volume}"
		case prev == "snapshot":
			out[i] = "{snapname}"
		case isNumber(s):
			out[i] = "{id}"
		}
	}
	return "/" + strings.Join(out, "/")
}

func isNumber(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}
