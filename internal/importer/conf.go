package importer

import (
	"fmt"
	"regexp"
	"strings"
)

// templateConf is the file that makes a directory a template.
const templateConf = "template.conf"

// assignment is one VARIABLE=value line of template.conf.
type assignment struct {
	value string
	line  int
}

var assignmentRE = regexp.MustCompile(`^([A-Za-z_][A-Za-z0-9_]*)=(.*)$`)

// parseTemplateConf reads template.conf as bash would source it, for the one thing the store
// writes there: assignments of quoted or bare words, ${VAR:-default} defaults and trailing
// comments. A default is taken as written (the importer does not see the environment a store's
// creation script ran in), which is how the original dashboard reads it. Anything else bash
// would run — commands, command substitutions, redirections — cannot be carried over and is a
// problem.
func parseTemplateConf(lines []string, r reporter) map[string]assignment {
	vars := map[string]assignment{}
	for i, raw := range lines {
		n := i + 1
		line := strings.TrimSpace(raw)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		m := assignmentRE.FindStringSubmatch(line)
		if m == nil {
			r.add(n, "not a VARIABLE=value assignment; template.conf may hold only assignments, comments and blank lines")
			continue
		}
		key := m[1]
		value, err := shellWord(m[2], vars)
		if err != nil {
			r.add(n, "%s: %v", key, err)
			continue
		}
		if prev, dup := vars[key]; dup {
			r.add(n, "%s is already set on line %d", key, prev.line)
			continue
		}
		vars[key] = assignment{value: value, line: n}
	}
	return vars
}

// shellWord evaluates the right-hand side of a bash assignment: one word made of bare, '…' and
// "…" parts, followed by nothing or a # comment.
func shellWord(s string, vars map[string]assignment) (string, error) {
	var b strings.Builder
	i := 0
	for i < len(s) {
		c := s[i]
		switch {
		case c == ' ' || c == '\t':
			rest := strings.TrimLeft(s[i:], " \t")
			if rest != "" && rest[0] != '#' {
				return "", fmt.Errorf("%q follows the value; quote a value with blanks", rest)
			}
			return b.String(), nil
		case c == '\'':
			end := strings.IndexByte(s[i+1:], '\'')
			if end < 0 {
				return "", fmt.Errorf("unterminated '")
			}
			b.WriteString(s[i+1 : i+1+end])
			i += end + 2
		case c == '"':
			j := i + 1
			for {
				if j >= len(s) {
					return "", fmt.Errorf("unterminated \"")
				}
				d := s[j]
				if d == '"' {
					break
				}
				switch d {
				case '\\':
					if j+1 < len(s) && strings.IndexByte("$`\"\\", s[j+1]) >= 0 {
						b.WriteByte(s[j+1])
						j += 2
						continue
					}
					b.WriteByte(d)
					j++
				case '$':
					v, k, err := expansion(s[j:], vars)
					if err != nil {
						return "", err
					}
					b.WriteString(v)
					j += k
				case '`':
					return "", fmt.Errorf("command substitution cannot be carried over")
				default:
					b.WriteByte(d)
					j++
				}
			}
			i = j + 1
		case c == '\\':
			if i+1 < len(s) {
				b.WriteByte(s[i+1])
			}
			i += 2
		case c == '$':
			v, k, err := expansion(s[i:], vars)
			if err != nil {
				return "", err
			}
			b.WriteString(v)
			i += k
		case strings.IndexByte(";&|<>()`", c) >= 0:
			return "", fmt.Errorf("%q is shell syntax that cannot be carried over", string(c))
		default:
			b.WriteByte(c)
			i++
		}
	}
	return b.String(), nil
}

var expansionRE = regexp.MustCompile(`^\$(\{([A-Za-z_][A-Za-z0-9_]*)((:?-)([^}$"'\\` + "`" + `]*))?\}|([A-Za-z_][A-Za-z0-9_]*))`)

// expansion evaluates the $… at the start of s and returns its value and length. A variable set
// earlier in the file has its value; ${VAR:-default} and ${VAR-default} otherwise give the default.
func expansion(s string, vars map[string]assignment) (string, int, error) {
	m := expansionRE.FindStringSubmatch(s)
	if m == nil {
		if strings.HasPrefix(s, "$(") {
			return "", 0, fmt.Errorf("command substitution cannot be carried over")
		}
		return "", 0, fmt.Errorf("%q is an expansion the importer cannot evaluate; write the value or ${VAR:-default}", firstWord(s))
	}
	name := m[2] + m[6]
	if v, ok := vars[name]; ok && !(m[4] == ":-" && v.value == "") {
		return v.value, len(m[0]), nil
	}
	if m[4] != "" {
		return m[5], len(m[0]), nil
	}
	return "", 0, fmt.Errorf("$%s is not set in template.conf and has no default; the importer does not read the environment", name)
}

func firstWord(s string) string {
	if i := strings.IndexAny(s, " \t\""); i > 0 {
		return s[:i]
	}
	return s
}
