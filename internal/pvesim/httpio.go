package pvesim

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// apiError is an error answer: code, message (its first line goes into the status line) and,
// for parameter errors, the per-parameter messages.
type apiError struct {
	Code    int
	Message string
	Errors  map[string]string
}

func (e *apiError) Error() string { return e.Message }

// pveError is a 500 with PVE's text, the common way a PVE API call dies.
func pveError(format string, a ...any) *apiError {
	return &apiError{Code: http.StatusInternalServerError, Message: fmt.Sprintf(format, a...)}
}

// paramError is PVE's 400 "Parameter verification failed." naming each bad parameter.
func paramError(errs map[string]string) *apiError {
	return &apiError{Code: http.StatusBadRequest, Message: "Parameter verification failed.", Errors: errs}
}

func paramErrorf(param, format string, a ...any) *apiError {
	return paramError(map[string]string{param: fmt.Sprintf(format, a...)})
}

func permissionError(what string) *apiError {
	msg := "Permission check failed"
	if what != "" {
		msg += " (" + what + ")"
	}
	return &apiError{Code: http.StatusForbidden, Message: msg}
}

// envelope carries extra top-level keys next to data, such as total of a task log.
type envelope struct {
	Data  any `json:"data"`
	Total int `json:"total,omitempty"`
}

func commonHeaders(h http.Header) {
	now := time.Now().UTC().Format(http.TimeFormat)
	h.Set("Cache-Control", "max-age=0")
	h.Set("Pragma", "no-cache")
	h.Set("Expires", now)
	h.Set("Server", "pve-api-daemon/3.0")
}

// writeBody answers 200 with an encoded {"data": …} envelope.
func writeBody(w http.ResponseWriter, body []byte) {
	commonHeaders(w.Header())
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.Header().Set("Content-Length", fmt.Sprint(len(body)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// writeError writes the status line by hand, because net/http cannot carry PVE's message as the
// reason phrase, and closes the connection as pveproxy does after every error.
func writeError(w http.ResponseWriter, r *http.Request, e *apiError) {
	reason := firstLine(e.Message)
	code := e.Code
	var body []byte
	switch {
	case code == http.StatusUnauthorized:
		// pveproxy answers failed authentication without a body.
	default:
		msg := e.Message
		if !strings.HasSuffix(msg, "\n") {
			msg += "\n"
		}
		payload := map[string]any{"data": nil, "message": msg}
		if len(e.Errors) > 0 {
			payload["errors"] = e.Errors
		}
		body, _ = json.Marshal(payload)
	}
	if strings.ContainsAny(reason, "\r") {
		code, reason, body = http.StatusBadRequest, http.StatusText(http.StatusBadRequest), nil
	}
	if r != nil && r.Body != nil {
		// Read what the client still sends, so it sees our answer rather than a reset.
		_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, 1<<20))
	}
	hj, ok := w.(http.Hijacker)
	if !ok {
		// Not a raw HTTP/1.1 connection (e.g. a recorder in unit tests): best effort.
		commonHeaders(w.Header())
		w.Header().Set("Content-Type", "application/json;charset=UTF-8")
		w.Header().Set("Connection", "close")
		w.WriteHeader(code)
		_, _ = w.Write(body)
		return
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		return
	}
	defer conn.Close()
	h := http.Header{}
	commonHeaders(h)
	h.Set("Date", time.Now().UTC().Format(http.TimeFormat))
	h.Set("Connection", "close")
	h.Set("Content-Length", fmt.Sprint(len(body)))
	if len(body) > 0 {
		h.Set("Content-Type", "application/json;charset=UTF-8")
	}
	bw := bufio.NewWriter(conn)
	fmt.Fprintf(bw, "HTTP/1.1 %03d %s\r\n", code, reason)
	_ = h.Write(bw)
	bw.WriteString("\r\n")
	bw.Write(body)
	_ = bw.Flush()
}

// dropConnection closes the connection without an answer, as a crashed proxy would.
func dropConnection(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			conn.Close()
			return
		}
	}
	panic(http.ErrAbortHandler)
}
