// Package schema checks request parameters against the official Proxmox VE API schema the way
// PVE's JSONSchema.pm does, with the same error messages.
//
// pve-api.json is cut from apidata.json of the pve-docs api-viewer (Proxmox VE 9.1.3) by
// extract.go; regenerate it with `go run extract.go -in .../apidata.json`.
package schema

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

//go:embed pve-api.json
var apiJSON []byte

// Property is one parameter (or one key of a property string) as the schema describes it.
type Property struct {
	Type        string
	Optional    bool
	FormatName  string               // a registered format such as pve-vmid or pve-tag-list
	FormatProps map[string]*Property // a property-string format such as the one of net[n]
	Pattern     *regexp.Regexp
	MinLength   *int
	MaxLength   *int
	Minimum     *float64
	Maximum     *float64
	Enum        []string
	DefaultKey  bool
	Requires    string
	Default     any
}

// Method is the parameter schema of one method on one path.
type Method struct {
	Path       string
	Method     string
	Properties map[string]*Property // includes indexed names such as net[n]
	Additional bool
	// Returns is the raw schema of the answer, used by conformance tests.
	Returns json.RawMessage
}

// indexed lists the `name[n]` properties with the number of indices pve-container allows
// (MAX_LXC_NETWORKS, MAX_MOUNT_POINTS, MAX_UNUSED_DISKS, MAX_DEVICES in src/PVE/LXC/Config.pm).
var indexed = map[string]int{"net": 32, "mp": 256, "unused": 256, "dev": 256}

var methods = map[string]*Method{}

func init() {
	var doc map[string]map[string]struct {
		Parameters struct {
			AdditionalProperties any                        `json:"additionalProperties"`
			Properties           map[string]json.RawMessage `json:"properties"`
		} `json:"parameters"`
		Returns json.RawMessage `json:"returns"`
	}
	if err := json.Unmarshal(apiJSON, &doc); err != nil {
		panic(fmt.Sprintf("pvesim schema: %v", err))
	}
	for path, ms := range doc {
		for verb, info := range ms {
			m := &Method{
				Path:       path,
				Method:     verb,
				Properties: map[string]*Property{},
				Additional: truthy(info.Parameters.AdditionalProperties),
				Returns:    info.Returns,
			}
			for name, raw := range info.Parameters.Properties {
				p, err := parseProperty(raw)
				if err != nil {
					panic(fmt.Sprintf("pvesim schema: %s %s %s: %v", verb, path, name, err))
				}
				m.Properties[name] = p
			}
			methods[verb+" "+path] = m
		}
	}
}

// Lookup returns the schema of a method on a path pattern such as /nodes/{node}/lxc, or nil.
func Lookup(method, path string) *Method {
	return methods[method+" "+path]
}

// Property returns the schema of a parameter, resolving net0 to net[n] within its index range.
func (m *Method) Property(name string) *Property {
	if p, ok := m.Properties[name]; ok {
		return p
	}
	base := strings.TrimRight(name, "0123456789")
	if base == name || base == "" {
		return nil
	}
	n, err := strconv.Atoi(name[len(base):])
	if err != nil || strconv.Itoa(n) != name[len(base):] {
		return nil
	}
	max, ok := indexed[base]
	if !ok || n >= max {
		return nil
	}
	return m.Properties[base+"[n]"]
}

type rawProperty struct {
	Type       any             `json:"type"`
	Optional   any             `json:"optional"`
	Format     json.RawMessage `json:"format"`
	Pattern    string          `json:"pattern"`
	MinLength  *int            `json:"minLength"`
	MaxLength  *int            `json:"maxLength"`
	Minimum    any             `json:"minimum"`
	Maximum    any             `json:"maximum"`
	Enum       []string        `json:"enum"`
	DefaultKey any             `json:"default_key"`
	Requires   any             `json:"requires"`
	Default    any             `json:"default"`
}

func parseProperty(raw json.RawMessage) (*Property, error) {
	var r rawProperty
	if err := json.Unmarshal(raw, &r); err != nil {
		return nil, err
	}
	p := &Property{
		Optional:   truthy(r.Optional),
		MinLength:  r.MinLength,
		MaxLength:  r.MaxLength,
		Enum:       r.Enum,
		DefaultKey: truthy(r.DefaultKey),
		Default:    r.Default,
	}
	if s, ok := r.Type.(string); ok {
		p.Type = s
	}
	if s, ok := r.Requires.(string); ok {
		p.Requires = s
	}
	var err error
	if p.Minimum, err = number(r.Minimum); err != nil {
		return nil, err
	}
	if p.Maximum, err = number(r.Maximum); err != nil {
		return nil, err
	}
	if r.Pattern != "" {
		re, err := regexp.Compile("^(?:" + perlPattern(r.Pattern) + ")$")
		if err != nil {
			return nil, fmt.Errorf("pattern %q: %w", r.Pattern, err)
		}
		p.Pattern = re
	}
	if len(r.Format) > 0 {
		var name string
		if err := json.Unmarshal(r.Format, &name); err == nil {
			p.FormatName = name
			p.FormatProps = propertyFormats[name]
		} else {
			var props map[string]json.RawMessage
			if err := json.Unmarshal(r.Format, &props); err != nil {
				return nil, fmt.Errorf("format: %w", err)
			}
			p.FormatProps = map[string]*Property{}
			for k, v := range props {
				sub, err := parseProperty(v)
				if err != nil {
					return nil, fmt.Errorf("format key %s: %w", k, err)
				}
				p.FormatProps[k] = sub
			}
		}
	}
	return p, nil
}

// perlPattern turns the Perl regex stringification `(?^:...)` into Go syntax.
func perlPattern(s string) string {
	return strings.ReplaceAll(s, "(?^:", "(?:")
}

func truthy(v any) bool {
	switch t := v.(type) {
	case bool:
		return t
	case float64:
		return t != 0
	case string:
		return t != "" && t != "0"
	}
	return false
}

func number(v any) (*float64, error) {
	switch t := v.(type) {
	case nil:
		return nil, nil
	case float64:
		return &t, nil
	case string:
		f, err := strconv.ParseFloat(t, 64)
		if err != nil {
			return nil, err
		}
		return &f, nil
	}
	return nil, fmt.Errorf("unexpected bound %v", v)
}
