package schema

import (
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Errors maps a parameter name to PVE's message for it, as in the `errors` object of a 400.
type Errors map[string]string

func (e Errors) add(path, msg string) {
	if path == "" {
		path = "_root"
	}
	if old, ok := e[path]; ok {
		// JSONSchema.pm joins with a literal backslash-n.
		e[path] = old + `\n` + msg
		return
	}
	e[path] = msg
}

// Validate checks params (JSON-decoded with UseNumber, or strings from a form or query) as
// PVE::JSONSchema::validate does and returns the errors, or nil.
func (m *Method) Validate(params map[string]any) Errors {
	errs := Errors{}
	for name, p := range m.Properties {
		if strings.HasSuffix(name, "[n]") {
			continue
		}
		checkProp(params[name], p, name, errs)
	}
	for name, v := range params {
		if _, fixed := m.Properties[name]; fixed {
			checkRequires(params, name, m.Properties[name], errs)
			continue
		}
		if p := m.Property(name); p != nil {
			checkProp(v, p, name, errs)
			continue
		}
		if !m.Additional {
			errs.add(name, "property is not defined in schema and the schema does not allow additional properties")
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return errs
}

func checkRequires(params map[string]any, name string, p *Property, errs Errors) {
	if p.Requires == "" || params[name] == nil {
		return
	}
	if params[p.Requires] == nil {
		errs.add(p.Requires, fmt.Sprintf("missing property required by '%s'", name))
	}
}

// Scalar renders a parameter value the way Perl sees a scalar; ok is false for arrays,
// objects and booleans (which Perl keeps as references).
func Scalar(v any) (s string, ok bool) {
	switch t := v.(type) {
	case string:
		return t, true
	case json.Number:
		return t.String(), true
	case float64:
		return strconv.FormatFloat(t, 'f', -1, 64), true
	case int:
		return strconv.Itoa(t), true
	case bool:
		if t {
			return "1", false
		}
		return "0", false
	}
	return "", false
}

// perlRef names a reference type as Perl's ref() does, for type-check messages.
func perlRef(v any) string {
	switch v.(type) {
	case bool:
		return "JSON::PP::Boolean"
	case []any, []string:
		return "ARRAY"
	case map[string]any:
		return "HASH"
	}
	return ""
}

func checkProp(v any, p *Property, path string, errs Errors) {
	if v == nil {
		if !p.Optional {
			errs.add(path, "property is missing and it is not optional")
		}
		return
	}
	if !checkType(v, p.Type, path, errs) {
		return
	}
	s, _ := Scalar(v)
	if ref := perlRef(v); ref != "" && ref != "JSON::PP::Boolean" {
		return
	}
	if p.FormatName != "" || p.FormatProps != nil {
		if err := checkFormat(p, s, path); err != "" {
			errs.add(path, "invalid format - "+err)
			return
		}
	}
	if p.Pattern != nil && !p.Pattern.MatchString(s) {
		errs.add(path, "value does not match the regex pattern")
		return
	}
	if p.MaxLength != nil && utf8.RuneCountInString(s) > *p.MaxLength {
		errs.add(path, fmt.Sprintf("value may only be %d characters long", *p.MaxLength))
		return
	}
	if p.MinLength != nil && utf8.RuneCountInString(s) < *p.MinLength {
		errs.add(path, fmt.Sprintf("value must be at least %d characters long", *p.MinLength))
		return
	}
	if isNumber(s) {
		f, _ := strconv.ParseFloat(s, 64)
		if p.Maximum != nil && f > *p.Maximum {
			errs.add(path, "value must have a maximum value of "+formatBound(*p.Maximum))
			return
		}
		if p.Minimum != nil && f < *p.Minimum {
			errs.add(path, "value must have a minimum value of "+formatBound(*p.Minimum))
			return
		}
	}
	if len(p.Enum) > 0 {
		for _, e := range p.Enum {
			if e == s {
				return
			}
		}
		errs.add(path, fmt.Sprintf("value '%s' does not have a value in the enumeration '%s'", s, strings.Join(p.Enum, ", ")))
	}
}

func formatBound(f float64) string {
	return strconv.FormatFloat(f, 'f', -1, 64)
}

var (
	numberRE  = regexp.MustCompile(`^[+-]?(\d+\.\d+|\d+\.|\.\d+|\d+)([eE][+-]?\d+)?$`)
	integerRE = regexp.MustCompile(`^[+-]?\d+$`)
)

func isNumber(s string) bool { return numberRE.MatchString(s) }

func checkType(v any, typ, path string, errs Errors) bool {
	switch typ {
	case "", "any":
		return true
	case "array":
		if _, ok := v.([]any); ok {
			return true
		}
		errs.add(path, "type check ('array') failed")
		return false
	case "object":
		if _, ok := v.(map[string]any); ok {
			return true
		}
		errs.add(path, "type check ('object') failed")
		return false
	}
	if ref := perlRef(v); ref != "" {
		if typ == "boolean" && ref == "JSON::PP::Boolean" {
			return true
		}
		errs.add(path, fmt.Sprintf("type check ('%s') failed - got %s", typ, ref))
		return false
	}
	s, _ := Scalar(v)
	switch typ {
	case "boolean":
		if s == "1" || s == "0" {
			return true
		}
	case "integer":
		if integerRE.MatchString(s) {
			return true
		}
	case "number":
		if isNumber(s) {
			return true
		}
	default:
		return true
	}
	errs.add(path, fmt.Sprintf("type check ('%s') failed - got '%s'", typ, s))
	return false
}

// checkFormat returns the text of PVE's exception (with its trailing newline), or "".
func checkFormat(p *Property, value, path string) string {
	if p.FormatProps != nil {
		_, err := parsePropertyString(p.FormatProps, value, path)
		return err
	}
	name, kind := p.FormatName, ""
	for _, suffix := range []string{"-list", "-opt"} {
		if strings.HasSuffix(name, suffix) {
			if _, ok := formats[strings.TrimSuffix(name, suffix)]; ok {
				name, kind = strings.TrimSuffix(name, suffix), suffix
			}
		}
	}
	verify, ok := formats[name]
	if !ok {
		// Formats pvesim does not know are accepted rather than guessed.
		return ""
	}
	switch kind {
	case "-list":
		for _, item := range SplitList(value) {
			if err := verify(item); err != "" {
				return err
			}
		}
		return ""
	case "-opt":
		if value == "" {
			return ""
		}
	}
	return verify(value)
}

// SplitList splits a list value as PVE::Tools::split_list does: on NUL if present, else on
// commas, semicolons and whitespace.
func SplitList(s string) []string {
	if strings.Contains(s, "\x00") {
		return strings.Split(s, "\x00")
	}
	return strings.FieldsFunc(s, func(r rune) bool {
		return r == ',' || r == ';' || r == ' ' || r == '\t' || r == '\n' || r == '\r' || r == '\f' || r == '\v'
	})
}

// ParsePropertyString parses a value such as `name=eth0,bridge=vmbr0,ip=dhcp` against a
// property-string format; booleans come back as "1" or "0". The error is PVE's text.
func ParsePropertyString(format map[string]*Property, data string) (map[string]string, error) {
	res, err := parsePropertyString(format, data, "")
	if err != "" {
		return nil, fmt.Errorf("%s", strings.TrimRight(err, "\n"))
	}
	return res, nil
}

func parsePropertyString(format map[string]*Property, data, path string) (map[string]string, string) {
	res := map[string]string{}
	defaultKey := ""
	for _, part := range strings.Split(data, ",") {
		if strings.TrimSpace(part) == "" {
			continue
		}
		if k, v, ok := strings.Cut(part, "="); ok && k != "" && v != "" {
			if _, dup := res[k]; dup {
				return nil, "duplicate key in comma-separated list property: " + k + "\n"
			}
			p, known := format[k]
			if !known {
				return nil, "invalid key in comma-separated list property: " + k + "\n"
			}
			if p.Type == "boolean" {
				v = parseBoolean(v)
			}
			res[k] = v
			continue
		}
		if !strings.Contains(part, "=") {
			if defaultKey != "" {
				return nil, "duplicate key in comma-separated list property: " + defaultKey + "\n"
			}
			for k, p := range format {
				if !p.DefaultKey {
					continue
				}
				defaultKey = k
				if _, set := res[k]; set {
					return nil, "duplicate key in comma-separated list property: " + k + "\n"
				}
				if p.Type == "boolean" {
					part = parseBoolean(part)
				}
				res[k] = part
				break
			}
			if defaultKey == "" {
				return nil, "value without key, but schema does not define a default key\n"
			}
			continue
		}
		return nil, "missing key in comma-separated list property\n"
	}
	errs := Errors{}
	for k, p := range format {
		var v any
		if s, ok := res[k]; ok {
			v = s
		}
		sub := k
		if path != "" {
			sub = path + "." + k
		}
		checkProp(v, p, sub, errs)
	}
	if len(errs) > 0 {
		keys := make([]string, 0, len(errs))
		for k := range errs {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		msg := "format error\n"
		for _, k := range keys {
			msg += k + ": " + errs[k] + "\n"
		}
		return nil, msg
	}
	return res, ""
}

func parseBoolean(s string) string {
	switch strings.ToLower(s) {
	case "1", "on", "yes", "true":
		return "1"
	case "0", "off", "no", "false":
		return "0"
	}
	return s
}

// PrintPropertyString renders parsed property-string data the way PVE writes it back: the
// default key first without its name, then required keys, then the rest, each group sorted.
func PrintPropertyString(format map[string]*Property, data map[string]string) string {
	keys := make([]string, 0, len(data))
	for k := range data {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	done := map[string]bool{}
	add := func(k string, bare bool) {
		if done[k] {
			return
		}
		v, ok := data[k]
		if !ok {
			return
		}
		done[k] = true
		if p := format[k]; p != nil && p.FormatName == "disk-size" {
			if n, ok := ParseSize(v); ok {
				v = FormatSize(n)
			}
		}
		if bare {
			parts = append(parts, v)
		} else {
			parts = append(parts, k+"="+v)
		}
	}
	for k, p := range format {
		if p.DefaultKey {
			add(k, true)
		}
	}
	for _, k := range keys {
		if p := format[k]; p != nil && !p.Optional {
			add(k, false)
		}
	}
	for _, k := range keys {
		add(k, false)
	}
	return strings.Join(parts, ",")
}
