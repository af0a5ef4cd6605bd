package proxmox

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Settings say how to reach and authenticate to one Proxmox VE cluster.
type Settings struct {
	// Endpoint is the API base URL, e.g. "https://pve.example:8006/api2/json". A URL without a
	// path gets "/api2/json".
	Endpoint string
	Auth     Auth
	TLS      TLSSettings
	// RequestTimeout bounds each HTTP attempt; 0 means DefaultRequestTimeout.
	RequestTimeout time.Duration
	// DialTimeout bounds connecting (TCP and TLS handshake each); 0 means DefaultDialTimeout.
	DialTimeout time.Duration
	// Retry tunes retries of transient failures; zero fields take the defaults.
	Retry RetryPolicy
}

// Auth is either an API token (preferred) or a user name and password for ticket login.
type Auth struct {
	// TokenID is "user@realm!tokenname".
	TokenID     string
	TokenSecret string
	// Username is "user@realm"; a name without realm is taken as "@pam".
	Username string
	Password string
}

// Root says the credentials sign in as root@pam with a password. Proxmox checks some settings
// against the user name itself (check_ct_modify_config_perm in pve-container): an API token,
// even one of root@pam, is "root@pam!name" there, and is refused them.
func (a Auth) Root() bool {
	return a.TokenID == "" && a.Password != "" && (a.Username == "root@pam" || a.Username == "root")
}

// TLSSettings choose how the server's certificate is verified. The zero value uses the
// system's roots.
type TLSSettings struct {
	// CAPEM is a PEM bundle of the CAs to trust instead of the system roots.
	CAPEM []byte
	// InsecureSkipVerify turns verification off. For labs only.
	InsecureSkipVerify bool
}

// Defaults sized for use inside a reconcile: a few quick attempts, well under a minute in all.
const (
	DefaultRequestTimeout = 15 * time.Second
	DefaultDialTimeout    = 5 * time.Second
)

func (s Settings) withDefaults() Settings {
	if s.RequestTimeout <= 0 {
		s.RequestTimeout = DefaultRequestTimeout
	}
	if s.DialTimeout <= 0 {
		s.DialTimeout = DefaultDialTimeout
	}
	s.Retry = s.Retry.withDefaults()
	return s
}

// baseURL checks the endpoint and returns it without a trailing slash.
func (s Settings) baseURL() (*url.URL, error) {
	u, err := url.Parse(strings.TrimSpace(s.Endpoint))
	if err != nil {
		return nil, fmt.Errorf("endpoint %q: %w", s.Endpoint, err)
	}
	if u.Scheme != "https" && u.Scheme != "http" {
		return nil, fmt.Errorf("endpoint %q: scheme must be https", s.Endpoint)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("endpoint %q: no host", s.Endpoint)
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("endpoint %q: must not carry user info, query or fragment", u.Redacted())
	}
	u.Path = strings.TrimRight(u.Path, "/")
	if u.Path == "" {
		u.Path = "/api2/json"
	}
	return u, nil
}

func (s Settings) validate() error {
	if _, err := s.baseURL(); err != nil {
		return err
	}
	a := s.Auth
	token := a.TokenID != "" || a.TokenSecret != ""
	login := a.Username != "" || a.Password != ""
	switch {
	case token && login:
		return errors.New("credentials: give either an API token or a username and password, not both")
	case token:
		if a.TokenID == "" || a.TokenSecret == "" {
			return errors.New("credentials: an API token needs both tokenID and secret")
		}
		user, name, ok := strings.Cut(a.TokenID, "!")
		if !ok || !strings.Contains(user, "@") || name == "" {
			return fmt.Errorf("credentials: tokenID %q is not of the form user@realm!name", a.TokenID)
		}
	case login:
		if a.Username == "" || a.Password == "" {
			return errors.New("credentials: a login needs both username and password")
		}
	default:
		return errors.New("credentials: no API token and no username")
	}
	if len(s.TLS.CAPEM) > 0 && s.TLS.InsecureSkipVerify {
		return errors.New("tls: a CA bundle and insecureSkipVerify exclude each other")
	}
	return nil
}

// tlsConfig builds the client TLS configuration.
func (t TLSSettings) tlsConfig() (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if t.InsecureSkipVerify {
		cfg.InsecureSkipVerify = true //nolint:gosec // explicitly requested by the cluster's spec
		return cfg, nil
	}
	if len(t.CAPEM) > 0 {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(t.CAPEM) {
			return nil, errors.New("tls: the CA bundle holds no PEM certificate")
		}
		cfg.RootCAs = pool
	}
	return cfg, nil
}

// newTransport builds the HTTP transport for one cluster. It speaks HTTP/1.1 only: pveproxy
// carries error messages in the HTTP/1.1 reason phrase, which HTTP/2 has no room for.
func newTransport(s Settings) (*http.Transport, error) {
	tlsCfg, err := s.TLS.tlsConfig()
	if err != nil {
		return nil, err
	}
	dialer := &net.Dialer{Timeout: s.DialTimeout, KeepAlive: 30 * time.Second}
	var protocols http.Protocols
	protocols.SetHTTP1(true)
	return &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           dialer.DialContext,
		TLSClientConfig:       tlsCfg,
		TLSHandshakeTimeout:   s.DialTimeout,
		ForceAttemptHTTP2:     false,
		TLSNextProto:          map[string]func(string, *tls.Conn) http.RoundTripper{},
		Protocols:             &protocols,
		MaxIdleConns:          32,
		MaxIdleConnsPerHost:   8,
		IdleConnTimeout:       90 * time.Second,
		ExpectContinueTimeout: time.Second,
	}, nil
}

// fingerprint identifies settings without keeping secrets in the clear: a client built from
// settings with the same fingerprint can be reused.
func (s Settings) fingerprint() string {
	s = s.withDefaults()
	h := sha256.New()
	field := func(v string) {
		fmt.Fprintf(h, "%d:%s;", len(v), v)
	}
	field(strings.TrimSpace(s.Endpoint))
	field(s.Auth.TokenID)
	field(s.Auth.TokenSecret)
	field(s.Auth.Username)
	field(s.Auth.Password)
	field(string(s.TLS.CAPEM))
	field(fmt.Sprint(s.TLS.InsecureSkipVerify))
	field(s.RequestTimeout.String())
	field(s.DialTimeout.String())
	field(fmt.Sprintf("%+v", s.Retry))
	return hex.EncodeToString(h.Sum(nil))
}
