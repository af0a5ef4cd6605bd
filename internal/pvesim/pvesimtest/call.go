package pvesimtest

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// Call sends one API request with the simulator's token, the parameters as a form (or the
// query of a GET or DELETE), as a user or tool outside the controller would; it returns the
// status code and body.
func (s *Simulator) Call(t testing.TB, method, path string, params url.Values) (int, string) {
	t.Helper()
	var body io.Reader
	target := s.URL + path
	if method == http.MethodGet || method == http.MethodDelete {
		if len(params) > 0 {
			target += "?" + params.Encode()
		}
	} else {
		body = strings.NewReader(params.Encode())
	}
	req, err := http.NewRequest(method, target, body)
	if err != nil {
		t.Fatalf("pvesimtest: %s %s: %v", method, path, err)
	}
	req.Header.Set("Authorization", s.Token())
	if body != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	res, err := s.HTTPClient().Do(req)
	if err != nil {
		t.Fatalf("pvesimtest: %s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(data)
}
