package importer

import (
	"strings"
	"testing"
)

func TestParseTemplateConf(t *testing.T) {
	conf := `#!/usr/bin/env bash
# comment
TEMPLATE_APP="Web3 Dev Container"
TEMPLATE_TAGS='web3;development'   # trailing comment
TEMPLATE_CPU="${TEMPLATE_CPU:-4}"
TEMPLATE_RAM=${TEMPLATE_RAM:-8192}  # MiB
TEMPLATE_DISK="${UNSET-20}"
TEMPLATE_OS=debian#not-a-comment
TEMPLATE_VERSION="1\"2\$"
TEMPLATE_DESCRIPTION="${TEMPLATE_APP} for ${TEMPLATE_OS:-x}"
TEMPLATE_NESTING=
`
	var problems Problems
	vars := parseTemplateConf(strings.Split(conf, "\n"), reporter{file: "t/template.conf", problems: &problems})
	if len(problems) > 0 {
		t.Fatal(problems.Error())
	}
	want := map[string]string{
		"TEMPLATE_APP": "Web3 Dev Container", "TEMPLATE_TAGS": "web3;development", "TEMPLATE_CPU": "4",
		"TEMPLATE_RAM": "8192", "TEMPLATE_DISK": "20", "TEMPLATE_OS": "debian#not-a-comment",
		"TEMPLATE_VERSION": `1"2$`, "TEMPLATE_DESCRIPTION": "Web3 Dev Container for debian#not-a-comment", "TEMPLATE_NESTING": "",
	}
	for k, v := range want {
		if vars[k].value != v {
			t.Errorf("%s = %q, want %q", k, vars[k].value, v)
		}
	}
	if len(vars) != len(want) {
		t.Errorf("%d variables, want %d", len(vars), len(want))
	}
}

func TestParseTemplateConfProblems(t *testing.T) {
	conf := strings.Join([]string{
		`export TEMPLATE_CPU=2`,
		`TEMPLATE_RAM=$(nproc)`,
		`TEMPLATE_DISK="20`,
		`TEMPLATE_OS=debian bookworm`,
		`TEMPLATE_VERSION=$HOME`,
		`TEMPLATE_APP=a;reboot`,
		`TEMPLATE_TAGS=a`,
		`TEMPLATE_TAGS=b`,
		`if true; then`,
	}, "\n")
	var problems Problems
	parseTemplateConf(strings.Split(conf, "\n"), reporter{file: "t/template.conf", problems: &problems})
	want := []string{
		"t/template.conf:1: not a VARIABLE=value assignment",
		"t/template.conf:2: TEMPLATE_RAM: command substitution",
		"t/template.conf:3: TEMPLATE_DISK: unterminated",
		`t/template.conf:4: TEMPLATE_OS: "bookworm" follows the value`,
		"t/template.conf:5: TEMPLATE_VERSION: $HOME is not set",
		`t/template.conf:6: TEMPLATE_APP: ";" is shell syntax`,
		"t/template.conf:8: TEMPLATE_TAGS is already set on line 7",
		"t/template.conf:9: not a VARIABLE=value assignment",
	}
	if len(problems) != len(want) {
		t.Fatalf("%d problems, want %d:\n%s", len(problems), len(want), problems.Error())
	}
	for i, w := range want {
		if !strings.HasPrefix(problems[i].String(), w) {
			t.Errorf("problem %d: %q, want prefix %q", i, problems[i].String(), w)
		}
	}
}
