package pvesim

import (
	"encoding/hex"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
)

// pctConfText is one section of a CT config as pve-container's write_pct_config writes it:
// the description as comment lines (encode_text), then every key sorted.
func pctConfText(conf map[string]string) string {
	var b strings.Builder
	if d := conf["description"]; d != "" {
		for _, line := range strings.Split(strings.TrimSuffix(d, "\n"), "\n") {
			b.WriteString("#" + encodeText(line) + "\n")
		}
	}
	for _, k := range slices.Sorted(maps.Keys(conf)) {
		if k != "description" {
			fmt.Fprintf(&b, "%s: %s\n", k, conf[k])
		}
	}
	return b.String()
}

var (
	confKeyRE     = regexp.MustCompile(`^([a-z][a-z_]*\d*):\s*(.+?)\s*$`)
	confSectionRE = regexp.MustCompile(`(?i)^\[[a-z][a-z0-9_:\-]+\]\s*$`)
)

// parsePctConf reads the main section of a CT config as parse_pct_config does. Comment lines
// make up the description, each decoded and ending in a newline, so a description read back
// from a file ends in one. Raw lxc.* keys, which pvesim does not model, are left out.
func parsePctConf(raw string) (map[string]string, error) {
	conf := map[string]string{}
	var descr strings.Builder
	for _, line := range strings.Split(raw, "\n") {
		switch {
		case strings.TrimSpace(line) == "" || strings.HasPrefix(line, "lxc."):
		case confSectionRE.MatchString(line):
			// Pending changes and snapshots are not part of a restored config.
			return withDescription(conf, descr.String()), nil
		case strings.HasPrefix(line, "#"):
			descr.WriteString(decodeText(line[1:]) + "\n")
		default:
			m := confKeyRE.FindStringSubmatch(line)
			if m == nil {
				return nil, fmt.Errorf("unable to parse config: %s", line)
			}
			if m[1] == "description" {
				descr.WriteString(decodeText(m[2]))
				continue
			}
			conf[m[1]] = m[2]
		}
	}
	return withDescription(conf, descr.String()), nil
}

func withDescription(conf map[string]string, descr string) map[string]string {
	if descr != "" {
		conf["description"] = descr
	}
	return conf
}

// decodeText is PVE::Tools::decode_text: %XX escapes become their bytes.
func decodeText(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) {
			if v, err := hex.DecodeString(s[i+1 : i+3]); err == nil {
				b.WriteByte(v[0])
				i += 2
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
