package redact

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"strings"
	"testing"
)

func TestStringReplacesEveryValue(t *testing.T) {
	r := &Redactor{}
	r.Add("s3cr3t-token", "abc", "")
	r.AddData(map[string][]byte{"password": []byte("hunter2!"), "flag": []byte("on")})
	in := "token=s3cr3t-token pw=hunter2! again s3cr3t-token; flag=on abc"
	got := r.String(in)
	want := "token=[redacted] pw=[redacted] again [redacted]; flag=on abc"
	if got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
}

func TestLongestValueWins(t *testing.T) {
	r := &Redactor{}
	r.Add("pass", "password-1234")
	if got := r.String("x password-1234 y pass"); got != "x [redacted] y [redacted]" {
		t.Errorf("got %q", got)
	}
}

func TestMultiLineValuesAreRedactedLineByLine(t *testing.T) {
	key := "-----BEGIN KEY-----\nAAAAline1\r\nBBBBline2\n-----END KEY-----\n"
	r := &Redactor{}
	r.Add(key)
	tail := "BBBBline2\n-----END KEY-----\nexit 1"
	if got := r.String(tail); strings.Contains(got, "BBBBline2") || !strings.Contains(got, "exit 1") {
		t.Errorf("got %q", got)
	}
	if got := r.String("value: " + key); strings.Contains(got, "AAAAline1") {
		t.Errorf("got %q", got)
	}
}

func TestLoadersRunOnceOnFirstUse(t *testing.T) {
	r := &Redactor{}
	calls := 0
	r.AddLoader(func() ([]string, error) { calls++; return []string{"late-value"}, nil })
	r.AddLoader(func() ([]string, error) { return nil, errors.New("secret unreadable") })
	if calls != 0 {
		t.Fatal("loader ran before any redaction")
	}
	for range 3 {
		if got := r.String("a late-value b"); got != "a [redacted] b" {
			t.Errorf("got %q", got)
		}
	}
	if calls != 1 {
		t.Errorf("loader ran %d times", calls)
	}
	if r.Err() == nil {
		t.Error("a failed loader is not reported")
	}
}

func TestErrorKeepsTheChain(t *testing.T) {
	r := &Redactor{}
	r.Add("topsecret")
	err := r.Error(fmt.Errorf("script said topsecret: %w", fs.ErrNotExist))
	if err.Error() != "script said [redacted]: file does not exist" {
		t.Errorf("got %q", err)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		t.Error("errors.Is lost the wrapped error")
	}
	plain := errors.New("nothing to hide")
	if r.Error(plain) != plain || r.Error(nil) != nil {
		t.Error("an error without values should be returned as is")
	}
	var nilRedactor *Redactor
	if nilRedactor.String("topsecret") != "topsecret" {
		t.Error("a nil Redactor changes text")
	}
}

func FuzzString(f *testing.F) {
	f.Add("password-1", "the password-1 is password-1")
	f.Add("a\nbcde\n", "bcde")
	f.Add("abc", "abc")
	f.Fuzz(func(t *testing.T, value, text string) {
		r := &Redactor{}
		r.Add(value)
		got := r.String(text)
		for _, v := range r.values {
			if strings.Contains(got, v) && !strings.Contains(Placeholder, v) {
				// A value may reappear only where the placeholder and the text around it spell it.
				if !strings.Contains(strings.ReplaceAll(got, Placeholder, "\x00"), v) {
					continue
				}
				t.Fatalf("value %q left in %q (from %q)", v, got, text)
			}
		}
	})
}

// TestEncodedFormsAreRedacted: the forms a script commonly prints a value in are replaced too.
func TestEncodedFormsAreRedacted(t *testing.T) {
	const value = `p@ss w0rd/+"x'&=?`
	r := &Redactor{}
	r.Add(value)
	json, _ := jsonString(value)
	out := strings.Join([]string{
		"plain " + value,
		"base64 " + base64.StdEncoding.EncodeToString([]byte(value)),
		"echo|base64 " + base64.StdEncoding.EncodeToString([]byte(value+"\n")),
		"base64url " + base64.RawURLEncoding.EncodeToString([]byte(value)),
		"query " + url.QueryEscape(value),
		"path " + url.PathEscape(value),
		// jq @uri, curl --data-urlencode, Python's quote(v, safe="") and its default safe="/".
		"uri p%40ss%20w0rd%2F%2B%22x%27%26%3D%3F",
		"python-quote p%40ss%20w0rd/%2B%22x%27%26%3D%3F",
		"lower-hex p%40ss%20w0rd%2f%2b%22x%27%26%3d%3f",
		"json {\"password\":\"" + json + "\"}",
		`printf-q p@ss\ w0rd/+\"x\'\&=\?`,
	}, "\n")
	got := r.String(out)
	for _, line := range strings.Split(got, "\n") {
		if !strings.HasSuffix(line, Placeholder) && !strings.Contains(line, Placeholder+"\"}") {
			t.Errorf("not redacted: %q", line)
		}
	}
}

func jsonString(s string) (string, error) {
	b, err := json.Marshal(s)
	return string(b[1 : len(b)-1]), err
}
