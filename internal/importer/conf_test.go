package importer

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseAssignments(t *testing.T) {
	input := strings.Join([]string{
		"# a comment",
		"",
		"   # an indented comment",
		"plain=some value",
		"  spaced  =   trimmed value   ",
		`double="quoted \"value\" with \\ and\ttab\nnewline"`,
		`single='literal \n $HOME "x"'`,
		"hash=issue #5 stays",
		"empty=",
		`emptyquoted=""`,
		"equals=a=b=c",
		"crlf=value\r",
	}, "\n") + "\n"
	var problems Problems
	got, clean := parseAssignments(reporter{file: "f", problems: &problems}, []byte(input))
	if len(problems) > 0 || !clean {
		t.Fatalf("unexpected problems: %v", problems)
	}
	want := []assignment{
		{"plain", "some value", 4},
		{"spaced", "trimmed value", 5},
		{"double", "quoted \"value\" with \\ and\ttab\nnewline", 6},
		{"single", `literal \n $HOME "x"`, 7},
		{"hash", "issue #5 stays", 8},
		{"empty", "", 9},
		{"emptyquoted", "", 10},
		{"equals", "a=b=c", 11},
		{"crlf", "value", 12},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %#v\nwant %#v", got, want)
	}
}

func TestParseAssignmentsProblems(t *testing.T) {
	input := strings.Join([]string{
		"good=1",
		"no equals sign",
		"export NAME=value",
		"1abc=x",
		`open="unterminated`,
		`open2='unterminated`,
		`after="closed" extra`,
		`after2='closed'extra`,
		`esc="bad \q escape"`,
		`trailing="ends with backslash\`,
		"bad=\xff\xfe",
		"nul=a\x00b",
		"last=ok",
	}, "\n")
	var problems Problems
	got, clean := parseAssignments(reporter{file: "f.conf", problems: &problems}, []byte(input))
	if clean {
		t.Error("a file with lines that are not UTF-8 was called clean")
	}
	problems.sort() // encoding problems are found first
	if len(got) != 2 || got[0].Key != "good" || got[1].Key != "last" || got[1].Line != 13 {
		t.Errorf("got %v, want good and last", got)
	}
	wantProblems(t, problems,
		`f.conf:2: expected KEY=VALUE, got "no equals sign"`,
		`f.conf:3: "export NAME" is not a valid key`,
		`f.conf:4: "1abc" is not a valid key`,
		`f.conf:5: open: unterminated double quote`,
		`f.conf:6: open2: unterminated single quote`,
		`f.conf:7: after: unexpected text " extra" after the closing quote`,
		`f.conf:8: after2: unexpected text "extra" after the closing quote`,
		`f.conf:9: esc: unknown escape \q`,
		`f.conf:10: trailing: unterminated double quote`,
		"f.conf:11: line is not valid UTF-8",
		"f.conf:12: line contains a NUL byte",
	)
}

func TestSplitList(t *testing.T) {
	for in, want := range map[string][]string{
		"web;debian;prod":  {"web", "debian", "prod"},
		" web ; debian ; ": {"web", "debian"},
		"a;;b;":            {"a", "b"},
		"single":           {"single"},
		"":                 nil,
		";":                nil,
		"a,b;c":            {"a,b", "c"},
	} {
		if got := splitList(in); !reflect.DeepEqual(got, want) {
			t.Errorf("splitList(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestSplitFields(t *testing.T) {
	for in, want := range map[string][]string{
		"/etc/motd policy=backup":             {"/etc/motd", "policy=backup"},
		"  /a\t\tmode=0600  ":                 {"/a", "mode=0600"},
		`"/srv/about us.html" owner=www-data`: {"/srv/about us.html", "owner=www-data"},
		`'/srv/it''s' x`:                      {"/srv/its", "x"},
		`/srv/"a b"/c mode="0644"`:            {"/srv/a b/c", "mode=0644"},
		`"esc \"q\" \\"`:                      {`esc "q" \`},
		`""`:                                  {""},
		"one":                                 {"one"},
	} {
		got, err := splitFields(in)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("splitFields(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{`"open`, `'open`, `a "b\x"`} {
		if got, err := splitFields(in); err == nil {
			t.Errorf("splitFields(%q) = %q, want an error", in, got)
		}
	}
}

func TestScriptName(t *testing.T) {
	for file, want := range map[string]string{
		"10-install.sh":      "10-install",
		"20_Site Setup.sh":   "20_site-setup",
		"install":            "install",
		"30-db.migrate.py":   "30-db.migrate",
		"Weird!!Name.bash":   "weird-name",
		"-leading-dash-.sh":  "leading-dash",
		"trailing.dots...sh": "trailing.dots",
		"ünïcode.sh":         "n-code",
	} {
		got, err := scriptName(file)
		if err != nil || got != want {
			t.Errorf("scriptName(%q) = %q, %v; want %q", file, got, err, want)
		}
	}
	for _, file := range []string{".hidden.sh", "---.sh", "!!!", strings.Repeat("a", 64) + ".sh"} {
		if got, err := scriptName(file); err == nil {
			t.Errorf("scriptName(%q) = %q, want an error", file, got)
		}
	}
}

// wantProblems checks that problems are exactly those given, each as the start of the
// problem's text (file:line: message).
func wantProblems(t *testing.T, problems Problems, want ...string) {
	t.Helper()
	if len(problems) != len(want) {
		t.Errorf("got %d problems, want %d:\n%v", len(problems), len(want), problems.Error())
	}
	for i := range min(len(problems), len(want)) {
		if !strings.HasPrefix(problems[i].String(), want[i]) {
			t.Errorf("problem %d:\n got  %s\n want %s…", i, problems[i], want[i])
		}
	}
}
