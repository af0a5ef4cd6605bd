package discovery

import (
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
)

// EnvVar is one KEY=VALUE of an env file.
type EnvVar struct {
	Name  string
	Value string
}

// CredentialsFile is one /etc/config-manager/credentials/<service>.env.
type CredentialsFile struct {
	// FileName is the base name, e.g. "postgres.env"; Service is it without ".env".
	FileName string
	Service  string
	// Vars are the valid entries in file order, a repeated name keeping its last value.
	Vars []EnvVar
	// Err joins a *LineError for each line that was not a valid entry; those lines are not in
	// Vars. Nil when every line was understood.
	Err error
}

const (
	// MaxCredentialsFileSize caps one credentials file, well inside a Secret's 1 MiB.
	MaxCredentialsFileSize = 256 << 10
	maxSecretKey           = 253
)

var (
	secretKeyRE       = regexp.MustCompile(`^[-._a-zA-Z0-9]+$`)
	credentialsFileRE = regexp.MustCompile(`^[A-Za-z0-9][-_.A-Za-z0-9]{0,200}\.env$`)
)

// ValidateSecretKey accepts what Kubernetes accepts as a key of a Secret's data: letters,
// digits, '-', '_' and '.', at most 253 characters, not "." or ".." nor starting with "..".
// The error does not quote the key: a malformed line may hold a secret where the key should be.
func ValidateSecretKey(key string) error {
	switch {
	case key == "" || len(key) > maxSecretKey:
		return fmt.Errorf("key must be 1 to %d characters", maxSecretKey)
	case !secretKeyRE.MatchString(key):
		return errors.New("key may only hold letters, digits, '-', '_' and '.'")
	case key == "." || key == ".." || strings.HasPrefix(key, ".."):
		return errors.New("key may not be '.', '..' or start with '..'")
	}
	return nil
}

// ValidateCredentialsFileName accepts "<service>.env" with a service name of letters, digits,
// '-', '_' and '.'.
func ValidateCredentialsFileName(name string) error {
	if !credentialsFileRE.MatchString(name) {
		return fmt.Errorf("credentials file name %q is not <service>.env (letters, digits, '-', '_', '.')", truncate(name))
	}
	return nil
}

// ParseCredentialsFile parses one credentials file (see ParseEnvFile).
func ParseCredentialsFile(fileName string, content []byte) CredentialsFile {
	f := CredentialsFile{FileName: fileName, Service: strings.TrimSuffix(fileName, ".env")}
	if err := ValidateCredentialsFileName(fileName); err != nil {
		f.Err = err
		return f
	}
	if len(content) > MaxCredentialsFileSize {
		f.Err = fmt.Errorf("%s is larger than %d bytes", fileName, MaxCredentialsFileSize)
		return f
	}
	f.Vars, f.Err = ParseEnvFile(fileName, content)
	return f
}

// ParseEnvFile reads an env file as scripts write them: KEY=VALUE lines, blank lines and
// # comments, an optional "export " before the key. A value is either
//   - unquoted: the rest of the line, trimmed, up to a " #" comment, taken literally;
//   - single-quoted: literal up to the closing quote, which may be on a later line;
//   - double-quoted: as a shell reads it — \\ \" \$ \` stand for the character, a backslash
//     before a newline joins the lines, any other backslash stays — without expanding $names.
//
// After a closing quote only blanks and a comment may follow. Keys must be valid Secret data
// keys (ValidateSecretKey). Every line that is not a valid entry is reported in the returned
// error as a *LineError, without its text, and skipped; the valid entries are returned.
func ParseEnvFile(source string, content []byte) ([]EnvVar, error) {
	var (
		vars  []EnvVar
		index = map[string]int{}
		errs  []error
	)
	text := string(content)
	for pos, lineNo := 0, 1; pos < len(text); {
		eol := strings.IndexByte(text[pos:], '\n')
		if eol < 0 {
			eol = len(text)
		} else {
			eol += pos
		}
		start, lineStart, line := lineNo, pos, text[pos:eol]
		// By default the entry is this line; a quoted value moves these further.
		pos, lineNo = eol+1, lineNo+1
		fail := func(err error) { errs = append(errs, &LineError{Source: source, Line: start, Err: err}) }

		line = strings.TrimRight(line, "\r")
		trimmed := strings.TrimLeft(line, " \t")
		if trimmed == "" || strings.HasPrefix(trimmed, "#") {
			continue
		}
		if strings.IndexByte(trimmed, 0) >= 0 {
			fail(errors.New("line contains a NUL byte"))
			continue
		}
		if rest, ok := strings.CutPrefix(trimmed, "export"); ok && rest != "" && (rest[0] == ' ' || rest[0] == '\t') {
			trimmed = strings.TrimLeft(rest, " \t")
		}
		key, raw, ok := strings.Cut(trimmed, "=")
		if !ok {
			fail(errors.New("not KEY=VALUE"))
			continue
		}
		if err := ValidateSecretKey(key); err != nil {
			fail(err)
			continue
		}
		raw = strings.TrimLeft(raw, " \t")
		var value string
		if raw == "" || (raw[0] != '\'' && raw[0] != '"') {
			if i := commentStart(raw); i >= 0 {
				raw = raw[:i]
			}
			value = strings.TrimRight(raw, " \t")
		} else {
			// The quoted text runs from after the quote to its closing quote, across lines.
			from := lineStart + len(line) - len(raw) + 1
			v, end, closed := scanQuoted(text, from, raw[0])
			if !closed {
				fail(errors.New("quoted value is not closed"))
				break
			}
			lineNo = start + strings.Count(text[from:end], "\n") + 1
			tailEnd := strings.IndexByte(text[end+1:], '\n')
			if tailEnd < 0 {
				tailEnd = len(text)
			} else {
				tailEnd += end + 1
			}
			tail := strings.TrimLeft(strings.TrimRight(text[end+1:tailEnd], "\r"), " \t")
			pos = tailEnd + 1
			if strings.IndexByte(text[from:end], 0) >= 0 {
				fail(errors.New("value contains a NUL byte"))
				continue
			}
			if tail != "" && tail[0] != '#' {
				fail(errors.New("text after the closing quote"))
				continue
			}
			value = v
		}
		if i, seen := index[key]; seen {
			vars[i].Value = value
			continue
		}
		index[key] = len(vars)
		vars = append(vars, EnvVar{Name: key, Value: value})
	}
	return vars, errors.Join(errs...)
}

// scanQuoted reads the quoted text of s that starts at from (just after the opening quote) and
// returns it with the index of the closing quote. In double quotes \\ \" \$ \` stand for the
// character, a backslash before a newline joins the lines, and any other backslash stays.
func scanQuoted(s string, from int, quote byte) (string, int, bool) {
	var b strings.Builder
	for i := from; i < len(s); i++ {
		c := s[i]
		switch {
		case c == quote:
			return b.String(), i, true
		case quote == '"' && c == '\\' && i+1 < len(s):
			i++
			switch n := s[i]; n {
			case '\\', '"', '$', '`':
				b.WriteByte(n)
			case '\n':
			default:
				b.WriteByte('\\')
				b.WriteByte(n)
			}
		default:
			b.WriteByte(c)
		}
	}
	return "", len(s), false
}

// commentStart finds a # that begins a comment: at the start or after a blank.
func commentStart(v string) int {
	for i := 0; i < len(v); i++ {
		if v[i] == '#' && (i == 0 || v[i-1] == ' ' || v[i-1] == '\t') {
			return i
		}
	}
	return -1
}

// CredentialsData merges credentials files into the data of one Secret: each valid variable
// becomes a key of its own. Files are taken in name order; a key defined by two files keeps the
// first file's value and the clash is reported (without values).
func CredentialsData(files []CredentialsFile) (map[string][]byte, error) {
	sorted := append([]CredentialsFile(nil), files...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].FileName < sorted[j].FileName })
	data := map[string][]byte{}
	from := map[string]string{}
	var errs []error
	for _, f := range sorted {
		for _, v := range f.Vars {
			if first, dup := from[v.Name]; dup {
				errs = append(errs, fmt.Errorf("credentials key %s is set by both %s and %s; keeping %s", v.Name, first, f.FileName, first))
				continue
			}
			from[v.Name] = f.FileName
			data[v.Name] = []byte(v.Value)
		}
	}
	return data, errors.Join(errs...)
}
