package proxmox

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestSettingsValidate(t *testing.T) {
	token := Auth{TokenID: "root@pam!ctl", TokenSecret: "00000000-1111-2222-3333-444444444444"}
	cases := []struct {
		name string
		s    Settings
		want string // substring of the error, "" for valid
	}{
		{"token", Settings{Endpoint: "https://pve:8006/api2/json", Auth: token}, ""},
		{"login", Settings{Endpoint: "https://pve:8006", Auth: Auth{Username: "root@pam", Password: "pw"}}, ""},
		{"no auth", Settings{Endpoint: "https://pve:8006"}, "no API token"},
		{"both", Settings{Endpoint: "https://pve:8006", Auth: Auth{TokenID: "root@pam!ctl", TokenSecret: "x", Username: "root@pam", Password: "pw"}}, "not both"},
		{"token id form", Settings{Endpoint: "https://pve:8006", Auth: Auth{TokenID: "ctl", TokenSecret: "x"}}, "user@realm!name"},
		{"missing secret", Settings{Endpoint: "https://pve:8006", Auth: Auth{TokenID: "root@pam!ctl"}}, "both tokenID and secret"},
		{"missing password", Settings{Endpoint: "https://pve:8006", Auth: Auth{Username: "root@pam"}}, "both username and password"},
		{"scheme", Settings{Endpoint: "ftp://pve", Auth: token}, "scheme"},
		{"no host", Settings{Endpoint: "https:///api2/json", Auth: token}, "no host"},
		{"ca and insecure", Settings{Endpoint: "https://pve:8006", Auth: token, TLS: TLSSettings{CAPEM: []byte("x"), InsecureSkipVerify: true}}, "exclude"},
	}
	for _, c := range cases {
		err := c.s.validate()
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: %v", c.name, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%s: got %v, want %q", c.name, err, c.want)
		}
		if err != nil && strings.Contains(err.Error(), token.TokenSecret) {
			t.Errorf("%s: error shows the secret", c.name)
		}
	}
	u, err := Settings{Endpoint: "https://pve:8006/"}.baseURL()
	if err != nil || u.String() != "https://pve:8006/api2/json" {
		t.Errorf("default path: %v %v", u, err)
	}
}

func TestTLSConfig(t *testing.T) {
	if _, err := (TLSSettings{CAPEM: []byte("not a certificate")}).tlsConfig(); err == nil {
		t.Error("a bundle without certificates accepted")
	}
	cfg, err := TLSSettings{}.tlsConfig()
	if err != nil || cfg.RootCAs != nil || cfg.InsecureSkipVerify {
		t.Error("zero value must use the system roots")
	}
	cfg, _ = TLSSettings{InsecureSkipVerify: true}.tlsConfig()
	if !cfg.InsecureSkipVerify {
		t.Error("insecureSkipVerify ignored")
	}
	tr, err := newTransport(Settings{}.withDefaults())
	if err != nil {
		t.Fatal(err)
	}
	if tr.TLSNextProto == nil || tr.ForceAttemptHTTP2 || tr.Protocols.HTTP2() || !tr.Protocols.HTTP1() {
		t.Error("transport may negotiate HTTP/2")
	}
}

func TestFingerprint(t *testing.T) {
	base := Settings{Endpoint: "https://pve:8006/api2/json", Auth: Auth{TokenID: "root@pam!ctl", TokenSecret: "s1"}}
	fp := base.fingerprint()
	if strings.Contains(fp, "s1") {
		t.Error("fingerprint shows the secret")
	}
	same := base
	same.RequestTimeout = DefaultRequestTimeout // defaults do not change identity
	if same.fingerprint() != fp {
		t.Error("explicit defaults changed the fingerprint")
	}
	for name, mut := range map[string]func(*Settings){
		"secret":   func(s *Settings) { s.Auth.TokenSecret = "s2" },
		"endpoint": func(s *Settings) { s.Endpoint = "https://pve2:8006/api2/json" },
		"ca":       func(s *Settings) { s.TLS.CAPEM = []byte("pem") },
		"insecure": func(s *Settings) { s.TLS.InsecureSkipVerify = true },
		"timeout":  func(s *Settings) { s.RequestTimeout = time.Second },
		"retry":    func(s *Settings) { s.Retry.Attempts = 1 },
	} {
		s := base
		mut(&s)
		if s.fingerprint() == fp {
			t.Errorf("changing %s keeps the fingerprint", name)
		}
	}
}

func TestFactoryCaches(t *testing.T) {
	f := NewFactory()
	s := Settings{Endpoint: "https://127.0.0.1:8006/api2/json", Auth: Auth{TokenID: "root@pam!ctl", TokenSecret: "s1"}}
	a, err := f.ClientFor("lab", s)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := f.ClientFor("lab", s)
	if a != b {
		t.Error("same settings built a new client")
	}
	s.Auth.TokenSecret = "s2"
	c, _ := f.ClientFor("lab", s)
	if c == a {
		t.Error("changed secret reused the old client")
	}
	other, _ := f.ClientFor("other", s)
	if other == c {
		t.Error("two clusters share a client")
	}
	f.Forget("lab")
	d, _ := f.ClientFor("lab", s)
	if d == c {
		t.Error("Forget kept the client")
	}
	if _, err := f.ClientFor("bad", Settings{Endpoint: "https://pve"}); err == nil {
		t.Error("invalid settings built a client")
	}
}

func TestBackoff(t *testing.T) {
	p := RetryPolicy{InitialBackoff: 100 * time.Millisecond, MaxBackoff: 300 * time.Millisecond}
	for i := 0; i < 50; i++ {
		for n, step := range map[int]time.Duration{1: 100 * time.Millisecond, 2: 200 * time.Millisecond, 3: 300 * time.Millisecond, 6: 300 * time.Millisecond} {
			d := p.Backoff(n)
			if d < step/2 || d > step {
				t.Fatalf("Backoff(%d) = %s, want within [%s, %s]", n, d, step/2, step)
			}
		}
	}
	def := RetryPolicy{}.withDefaults()
	if def.Attempts != DefaultRetryAttempts || def.MaxElapsed != DefaultRetryMaxElapsed {
		t.Errorf("defaults: %+v", def)
	}
}

func TestCreateParams(t *testing.T) {
	swap := 0
	p, err := createParams(CreateSpec{
		VMID: 105, OSTemplate: "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst", Hostname: "web-1",
		Description: "lxctm-owner: default/web uid=1", Tags: []string{"lxctm", "web"}, Cores: 2, MemoryMiB: 1024,
		SwapMiB: &swap, Storage: "local-lvm", RootFSGiB: 8, Features: Features{Nesting: true},
		Nets:        []NetConfig{{Name: "eth0", Bridge: "vmbr0", IP: "dhcp"}},
		Nameservers: []string{"169.254.0.1"}, Password: "secret1", SSHPublicKeys: []string{"ssh-ed25519 AAAA a", "ssh-ed25519 BBBB b"},
		Start: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"vmid": 105, "ostemplate": "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst", "hostname": "web-1",
		"description": "lxctm-owner: default/web uid=1", "tags": "lxctm;web", "cores": 2, "memory": 1024, "swap": 0,
		"rootfs": "local-lvm:8", "features": "nesting=1", "net0": "name=eth0,bridge=vmbr0,ip=dhcp",
		"nameserver": "169.254.0.1", "password": "secret1", "ssh-public-keys": "ssh-ed25519 AAAA a\nssh-ed25519 BBBB b",
		"start": 1, "unprivileged": 1,
	}
	for k, v := range want {
		if p[k] != v {
			t.Errorf("%s = %v, want %v", k, p[k], v)
		}
	}
	if len(p) != len(want) {
		t.Errorf("extra parameters: %v", p)
	}
	for name, s := range map[string]CreateSpec{
		"vmid":     {VMID: 99, OSTemplate: "x"},
		"template": {VMID: 100},
		"tag":      {VMID: 100, OSTemplate: "x", Tags: []string{"a b"}},
		"size":     {VMID: 100, OSTemplate: "x", RootFSGiB: 4},
		"password": {VMID: 100, OSTemplate: "x", Password: "abc"},
	} {
		if _, err := createParams(s); err == nil {
			t.Errorf("%s: invalid spec accepted", name)
		}
	}
	spec := CreateSpec{VMID: 100, Password: "hunter22"}
	if strings.Contains(spec.String(), "hunter22") || strings.Contains(spec.GoString(), "hunter22") {
		t.Error("spec prints its password")
	}
}

func TestUpdateParams(t *testing.T) {
	host, mem, on := "web-2", 2048, false
	p, err := updateParams(ConfigUpdate{
		Hostname: &host, MemoryMiB: &mem, OnBoot: &on, Tags: []string{}, Features: &Features{Nesting: true},
		Nets: map[int]NetConfig{1: {Name: "eth1", Bridge: "vmbr1", IP: "169.254.3.4/16"}}, Delete: []string{"net2"}, Digest: "abc",
	})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"hostname": "web-2", "memory": 2048, "onboot": 0, "features": "nesting=1",
		"net1": "name=eth1,bridge=vmbr1,ip=169.254.3.4/16", "delete": "tags,net2", "digest": "abc"}
	for k, v := range want {
		if p[k] != v {
			t.Errorf("%s = %v, want %v", k, p[k], v)
		}
	}
	if len(p) != len(want) {
		t.Errorf("extra parameters: %v", p)
	}
	if p, _ := updateParams(ConfigUpdate{Digest: "abc"}); len(p) != 0 {
		t.Errorf("empty update has parameters %v", p)
	}
	if _, err := updateParams(ConfigUpdate{Hostname: &host, Delete: []string{"hostname"}}); err == nil {
		t.Error("set and delete of one key accepted")
	}
}

var _ http.RoundTripper = (*instrumentedTransport)(nil)

// TestAuthRoot: only a password login as root@pam is root to Proxmox's root-only checks.
func TestAuthRoot(t *testing.T) {
	for _, c := range []struct {
		auth Auth
		want bool
	}{
		{Auth{Username: "root@pam", Password: "p"}, true},
		{Auth{Username: "root", Password: "p"}, true},
		{Auth{TokenID: "root@pam!lxctm", TokenSecret: "s"}, false},
		{Auth{Username: "admin@pve", Password: "p"}, false},
		{Auth{Username: "root@pve", Password: "p"}, false},
		{Auth{Username: "root@pam"}, false},
	} {
		if got := c.auth.Root(); got != c.want {
			t.Errorf("%+v.Root() = %v, want %v", c.auth, got, c.want)
		}
	}
}
