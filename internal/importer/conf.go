package importer

import (
	"bytes"
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"
)

// assignment is one KEY=VALUE line of template.conf or config.env.
type assignment struct {
	Key   string
	Value string
	Line  int
}

// line is one meaningful line of a file: not blank, not a comment.
type line struct {
	Text string
	Line int
}

var assignmentKeyRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// textLines splits a text file into its lines without line endings. A line that is not UTF-8
// is reported and blanked: guessing its encoding would change the input. clean is false when
// that happened.
func textLines(r reporter, data []byte) (lines []string, clean bool) {
	data = bytes.TrimPrefix(data, []byte("\uFEFF"))
	text := strings.TrimSuffix(string(data), "\n")
	if text == "" {
		return nil, true
	}
	lines = strings.Split(text, "\n")
	clean = true
	for i, l := range lines {
		l = strings.TrimSuffix(l, "\r")
		lines[i] = l
		switch {
		case !utf8.ValidString(l):
			r.add(i+1, "line is not valid UTF-8")
		case strings.IndexByte(l, 0) >= 0:
			r.add(i+1, "line contains a NUL byte")
		default:
			continue
		}
		lines[i] = ""
		clean = false
	}
	return lines, clean
}

// meaningful returns the lines that are neither blank nor comments (first non-blank character
// #), trimmed of surrounding blanks.
func meaningful(lines []string) []line {
	var out []line
	for i, l := range lines {
		t := strings.TrimSpace(l)
		if t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		out = append(out, line{Text: t, Line: i + 1})
	}
	return out
}

// parseAssignments reads KEY=VALUE lines. Blanks around the key and the value are ignored;
// a value may be wrapped in double quotes (with the escapes \\ \" \n \t) or single quotes
// (literal). Comments are whole lines only, so an unquoted value is taken to the end of its
// line, # included.
// clean is false when a line was not text.
func parseAssignments(r reporter, data []byte) (out []assignment, clean bool) {
	lines, clean := textLines(r, data)
	for _, l := range meaningful(lines) {
		key, raw, found := strings.Cut(l.Text, "=")
		key = strings.TrimSpace(key)
		if !found {
			r.add(l.Line, "expected KEY=VALUE, got %q", l.Text)
			continue
		}
		if !assignmentKeyRE.MatchString(key) {
			r.add(l.Line, "%q is not a valid key (letters, digits and _, not starting with a digit)", key)
			continue
		}
		value, err := unquote(strings.TrimSpace(raw))
		if err != nil {
			r.add(l.Line, "%s: %v", key, err)
			continue
		}
		out = append(out, assignment{Key: key, Value: value, Line: l.Line})
	}
	return out, clean
}

// unquote returns a value with its quotes removed. Only a value that starts with a quote is
// quoted; it must then end with the matching quote.
func unquote(raw string) (string, error) {
	if raw == "" {
		return "", nil
	}
	switch raw[0] {
	case '"':
		v, rest, err := readDoubleQuoted(raw[1:])
		if err != nil {
			return "", err
		}
		if rest != "" {
			return "", fmt.Errorf("unexpected text %q after the closing quote", rest)
		}
		return v, nil
	case '\'':
		v, rest, ok := strings.Cut(raw[1:], "'")
		if !ok {
			return "", fmt.Errorf("unterminated single quote")
		}
		if rest != "" {
			return "", fmt.Errorf("unexpected text %q after the closing quote", rest)
		}
		return v, nil
	}
	return raw, nil
}

// readDoubleQuoted reads up to the closing double quote of s (which follows the opening one)
// and returns the value and what follows the closing quote.
func readDoubleQuoted(s string) (value, rest string, err error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '"':
			return b.String(), s[i+1:], nil
		case '\\':
			if i+1 == len(s) {
				return "", "", fmt.Errorf("unterminated double quote")
			}
			i++
			switch s[i] {
			case '\\', '"':
				b.WriteByte(s[i])
			case 'n':
				b.WriteByte('\n')
			case 't':
				b.WriteByte('\t')
			default:
				return "", "", fmt.Errorf("unknown escape \\%c in double quotes (known: \\\\ \\\" \\n \\t)", s[i])
			}
		default:
			b.WriteByte(c)
		}
	}
	return "", "", fmt.Errorf("unterminated double quote")
}

// splitFields splits a line of files.conf or scripts.conf into blank-separated fields. A field
// may be quoted in whole or in part, as in a shell: "a b" and 'a b' are one field.
func splitFields(s string) ([]string, error) {
	var (
		fields []string
		b      strings.Builder
		in     bool // inside a field
	)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ' || c == '\t':
			if in {
				fields = append(fields, b.String())
				b.Reset()
				in = false
			}
		case c == '"':
			v, rest, err := readDoubleQuoted(s[i+1:])
			if err != nil {
				return nil, err
			}
			b.WriteString(v)
			in = true
			i = len(s) - len(rest) - 1
		case c == '\'':
			v, _, ok := strings.Cut(s[i+1:], "'")
			if !ok {
				return nil, fmt.Errorf("unterminated single quote")
			}
			b.WriteString(v)
			in = true
			i += len(v) + 1
		default:
			b.WriteByte(c)
			in = true
		}
	}
	if in {
		fields = append(fields, b.String())
	}
	return fields, nil
}

// splitList splits a semicolon-separated value into its trimmed items. Empty items, from a
// trailing or doubled semicolon, carry nothing and are skipped.
func splitList(value string) []string {
	var out []string
	for item := range strings.SplitSeq(value, ";") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}
