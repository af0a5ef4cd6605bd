// Package auth carries the signed-in user's bearer token between requests: an
// Authorization header from an authenticating proxy, or a cookie holding the token sealed
// with AES-GCM. The console has no login of its own; the API server decides who a token is.
package auth

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// CookieName is the session cookie: the user's token, sealed.
const CookieName = "lxctm_console"

// KeySize is the length of the cookie key in bytes.
const KeySize = 32

// Source says where a request's token came from.
type Source int

const (
	// None: the request carries no token.
	None Source = iota
	// Header: Authorization: Bearer, as an authenticating proxy sends it.
	Header
	// Cookie: the console's own session cookie.
	Cookie
)

// Session is a request's token and where it came from.
type Session struct {
	Token  string
	Source Source
}

// Sealer seals tokens into cookies and signs CSRF fields with one key.
type Sealer struct {
	aead    cipher.AEAD
	csrfKey []byte
	// Secure marks cookies Secure (HTTPS only).
	Secure bool
}

// NewSealer builds a Sealer from a 32-byte key.
func NewSealer(key []byte, secure bool) (*Sealer, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("cookie key: %d bytes, want %d", len(key), KeySize)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	// A key of its own for CSRF, derived so that a CSRF field never says anything about the cookie key.
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte("lxctm-console csrf"))
	return &Sealer{aead: aead, csrfKey: mac.Sum(nil), Secure: secure}, nil
}

// NewKey returns a random cookie key.
func NewKey() ([]byte, error) {
	key := make([]byte, KeySize)
	_, err := rand.Read(key)
	return key, err
}

// Seal encrypts a token for the session cookie.
func (s *Sealer) Seal(token string) (string, error) {
	nonce := make([]byte, s.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	sealed := s.aead.Seal(nonce, nonce, []byte(token), []byte(CookieName))
	return base64.RawURLEncoding.EncodeToString(sealed), nil
}

// Open decrypts a session cookie's value.
func (s *Sealer) Open(value string) (string, error) {
	raw, err := base64.RawURLEncoding.DecodeString(value)
	if err != nil {
		return "", errors.New("session cookie is not base64")
	}
	n := s.aead.NonceSize()
	if len(raw) < n {
		return "", errors.New("session cookie too short")
	}
	plain, err := s.aead.Open(nil, raw[:n], raw[n:], []byte(CookieName))
	if err != nil {
		return "", errors.New("session cookie does not open with this key")
	}
	return string(plain), nil
}

// FromRequest finds the request's token: the Authorization header wins over the cookie.
func (s *Sealer) FromRequest(r *http.Request) Session {
	if h := r.Header.Get("Authorization"); h != "" {
		if tok, ok := strings.CutPrefix(h, "Bearer "); ok && strings.TrimSpace(tok) != "" {
			return Session{Token: strings.TrimSpace(tok), Source: Header}
		}
	}
	if c, err := r.Cookie(CookieName); err == nil && c.Value != "" {
		if tok, err := s.Open(c.Value); err == nil && tok != "" {
			return Session{Token: tok, Source: Cookie}
		}
	}
	return Session{}
}

// SetCookie starts a cookie session for token.
func (s *Sealer) SetCookie(w http.ResponseWriter, token string) error {
	v, err := s.Seal(token)
	if err != nil {
		return err
	}
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: v, Path: "/", HttpOnly: true,
		Secure: s.Secure, SameSite: http.SameSiteStrictMode})
	return nil
}

// ClearCookie ends the cookie session.
func (s *Sealer) ClearCookie(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: "", Path: "/", MaxAge: -1, HttpOnly: true,
		Secure: s.Secure, SameSite: http.SameSiteStrictMode})
}

// CSRF is the hidden form field of a session: an HMAC of its token.
func (s *Sealer) CSRF(sess Session) string {
	if sess.Token == "" {
		return ""
	}
	mac := hmac.New(sha256.New, s.csrfKey)
	mac.Write([]byte(sess.Token))
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// CheckCSRF says whether a POST may proceed: cookie sessions must send their CSRF field; a
// token in the Authorization header is not sent by a browser on its own, so it needs none.
func (s *Sealer) CheckCSRF(sess Session, field string) bool {
	if sess.Source != Cookie {
		return true
	}
	return hmac.Equal([]byte(field), []byte(s.CSRF(sess)))
}

// TokenHash names a token in caches and logs without revealing it.
func TokenHash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return base64.RawURLEncoding.EncodeToString(sum[:12])
}

// flashCookie carries the outcome of an action across the redirect that follows it.
const flashCookie = "lxctm_flash"

// SetFlash keeps kind (ok or error) and message for the next page; sealed so that no other
// site can plant a message on the console's pages.
func (s *Sealer) SetFlash(w http.ResponseWriter, kind, message string) {
	nonce := make([]byte, s.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return
	}
	sealed := s.aead.Seal(nonce, nonce, []byte(kind+"\n"+message), []byte(flashCookie))
	http.SetCookie(w, &http.Cookie{Name: flashCookie, Value: base64.RawURLEncoding.EncodeToString(sealed), Path: "/",
		MaxAge: 60, HttpOnly: true, Secure: s.Secure, SameSite: http.SameSiteStrictMode})
}

// TakeFlash returns the flash set by the last action and clears it.
func (s *Sealer) TakeFlash(w http.ResponseWriter, r *http.Request) (kind, message string, ok bool) {
	c, err := r.Cookie(flashCookie)
	if err != nil || c.Value == "" {
		return "", "", false
	}
	http.SetCookie(w, &http.Cookie{Name: flashCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true,
		Secure: s.Secure, SameSite: http.SameSiteStrictMode})
	raw, err := base64.RawURLEncoding.DecodeString(c.Value)
	n := s.aead.NonceSize()
	if err != nil || len(raw) < n {
		return "", "", false
	}
	plain, err := s.aead.Open(nil, raw[:n], raw[n:], []byte(flashCookie))
	if err != nil {
		return "", "", false
	}
	kind, message, _ = strings.Cut(string(plain), "\n")
	return kind, message, true
}
