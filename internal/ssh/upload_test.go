package ssh

import (
	"io/fs"
	"os/exec"
	"strings"
	"testing"
)

func TestValidateOwner(t *testing.T) {
	for _, s := range []string{"root", "root:root", "www-data", "www-data:adm", "1000", "1000:1000", "app:1000", "_svc", "user.name", "samba$"} {
		if err := ValidateOwner(s); err != nil {
			t.Errorf("ValidateOwner(%q) = %v", s, err)
		}
	}
	for _, s := range []string{"", ":", "root:", ":root", "-root", "Root", "a b", "a;b", "$(id)", "root:root:root", "a\nb", strings.Repeat("a", 40)} {
		if err := ValidateOwner(s); err == nil {
			t.Errorf("ValidateOwner(%q) accepted", s)
		}
	}
}

func TestValidatePath(t *testing.T) {
	for _, s := range []string{"/etc/config-manager/config.env", "/a", "/with space/and'quote"} {
		if err := ValidatePath(s); err != nil {
			t.Errorf("ValidatePath(%q) = %v", s, err)
		}
	}
	for _, s := range []string{"", "/", "relative", "/a/../b", "/a/", "//a", "/a\nb", "/a\x00b"} {
		if err := ValidatePath(s); err == nil {
			t.Errorf("ValidatePath(%q) accepted", s)
		}
	}
}

func TestNumericOwner(t *testing.T) {
	cases := []struct {
		in       string
		uid, gid int
		ok       bool
	}{
		{"1000:1001", 1000, 1001, true},
		{"0", 0, 0, true},
		{"33", 33, 33, true},
		{"root", 0, 0, false},
		{"1000:adm", 0, 0, false},
		{"", 0, 0, false},
	}
	for _, tc := range cases {
		uid, gid, ok := numericOwner(tc.in)
		if uid != tc.uid || gid != tc.gid || ok != tc.ok {
			t.Errorf("numericOwner(%q) = %d, %d, %v", tc.in, uid, gid, ok)
		}
	}
}

func TestShellQuoteRoundTrip(t *testing.T) {
	for _, s := range []string{"", "plain", "it's", "'", "''", "$(id) `id` \"x\" \\ ;|&", "new\nline"} {
		out, err := exec.Command("/bin/sh", "-c", "printf %s "+ShellQuote(s)).Output()
		if err != nil {
			t.Fatal(err)
		}
		if string(out) != s {
			t.Errorf("quoted %q came back as %q", s, out)
		}
	}
}

func TestTempNameStaysBesideTarget(t *testing.T) {
	a, _ := tempName("/etc/app/config.yml")
	b, _ := tempName("/etc/app/config.yml")
	if a == b || !strings.HasPrefix(a, "/etc/app/.config.yml.lxctm-") {
		t.Fatalf("temp names %q, %q", a, b)
	}
	if err := ValidatePath(a); err != nil {
		t.Fatal(err)
	}
}

func TestFileMode(t *testing.T) {
	cases := []struct{ in, want fs.FileMode }{
		{0, 0o644},
		{0o600, 0o600},
		{0o4755, fs.ModeSetuid | 0o755},
		{fs.ModeSetuid | 0o755, fs.ModeSetuid | 0o755},
		{0o3775, fs.ModeSetgid | fs.ModeSticky | 0o775},
		{fs.ModeDir | 0o700, 0o700},
	}
	for _, tc := range cases {
		if got := fileMode(tc.in); got != tc.want {
			t.Errorf("fileMode(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
}
