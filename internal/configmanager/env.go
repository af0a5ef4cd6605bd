package configmanager

import (
	"bytes"
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"
)

// EnvVar is one KEY=VALUE pair of config.env.
type EnvVar struct {
	Name  string
	Value string
}

// maxEnvValue keeps one value well below what a shell or systemd would choke on.
const maxEnvValue = 128 << 10

var envNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,252}$`)

// ValidateEnvName accepts shell variable names.
func ValidateEnvName(name string) error {
	if !envNameRE.MatchString(name) {
		return fmt.Errorf("env name %q is not a shell variable name (letters, digits and _, not starting with a digit)", name)
	}
	return nil
}

// validateEnvValue rejects what neither a shell nor systemd's EnvironmentFile can carry. The
// error never quotes the value: it may be a secret.
func validateEnvValue(name, value string) error {
	switch {
	case len(value) > maxEnvValue:
		return fmt.Errorf("env %s: value is longer than %d bytes", name, maxEnvValue)
	case strings.IndexByte(value, 0) >= 0:
		return fmt.Errorf("env %s: value contains a NUL byte", name)
	case !utf8.ValidString(value):
		// systemd ignores lines that are not UTF-8.
		return fmt.Errorf("env %s: value is not valid UTF-8", name)
	}
	return nil
}

// MergeEnv returns the variables of each list in order, a later definition of a name replacing
// the value of an earlier one in place — template first, then the container's config.
func MergeEnv(lists ...[]EnvVar) []EnvVar {
	var out []EnvVar
	index := map[string]int{}
	for _, list := range lists {
		for _, v := range list {
			if i, ok := index[v.Name]; ok {
				out[i].Value = v.Value
				continue
			}
			index[v.Name] = len(out)
			out = append(out, v)
		}
	}
	return out
}

// RenderEnv renders config.env. Every value is double-quoted with \, ", $ and ` escaped, which
// both a shell (`set -a; . config.env`) and systemd's EnvironmentFile= read back as exactly the
// original value, newlines included. Duplicate names are merged as MergeEnv does.
func RenderEnv(vars []EnvVar) ([]byte, error) {
	vars = MergeEnv(vars)
	var b bytes.Buffer
	b.WriteString("# Rendered by LXC Template Manager; local changes are overwritten.\n")
	for _, v := range vars {
		if err := ValidateEnvName(v.Name); err != nil {
			return nil, err
		}
		if err := validateEnvValue(v.Name, v.Value); err != nil {
			return nil, err
		}
		b.WriteString(v.Name)
		b.WriteString(`="`)
		for i := 0; i < len(v.Value); i++ {
			switch c := v.Value[i]; c {
			case '\\', '"', '$', '`':
				b.WriteByte('\\')
				b.WriteByte(c)
			default:
				b.WriteByte(c)
			}
		}
		b.WriteString("\"\n")
	}
	return b.Bytes(), nil
}
