// Package redact removes Secret values from text before it is stored or shown: script output
// tails, condition messages, Events and logs.
package redact

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/url"
	"slices"
	"strings"
	"sync"
)

// Placeholder replaces every occurrence of a Secret value.
const Placeholder = "[redacted]"

// MinLength is the shortest value searched for: shorter ones ("1", "yes", "on") would redact
// ordinary words everywhere and hide more than they protect.
const MinLength = 4

// Redactor knows the Secret values one object uses and replaces them in text. Values can be
// added as they are read; Loaders run once, on the first redaction, for values that are only
// needed when there is text to clean. The zero value is ready to use and safe for concurrent use.
type Redactor struct {
	mu      sync.Mutex
	values  []string // longest first, so a value containing another is replaced whole
	loaders []func() ([]string, error)
	loadErr error
}

// Add records values to redact. A multi-line value is also recorded line by line: output is cut
// at line boundaries, so a tail may hold only some of its lines.
func (r *Redactor) Add(values ...string) {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.add(values)
}

// AddData records every value of a Secret's data.
func (r *Redactor) AddData(data map[string][]byte) {
	if r == nil {
		return
	}
	values := make([]string, 0, len(data))
	for _, v := range data {
		values = append(values, string(v))
	}
	r.Add(values...)
}

// AddLoader records a function that supplies further values when text is first redacted.
func (r *Redactor) AddLoader(load func() ([]string, error)) {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.loaders = append(r.loaders, load)
}

func (r *Redactor) add(values []string) {
	changed := false
	for _, v := range values {
		candidates := []string{v, strings.TrimSpace(v)}
		if strings.Contains(v, "\n") {
			candidates = append(candidates, strings.Split(v, "\n")...)
		}
		for _, c := range candidates {
			c = strings.TrimRight(c, "\r")
			if len(c) < MinLength {
				continue
			}
			for _, form := range Encodings(c) {
				if !slices.Contains(r.values, form) {
					r.values = append(r.values, form)
					changed = true
				}
			}
		}
	}
	if changed {
		slices.SortStableFunc(r.values, func(a, b string) int { return len(b) - len(a) })
	}
}

// Encodings lists v and the forms a script or a tool commonly prints it in: base64 (standard
// and URL alphabets, with and without padding, and of v with the newline echo adds), URL query
// and path escaping, percent-encoding of all but the unreserved characters (jq @uri, curl
// --data-urlencode, Python's quote), JSON string escaping, and the shell's backslash quoting
// (bash printf %q).
// A form equal to v, or shorter than MinLength, is left out.
func Encodings(v string) []string {
	forms := []string{v}
	for _, raw := range []string{v, v + "\n"} {
		forms = append(forms,
			base64.StdEncoding.EncodeToString([]byte(raw)), base64.RawStdEncoding.EncodeToString([]byte(raw)),
			base64.URLEncoding.EncodeToString([]byte(raw)), base64.RawURLEncoding.EncodeToString([]byte(raw)))
	}
	forms = append(forms, url.QueryEscape(v), url.PathEscape(v), percentEncode(v, ""), percentEncode(v, "/"),
		strings.ToLower(percentEncode(v, "")), shellBackslashQuote(v))
	if j, err := json.Marshal(v); err == nil {
		forms = append(forms, string(j[1:len(j)-1]))
	}
	out := forms[:1]
	for _, f := range forms[1:] {
		if len(f) >= MinLength && !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	return out
}

// percentEncode escapes every byte of s but RFC 3986's unreserved characters and those in safe,
// as %XX with upper-case hex digits.
func percentEncode(s, safe string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', strings.IndexByte("-._~"+safe, c) >= 0:
			b.WriteByte(c)
		default:
			b.WriteByte('%')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&15])
		}
	}
	return b.String()
}

// shellBackslashQuote quotes s the way bash's printf %q does for printable text: a backslash
// before every character the shell treats specially.
func shellBackslashQuote(s string) string {
	var b strings.Builder
	for i, c := range s {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', strings.ContainsRune("_-./:@%+=~#", c) && !(i == 0 && (c == '~' || c == '#')), c > 127:
		default:
			b.WriteByte('\\')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// load runs the pending loaders. A loader that fails leaves its error for Err; what the others
// supplied is still used.
func (r *Redactor) load() {
	loaders := r.loaders
	r.loaders = nil
	for _, l := range loaders {
		values, err := l()
		if err != nil {
			r.loadErr = errors.Join(r.loadErr, err)
		}
		r.add(values)
	}
}

// Err reports whether a loader failed: then text may hold a value that could not be learnt.
func (r *Redactor) Err() error {
	if r == nil {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.loadErr
}

// String returns s with every known value replaced by Placeholder.
func (r *Redactor) String(s string) string {
	if r == nil || s == "" {
		return s
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.load()
	for _, v := range r.values {
		if strings.Contains(s, v) {
			s = strings.ReplaceAll(s, v, Placeholder)
		}
	}
	return s
}

// Error returns err with its message redacted. errors.Is and errors.As still see the errors it
// wraps, whose own messages are not redacted: callers that print those must redact them too.
func (r *Redactor) Error(err error) error {
	if err == nil || r == nil {
		return err
	}
	msg := err.Error()
	if red := r.String(msg); red != msg {
		return &redactedError{msg: red, err: err}
	}
	return err
}

type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }
