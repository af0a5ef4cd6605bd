package auth

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func sealer(t *testing.T) *Sealer {
	t.Helper()
	key, err := NewKey()
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSealer(key, true)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// The cookie holds the token sealed; another key cannot open it; the header wins over it.
func TestCookieAndHeader(t *testing.T) {
	s := sealer(t)
	rec := httptest.NewRecorder()
	if err := s.SetCookie(rec, "tok-123"); err != nil {
		t.Fatal(err)
	}
	cookie := rec.Result().Cookies()[0]
	if strings.Contains(cookie.Value, "tok-123") || !cookie.HttpOnly || !cookie.Secure || cookie.SameSite != http.SameSiteStrictMode || cookie.Path != "/" {
		t.Fatalf("cookie %+v", cookie)
	}
	r := httptest.NewRequest("GET", "/", nil)
	r.AddCookie(cookie)
	if sess := s.FromRequest(r); sess.Token != "tok-123" || sess.Source != Cookie {
		t.Fatalf("from cookie: %+v", sess)
	}
	if sess := sealer(t).FromRequest(r); sess.Token != "" {
		t.Fatal("another key opened the cookie")
	}
	r.Header.Set("Authorization", "Bearer proxy-tok")
	if sess := s.FromRequest(r); sess.Token != "proxy-tok" || sess.Source != Header {
		t.Fatalf("header: %+v", sess)
	}
}

// Cookie sessions need the CSRF field of their own token; header sessions need none.
func TestCSRF(t *testing.T) {
	s := sealer(t)
	a, b := Session{Token: "a", Source: Cookie}, Session{Token: "b", Source: Cookie}
	if !s.CheckCSRF(a, s.CSRF(a)) || s.CheckCSRF(a, s.CSRF(b)) || s.CheckCSRF(a, "") {
		t.Fatal("CSRF check of a cookie session")
	}
	if !s.CheckCSRF(Session{Token: "h", Source: Header}, "") {
		t.Fatal("a header session was asked for a CSRF field")
	}
	if strings.Contains(TokenHash("secret-token"), "secret") {
		t.Fatal("TokenHash reveals the token")
	}
}
