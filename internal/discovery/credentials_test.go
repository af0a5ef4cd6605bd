package discovery

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseEnvFile(t *testing.T) {
	content := strings.Join([]string{
		"# Written by the postgres script",
		"",
		"   ",
		"DB_USER=app",
		"export DB_NAME=appdb",
		"export\tDB_HOST=localhost   ",
		"DB_PASSWORD='p@ss w0rd $HOME \\n'",
		`DB_URL="postgres://app:\"x\"@localhost/db?\$x=\\y&z=\q"`,
		"EMPTY=",
		"QUOTED_EMPTY=\"\"",
		"INLINE=value # a comment",
		"HASH_IN=a#b",
		"SPACE_AROUND=   padded   ",
		"AFTER_QUOTE='x'   # fine",
		"PEM='-----BEGIN KEY-----",
		"line two",
		"-----END KEY-----'",
		`JOINED="one \`,
		`two"`,
		"MULTI=\"a",
		"",
		"b\"",
		"CRLF=crlf\r",
		"dotted.key-name_1=ok",
		"DB_USER=app2",
		"  # indented comment",
		"exported=no space after export",
	}, "\n")
	vars, err := ParseEnvFile("postgres.env", []byte(content))
	if err != nil {
		t.Fatalf("ParseEnvFile: %v", err)
	}
	want := []EnvVar{
		{"DB_USER", "app2"},
		{"DB_NAME", "appdb"},
		{"DB_HOST", "localhost"},
		{"DB_PASSWORD", `p@ss w0rd $HOME \n`},
		{"DB_URL", `postgres://app:"x"@localhost/db?$x=\y&z=\q`},
		{"EMPTY", ""},
		{"QUOTED_EMPTY", ""},
		{"INLINE", "value"},
		{"HASH_IN", "a#b"},
		{"SPACE_AROUND", "padded"},
		{"AFTER_QUOTE", "x"},
		{"PEM", "-----BEGIN KEY-----\nline two\n-----END KEY-----"},
		{"JOINED", "one two"},
		{"MULTI", "a\n\nb"},
		{"CRLF", "crlf"},
		{"dotted.key-name_1", "ok"},
		{"exported", "no space after export"},
	}
	if len(vars) != len(want) {
		t.Fatalf("got %d vars %q\nwant %d", len(vars), vars, len(want))
	}
	for i := range want {
		if vars[i] != want[i] {
			t.Errorf("var %d: got %q, want %q", i, vars[i], want[i])
		}
	}
}

// TestParseEnvFileAgreesWithBash sources the quoted forms with bash to show the parser reads
// them as a shell does.
func TestParseEnvFileAgreesWithBash(t *testing.T) {
	content := "A='single $x \\ \"q\"'\nB=\"dq \\$x \\\\ \\\" \\` \\q \\n\"\nC=\"multi\nline\"\nD='multi\nline'\nE=\"join\\\nme\"\n"
	vars, err := ParseEnvFile("x.env", []byte(content))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "x.env")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, v := range vars {
		out, err := exec.Command("bash", "-c", `. "$1"; printf '%s' "${!2}"`, "bash", path, v.Name).Output()
		if err != nil {
			t.Fatalf("bash: %v", err)
		}
		if string(out) != v.Value {
			t.Errorf("%s: parser read %q, bash %q", v.Name, v.Value, out)
		}
	}
	if len(vars) != 5 {
		t.Errorf("got %d vars, want 5", len(vars))
	}
}

func TestParseEnvFileReportsBadLines(t *testing.T) {
	const secret = "hunter2-secret"
	content := strings.Join([]string{
		"GOOD=1",
		"just " + secret,             // 2: no =
		"BAD KEY=" + secret,          // 3: blank in key
		"=" + secret,                 // 4: empty key
		"..=" + secret,               // 5: reserved key
		"K$Y=" + secret,              // 6: shell character in key
		"TRAIL='" + secret + "'junk", // 7: text after quote
		"NUL=a\x00" + secret,         // 8: NUL
		"ALSO_GOOD=2",
		"OPEN=\"" + secret, // 10: never closed, swallows the rest
		"LOST=3",
	}, "\n")
	vars, err := ParseEnvFile("app.env", []byte(content))
	if len(vars) != 2 || vars[0] != (EnvVar{"GOOD", "1"}) || vars[1] != (EnvVar{"ALSO_GOOD", "2"}) {
		t.Errorf("valid vars: %q", vars)
	}
	if err == nil {
		t.Fatal("no error")
	}
	if strings.Contains(err.Error(), secret) {
		t.Errorf("error quotes a secret: %v", err)
	}
	var lines []int
	for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
		var le *LineError
		if !errors.As(e, &le) || le.Source != "app.env" {
			t.Fatalf("error %v is not a LineError of app.env", e)
		}
		lines = append(lines, le.Line)
	}
	wantLines := []int{2, 3, 4, 5, 6, 7, 8, 10}
	if len(lines) != len(wantLines) {
		t.Fatalf("errors on lines %v, want %v\n%v", lines, wantLines, err)
	}
	for i := range wantLines {
		if lines[i] != wantLines[i] {
			t.Errorf("errors on lines %v, want %v", lines, wantLines)
			break
		}
	}
}

func TestParseEnvFileLineNumbersAfterMultiline(t *testing.T) {
	content := "A='1\n2\n3'\nbroken\nB=\"x\ny\" junk\nC=ok\nbroken again\n"
	vars, err := ParseEnvFile("f.env", []byte(content))
	if len(vars) != 2 || vars[0].Name != "A" || vars[1].Name != "C" {
		t.Errorf("vars %q", vars)
	}
	if err == nil || !strings.Contains(err.Error(), "f.env line 4:") || !strings.Contains(err.Error(), "f.env line 5:") || !strings.Contains(err.Error(), "f.env line 8:") {
		t.Errorf("errors do not locate lines 4, 5 and 8: %v", err)
	}
}

func TestValidateSecretKey(t *testing.T) {
	for _, ok := range []string{"a", "DB_PASSWORD", "tls.crt", "x-y_z.1", ".hidden", strings.Repeat("k", 253)} {
		if err := ValidateSecretKey(ok); err != nil {
			t.Errorf("%q refused: %v", ok, err)
		}
	}
	for _, bad := range []string{"", ".", "..", "..x", "a b", "a/b", "a=b", "ä", strings.Repeat("k", 254)} {
		if err := ValidateSecretKey(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestCredentialsData(t *testing.T) {
	files := []CredentialsFile{
		ParseCredentialsFile("web.env", []byte("ADMIN_PASSWORD=w\nSHARED=from-web\n")),
		ParseCredentialsFile("db.env", []byte("DB_PASSWORD=d\nSHARED=from-db\n")),
	}
	for _, f := range files {
		if f.Err != nil {
			t.Fatal(f.Err)
		}
	}
	if files[1].Service != "db" {
		t.Errorf("service %q", files[1].Service)
	}
	data, err := CredentialsData(files)
	want := map[string]string{"ADMIN_PASSWORD": "w", "DB_PASSWORD": "d", "SHARED": "from-db"}
	if len(data) != len(want) {
		t.Errorf("data %q", data)
	}
	for k, v := range want {
		if string(data[k]) != v {
			t.Errorf("%s = %q, want %q", k, data[k], v)
		}
	}
	if err == nil || !strings.Contains(err.Error(), "SHARED is set by both db.env and web.env") || strings.Contains(err.Error(), "from-") {
		t.Errorf("clash not reported, or reported with values: %v", err)
	}

	bad := ParseCredentialsFile("../etc.env", []byte("A=1"))
	if bad.Err == nil || len(bad.Vars) != 0 {
		t.Errorf("bad file name accepted: %+v", bad)
	}
	big := ParseCredentialsFile("big.env", []byte("A="+strings.Repeat("x", MaxCredentialsFileSize)))
	if big.Err == nil || len(big.Vars) != 0 {
		t.Error("oversized file accepted")
	}
}

func FuzzParseEnvFile(f *testing.F) {
	f.Add([]byte("A=1\nexport B='x'\n# c\nC=\"y\\\"z\"\n"))
	f.Add([]byte("PEM='a\nb'\nX=\"\\\n\"\n"))
	f.Add([]byte("=\n\x00\n'\n\"\nA='"))
	f.Add([]byte("A=\"\\"))
	f.Add([]byte("\r\n\rA=b\r"))
	f.Fuzz(func(t *testing.T, content []byte) {
		vars, err := ParseEnvFile("f.env", content)
		seen := map[string]bool{}
		for _, v := range vars {
			if ValidateSecretKey(v.Name) != nil {
				t.Fatalf("invalid key %q returned", v.Name)
			}
			if seen[v.Name] {
				t.Fatalf("key %q returned twice", v.Name)
			}
			seen[v.Name] = true
		}
		if err != nil {
			for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
				var le *LineError
				if !errors.As(e, &le) || le.Line < 1 || le.Line > strings.Count(string(content), "\n")+1 {
					t.Fatalf("error %v does not locate a line of the file", e)
				}
			}
		}
	})
}

// TestParseCredentialsDump: the files ReadCredentialsCommand prints come back with their values.
func TestParseCredentialsDump(t *testing.T) {
	out := []byte("\x00db.env\x00DB_PASSWORD=s3cret-pw\nDB_USER=app\n\x00api.env\x00export TOKEN='a b'\n\x00empty.env\x00")
	files := ParseCredentialsDump(out)
	if len(files) != 3 || files[0].FileName != "db.env" || files[1].Service != "api" || files[2].FileName != "empty.env" {
		t.Fatalf("files %+v", files)
	}
	if got := strings.Join(Values(files), "|"); got != "s3cret-pw|app|a b" {
		t.Errorf("values %q", got)
	}
	if files := ParseCredentialsDump(nil); len(files) != 0 {
		t.Errorf("no output gave %+v", files)
	}
}

// TestReadCredentialsCommandReadsBothDirectories runs the command with bash, its two fixed
// directories moved into a temporary root: the files of both come back, other names do not.
func TestReadCredentialsCommandReadsBothDirectories(t *testing.T) {
	root := t.TempDir()
	write := func(dir, name, content string) {
		t.Helper()
		p := filepath.Join(root, dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(CredentialsDir, "db.env", "DB_PASSWORD=one\n")
	write(SavedCredentialsDir, "code-server.env", "# Credentials for code-server\nCODE_SERVER_PASSWORD=\"t w o\"\n")
	write(SavedCredentialsDir, "notes.txt", "NOT=read\n")
	line := strings.NewReplacer(CredentialsDir, root+CredentialsDir, SavedCredentialsDir, root+SavedCredentialsDir).Replace(ReadCredentialsCommand)
	if line == ReadCredentialsCommand {
		t.Fatal("the command does not name both directories")
	}
	out, err := exec.Command("bash", "-c", line).Output()
	if err != nil {
		t.Fatal(err)
	}
	files := ParseCredentialsDump(out)
	var names []string
	for _, f := range files {
		names = append(names, f.FileName)
	}
	if got := strings.Join(names, " "); got != "db.env code-server.env" {
		t.Errorf("files %q", got)
	}
	if got := strings.Join(Values(files), "|"); got != "one|t w o" {
		t.Errorf("values %q", got)
	}
}
