package discovery

import (
	"os"
	"strings"
	"testing"
)

func FuzzParseUnits(f *testing.F) {
	for _, file := range []string{"testdata/units-all.txt", "testdata/units-bullets.txt"} {
		if out, err := os.ReadFile(file); err == nil {
			f.Add(string(out))
		}
	}
	f.Add("nginx.service loaded active running A high performance web server\n")
	f.Add("● failed.service loaded failed failed x")
	f.Add("* a.b c d e")
	f.Add("●")
	f.Add(" \t● x.service loaded active running start Job")
	f.Fuzz(func(t *testing.T, out string) {
		units, _ := ParseUnits(out)
		if n := strings.Count(out, "\n") + 1; len(units) > n {
			t.Fatalf("%d units from %d lines", len(units), n)
		}
		for _, u := range units {
			for _, field := range []string{u.Name, u.Load, u.Active, u.Sub} {
				if field == "" || strings.ContainsAny(field, " \t\n") {
					t.Fatalf("unit %+v has an empty or blank field", u)
				}
			}
			if strings.Contains(u.Description, "\n") || u.Description != strings.TrimSpace(u.Description) {
				t.Fatalf("description %q", u.Description)
			}
			_ = u.ServiceName()
		}
	})
}

func FuzzParseCredentialsFile(f *testing.F) {
	f.Add("postgres.env", "PGUSER=app\nPGPASSWORD='s3cr3t value'\n")
	f.Add("a.env", "export TOKEN=\"a\\\"b\\\nc\" # note\n")
	f.Add("x.env", "K='unterminated\n")
	f.Add("..env", "A=1")
	f.Add("svc.env", "=novalue\n..=x\nA B=c\n")
	f.Fuzz(func(t *testing.T, name, content string) {
		cf := ParseCredentialsFile(name, []byte(content))
		if cf.FileName != name || cf.Service != strings.TrimSuffix(name, ".env") {
			t.Fatalf("file %q became %+v", name, cf)
		}
		if ValidateCredentialsFileName(name) != nil && len(cf.Vars) > 0 {
			t.Fatalf("vars read from a file with an invalid name %q", name)
		}
		seen := map[string]bool{}
		for _, v := range cf.Vars {
			if err := ValidateSecretKey(v.Name); err != nil {
				t.Fatalf("key %q: %v", v.Name, err)
			}
			if seen[v.Name] {
				t.Fatalf("key %q twice", v.Name)
			}
			seen[v.Name] = true
		}
		data, err := CredentialsData([]CredentialsFile{cf})
		if err != nil || len(data) != len(cf.Vars) {
			t.Fatalf("one file gave %d keys from %d vars: %v", len(data), len(cf.Vars), err)
		}
		for _, v := range cf.Vars {
			if string(data[v.Name]) != v.Value {
				t.Fatalf("key %s: %q, want %q", v.Name, data[v.Name], v.Value)
			}
		}
	})
}
