package importer

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files")

const sampleDir = "testdata/store"

func TestSampleStoreMatchesGolden(t *testing.T) {
	res, err := Import(sampleDir, Options{})
	if err != nil {
		t.Fatalf("importing the sample store: %v", err)
	}
	var out bytes.Buffer
	if err := WriteYAML(&out, res); err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "store.golden.yaml")
	if *update {
		if err := os.WriteFile(golden, out.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out.Bytes(), want) {
		t.Errorf("output differs from %s (run go test -update to accept):\n%s", golden, out.String())
	}
}

func TestSampleStoreContents(t *testing.T) {
	res, err := Import(sampleDir, Options{Namespace: "lab"})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, b := range res.Buckets {
		names = append(names, b.Kind+"/"+b.Namespace+"/"+b.Name)
	}
	for _, tpl := range res.Templates {
		names = append(names, tpl.Kind+"/"+tpl.Namespace+"/"+tpl.Name)
	}
	if got, want := strings.Join(names, " "), "PackageBucket/lab/monitoring PackageBucket/lab/web-base LXCTemplate/lab/dns LXCTemplate/lab/hello-web"; got != want {
		t.Fatalf("objects: got %s, want %s", got, want)
	}
	web := res.Templates[1].Spec
	if got := strings.Join(func() []string {
		var s []string
		for _, tag := range web.Tags {
			s = append(s, string(tag))
		}
		return s
	}(), ","); got != "web,debian,prod" {
		t.Errorf("tags = %s, want web,debian,prod (semicolon-separated in template.conf)", got)
	}
	if web.Description != `Debian 12 with nginx serving a "hello" page on port 8080` {
		t.Errorf("description = %q", web.Description)
	}
	if len(web.Scripts) != 2 || web.Scripts[0].Name != "10-install" || web.Scripts[1].Name != "20-site" ||
		web.Scripts[0].TimeoutSeconds == nil || *web.Scripts[0].TimeoutSeconds != 1200 || web.Scripts[1].TimeoutSeconds != nil {
		t.Errorf("scripts not in name order with scripts.conf applied: %+v", web.Scripts)
	}
	policies := map[string]string{}
	for _, f := range web.Files {
		policies[f.Path] = string(f.Policy)
	}
	for path, want := range map[string]string{
		"/etc/motd": "backup", "/etc/nginx/conf.d/hello.conf": "replace",
		"/srv/www/hello/about us.html": "default", "/etc/hello-web/title": "", "/root/.profile": "",
	} {
		if got, ok := policies[path]; !ok || got != want {
			t.Errorf("file %s: policy %q (present %v), want %q", path, got, ok, want)
		}
	}
	dns := res.Templates[0].Spec
	if dns.Features.Unprivileged == nil || *dns.Features.Unprivileged {
		t.Errorf("dns: unprivileged=0 not carried: %v", dns.Features.Unprivileged)
	}
	if dns.Network.IPv4 != "10.20.0.53/24" || dns.Network.Gateway != "10.20.0.1" || *dns.Network.VLANTag != 20 {
		t.Errorf("dns network: %+v", dns.Network)
	}
	if len(dns.Files) != 3 || dns.Files[0].ConfigMapRef == nil || dns.Files[2].SecretRef == nil || dns.Files[2].SecretRef.Key != "upstream.conf" {
		t.Errorf("dns files: %+v", dns.Files)
	}
}

func TestImportIsDeterministic(t *testing.T) {
	var outputs []string
	for range 3 {
		res, err := Import(sampleDir, Options{})
		if err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		if err := WriteYAML(&out, res); err != nil {
			t.Fatal(err)
		}
		outputs = append(outputs, out.String())
	}
	if outputs[0] != outputs[1] || outputs[1] != outputs[2] {
		t.Error("importing the same directory twice gave different output")
	}
}

// writeStore creates a template directory from relative paths and contents. A path ending in
// "/" is an empty directory; a content starting with "->" makes a symbolic link.
func writeStore(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for rel, content := range files {
		p := filepath.Join(root, filepath.FromSlash(rel))
		if strings.HasSuffix(rel, "/") {
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if target, ok := strings.CutPrefix(content, "->"); ok {
			if err := os.Symlink(target, p); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

const validConf = "os_template=local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst\n"

// withConf returns a store holding the template t with validConf plus the given lines.
func withConf(lines ...string) map[string]string {
	return map[string]string{"t/template.conf": validConf + strings.Join(lines, "\n") + "\n"}
}

// with adds files to a store.
func with(store map[string]string, kv ...string) map[string]string {
	for i := 0; i+1 < len(kv); i += 2 {
		store[kv[i]] = kv[i+1]
	}
	return store
}

func TestProblems(t *testing.T) {
	long := func(n int, s string) string { return strings.Repeat(s, n) }
	for _, tc := range []struct {
		name  string
		store map[string]string
		want  []string // each the start of one problem's text, in report order
	}{
		// template.conf
		{"unknown key", withConf("colour=blue"), []string{`t/template.conf:2: unknown key "colour"`}},
		{"key with uppercase is unknown", withConf("CORES=2"), []string{`t/template.conf:2: unknown key "CORES"`}},
		{"duplicate key", withConf("cores=1", "cores=2"), []string{"t/template.conf:3: cores is already set on line 2"}},
		{"not key=value", withConf("cores"), []string{`t/template.conf:2: expected KEY=VALUE, got "cores"`}},
		{"unterminated quote", withConf(`description="open`), []string{"t/template.conf:2: description: unterminated double quote"}},
		{"missing os_template", map[string]string{"t/template.conf": "cores=1\n"}, []string{"t/template.conf: os_template is missing"}},
		{"empty os_template", map[string]string{"t/template.conf": "os_template=\n"}, []string{"t/template.conf:1: os_template is empty"}},
		{"os_template not a volid", map[string]string{"t/template.conf": "os_template=debian-12.tar.zst\n"}, []string{`t/template.conf:1: os_template: "debian-12.tar.zst" is not a volume id`}},
		{"os_template of an iso", map[string]string{"t/template.conf": "os_template=local:iso/debian.iso\n"}, []string{"t/template.conf:1: os_template: "}},
		{"invalid name", withConf("name=Web_Server"), []string{`t/template.conf:2: name: "Web_Server" is not a valid object name`}},
		{"invalid directory name", map[string]string{"Web/template.conf": validConf}, []string{"Web/template.conf: the directory name is used as the template name"}},
		{"description too long", withConf("description=" + long(4097, "x")), []string{"t/template.conf:2: description is longer than 4096 characters"}},
		{"uppercase tag", withConf("tags=web;Debian"), []string{`t/template.conf:2: tags: tag "Debian" is not a Proxmox tag`}},
		{"comma-separated tags", withConf("tags=web,debian"), []string{`t/template.conf:2: tags: tag "web,debian" is not a Proxmox tag`}},
		{"duplicate tag", withConf("tags=web;web"), []string{`t/template.conf:2: tags: "web" is given twice`}},
		{"too many tags", withConf("tags=" + func() string {
			var tags []string
			for i := range 33 {
				tags = append(tags, fmt.Sprintf("t%d", i))
			}
			return strings.Join(tags, ";")
		}()), []string{"t/template.conf:2: tags: 33 given, at most 32"}},
		{"cores not a number", withConf("cores=two"), []string{`t/template.conf:2: cores: "two" is not a whole number between 1 and 8192`}},
		{"cores out of range", withConf("cores=0", "memory=15", "swap=-1", "disk=131073"), []string{
			"t/template.conf:2: cores: 0 is outside 1–8192", "t/template.conf:3: memory: 15 is outside 16–268435456",
			"t/template.conf:4: swap: -1 is outside 0–268435456", "t/template.conf:5: disk: 131073 is outside 1–131072"}},
		{"unit suffix", withConf("disk=8G"), []string{`t/template.conf:2: disk: "8G" is not a whole number`}},
		{"bad storage", withConf("storage=local lvm"), []string{`t/template.conf:2: storage "local lvm" must start with a letter`}},
		{"bad boolean", withConf("nesting=maybe"), []string{`t/template.conf:2: nesting: "maybe" is not a boolean`}},
		{"bridge too long", withConf("bridge=vmbr0123456789ab"), []string{`t/template.conf:2: bridge "vmbr0123456789ab" must start with a letter`}},
		{"ip without prefix", withConf("ip=10.0.0.5"), []string{`t/template.conf:2: ip: "10.0.0.5" is neither dhcp nor an IPv4 address in CIDR notation`}},
		{"ipv6 ip", withConf("ip=2001:db8::5/64"), []string{`t/template.conf:2: ip: "2001:db8::5/64" is neither dhcp`}},
		{"gateway not an address", withConf("ip=10.0.0.5/24", "gateway=10.0.0"), []string{`t/template.conf:3: gateway: "10.0.0" is not an IPv4 address`}},
		{"gateway with dhcp", withConf("ip=dhcp", "gateway=10.0.0.1"), []string{"t/template.conf:3: gateway is only allowed with a static ip (ip is dhcp)"}},
		{"gateway without ip", withConf("gateway=10.0.0.1"), []string{"t/template.conf:2: gateway is only allowed with a static ip (ip is dhcp by default)"}},
		{"gateway outside the network", withConf("ip=10.0.0.5/24", "gateway=10.0.1.1"), []string{"t/template.conf:3: gateway 10.0.1.1 does not lie inside the ip network 10.0.0.0/24 (line 2)"}},
		{"bad nameserver", withConf("nameservers=1.1.1.1;dns.example"), []string{`t/template.conf:2: nameservers: nameserver "dns.example" is not an IP address`}},
		{"too many nameservers", withConf("nameservers=1.1.1.1;1.0.0.1;9.9.9.9;8.8.8.8"), []string{"t/template.conf:2: nameservers: 4 given, at most 3"}},
		{"vlan out of range", withConf("vlan=4095"), []string{"t/template.conf:2: vlan: 4095 is outside 1–4094"}},
		{"bucket not defined", withConf("package_buckets=base"), []string{`t/template.conf:2: package_buckets: no bucket "base" under buckets/`}},
		{"bad bucket reference", withConf("package_buckets=Base"), []string{`t/template.conf:2: package_buckets: package bucket "Base" is not a valid object name`}},
		{"duplicate bucket reference", with(withConf("package_buckets=base;base"), "buckets/base.apt", "curl\n"), []string{`t/template.conf:2: package_buckets: "base" is given twice`}},
		{"malformed service", withConf("services=web"), []string{`t/template.conf:2: services: "web" is not NAME:PORT`}},
		{"bad service", withConf("services=Web:80;db:0;x:http;y:53/sctp;y:54"), []string{
			`t/template.conf:2: services: service name "Web" must be lowercase`,
			"t/template.conf:2: services: db: port 0 is outside 1–65535",
			`t/template.conf:2: services: x: port "http" is not a whole number`,
			`t/template.conf:2: services: y: protocol "sctp" is not tcp or udp`,
			`t/template.conf:2: services: "y" is given twice`}},
		{"template.conf not UTF-8", map[string]string{"t/template.conf": validConf + "description=caf\xe9\ncores=0\n"}, []string{
			"t/template.conf:2: line is not valid UTF-8", "t/template.conf:3: cores: 0 is outside"}},
		{"os_template on a line that is not UTF-8", map[string]string{"t/template.conf": "os_template=\xff\n"}, []string{"t/template.conf:1: line is not valid UTF-8"}},

		// config.env
		{"config.env problems", with(withConf(), "t/config.env", "GOOD=1\nBAD-NAME=x\nGOOD=2\nBIG="+long(32769, "v")+"\nnoequals\n"), []string{
			`t/config.env:2: "BAD-NAME" is not a valid key`, "t/config.env:3: GOOD is already set on line 1",
			"t/config.env:4: BIG: value is longer than 32768 characters", `t/config.env:5: expected KEY=VALUE`}},
		{"too many variables", with(withConf(), "t/config.env", func() string {
			var b strings.Builder
			for i := range 257 {
				b.WriteString("V" + strings.Repeat("x", i%7) + string(rune('a'+i%26)) + string(rune('a'+i/26)) + "=1\n")
			}
			return b.String()
		}()), []string{"t/config.env: 257 variables, at most 256 allowed"}},

		// packages
		{"unknown package manager", with(withConf(), "t/packages.yum", "curl\n"), []string{`t/packages.yum: "yum" is not a package manager`}},
		{"package problems", with(withConf(), "t/packages.apt", "curl\nNginx\nvim git\nfoo;rm\ncurl\n"), []string{
			`t/packages.apt:2: "Nginx" is not an apt package`, `t/packages.apt:3: one package per line, got "vim git"`,
			`t/packages.apt:4: "foo;rm" is not a package name`, "t/packages.apt:5: curl is already listed on line 1"}},
		{"pip pins", with(withConf(), "t/packages.pip", "requests==2.32.3\nflask>=3\nbad pkg\n"), []string{`t/packages.pip:3: one package per line`}},
		{"empty package list", with(withConf(), "t/packages.npm", "# nothing yet\n\n"), []string{"t/packages.npm: lists no packages"}},
		{"too many inline packages", with(withConf(), "t/packages.apk", func() string {
			var b strings.Builder
			for i := range 65 {
				b.WriteString("pkg" + string(rune('a'+i%26)) + string(rune('a'+i/26)) + "\n")
			}
			return b.String()
		}()), []string{"t/packages.apk: 65 packages, at most 64 allowed in one list; move them to a bucket"}},

		// scripts
		{"hidden script", with(withConf(), "t/scripts/.gitkeep", ""), []string{"t/scripts/.gitkeep: hidden file in scripts/"}},
		{"script without a usable name", with(withConf(), "t/scripts/---.sh", "#!/bin/sh\n"), []string{`t/scripts/---.sh: file name "---.sh" gives no valid script name`}},
		{"script names collide", with(withConf(), "t/scripts/10-Setup.sh", "#!/bin/sh\n", "t/scripts/10-setup.py", "#!/usr/bin/python3\n"), []string{`t/scripts/10-setup.py: gives the script name "10-setup", as 10-Setup.sh does`}},
		{"binary script", with(withConf(), "t/scripts/run", "#!/bin/sh\necho \xff\n"), []string{"t/scripts/run:2: not UTF-8 text"}},
		{"script with NUL", with(withConf(), "t/scripts/run", "ELF\x00"), []string{"t/scripts/run:1: contains a NUL byte"}},
		{"script too long", with(withConf(), "t/scripts/run", long(262145, "x")), []string{"t/scripts/run: 262145 characters, more than the 262144 allowed"}},
		{"directory in scripts", with(withConf(), "t/scripts/lib/", ""), []string{"t/scripts/lib: expected a file, found a directory"}},
		{"symlinked script", with(withConf(), "t/scripts/run", "->/etc/passwd"), []string{"t/scripts/run: expected a file, found a symbolic link"}},
		{"empty scripts directory", with(withConf(), "t/scripts/", ""), []string{"t/scripts: the directory is empty"}},
		{"scripts.conf problems", with(withConf(), "t/scripts/10-a.sh", "#!/bin/sh\n", "t/scripts.conf",
			"10-a.sh timeout=0\n20-b.sh timeout=5\n10-a.sh timeout=5\n\"open\n"), []string{
			"t/scripts.conf:1: timeout: 0 is outside 1–86400", "t/scripts.conf:2: 20-b.sh is not a script in scripts/",
			"t/scripts.conf:3: 10-a.sh is already configured on line 1", "t/scripts.conf:4: unterminated double quote"}},
		{"scripts.conf settings", with(withConf(), "t/scripts/10-a.sh", "#!/bin/sh\n", "t/scripts.conf",
			"10-a.sh retries=3 timeout timeout=1 timeout=2 timeout=\n"), []string{
			`t/scripts.conf:1: unknown setting "retries"`, `t/scripts.conf:1: "timeout" is not KEY=VALUE`,
			"t/scripts.conf:1: timeout is given twice", "t/scripts.conf:1: timeout is empty"}},
		{"scripts.conf without scripts", with(withConf(), "t/scripts.conf", "run.sh timeout=5\n"), []string{"t/scripts.conf:1: run.sh is not a script in scripts/"}},

		// files
		{"file path with a bad character", with(withConf(), "t/files/etc/a$b", "x\n"), []string{`t/files/etc/a$b: path "/etc/a$b" may hold only`}},
		{"file inside config-manager", with(withConf(), "t/files/etc/config-manager/config.env", "X=1\n"), []string{`t/files/etc/config-manager/config.env: path "/etc/config-manager/config.env" is inside the config-manager's own directories`}},
		{"empty directory in files", with(withConf(), "t/files/etc/empty/", ""), []string{"t/files/etc/empty: the directory is empty"}},
		{"binary file", with(withConf(), "t/files/usr/bin/tool", "\x7fELF\xff\x00"), []string{"t/files/usr/bin/tool:1: not UTF-8 text"}},
		{"symlinked file", with(withConf(), "t/files/etc/link", "->/etc/hostname"), []string{"t/files/etc/link: expected a file, found a symbolic link"}},
		{"file too large", with(withConf(), "t/files/big", long(1048577, "x")), []string{"t/files/big: 1048577 characters, more than the 1048576 allowed"}},
		{"files.conf problems", with(withConf(), "t/files/etc/motd", "hi\n", "t/files.conf", strings.Join([]string{
			"etc/motd mode=0644",
			"/etc/issue policy=backup",
			"/etc/motd mode=888 owner=Root policy=keep",
			"/etc/motd mode=0600",
			"/etc/secret secret=Bad_Name:key",
			"/etc/both secret=s:k configmap=c:k",
			"/etc/motd2 configmap=c",
			"/etc/../shadow mode=0600",
		}, "\n")+"\n"), []string{
			`t/files.conf:1: path "etc/motd" is not absolute`,
			"t/files.conf:2: /etc/issue is not a file in files/ (expected t/files/etc/issue) and has no secret= or configmap=",
			`t/files.conf:3: mode "888" is not an octal file mode`,
			`t/files.conf:3: owner "Root" is not user or user:group`,
			`t/files.conf:3: policy "keep" is not replace, default or backup`,
			"t/files.conf:4: /etc/motd is already configured on line 3",
			`t/files.conf:5: secret: name "Bad_Name" is not a valid object name`,
			"t/files.conf:6: give only one of secret= and configmap=",
			`t/files.conf:7: configmap: "c" is not NAME:KEY`,
			`t/files.conf:8: path "/etc/../shadow" must not contain . or .. segments`}},
		{"file both in the tree and from a Secret", with(withConf(), "t/files/etc/token", "x\n", "t/files.conf", "/etc/token secret=tok:token\n"), []string{
			"t/files.conf:1: /etc/token has content in files/ and from a Secret; give only one"}},
		{"template too large", with(withConf(), "t/files/a", long(900000, "x"), "t/files/b", long(900000, "y")), []string{
			"t/template.conf: the template is 18"}},

		// buckets
		{"bucket problems", with(withConf(), "buckets/noext", "curl\n", "buckets/base.yum", "curl\n", "buckets/Base.apt", "curl\n",
			"buckets/tools.apt", "curl\n", "buckets/tools.pip", "httpie\n", "buckets/empty.apk", "# description: nothing\n", "buckets/sub/", ""), []string{
			`buckets/Base.apt: bucket name: "Base" is not a valid object name`,
			`buckets/base.yum: "yum" is not a package manager`,
			"buckets/empty.apk: lists no packages",
			"buckets/noext: a bucket file is named <name>.<manager>",
			"buckets/sub: expected a file, found a directory",
			`buckets/tools.pip: bucket "tools" is already defined by buckets/tools.apt`}},
		{"bucket description too long", with(withConf(), "buckets/b.apt", "# description: "+long(1025, "d")+"\ncurl\n"), []string{"buckets/b.apt:1: description is longer than 1024 characters"}},
		{"bucket package problems", with(withConf(), "buckets/b.npm", "@scope/tool@1.2.3\nleft-pad\n$(reboot)\n"), []string{`buckets/b.npm:3: "$(reboot)" is not a package name`}},

		// layout
		{"unexpected top-level file", with(withConf(), "notes.txt", "x"), []string{"notes.txt: unexpected file at the top of the template directory"}},
		{"a single template", map[string]string{"template.conf": validConf}, []string{
			".: no templates found", "template.conf: this is a single template directory; import the directory that holds it"}},
		{"no templates", map[string]string{"README.md": "empty store"}, []string{".: no templates found"}},
		{"missing template.conf", with(withConf(), "u/config.env", "A=1\n"), []string{"u/template.conf: missing: every template directory needs one"}},
		{"unexpected file in a template", with(withConf(), "t/notes.txt", "x", "t/extra/", ""), []string{
			"t/extra: unexpected directory in a template directory", "t/notes.txt: unexpected file in a template directory"}},
		{"template.conf is a directory", map[string]string{"t/template.conf/": ""}, []string{"t/template.conf: expected a file, found a directory"}},
		{"scripts is a file", with(withConf(), "t/scripts", "x"), []string{"t/scripts: expected a directory, found a file"}},
		{"duplicate template names", with(withConf("name=web"), "u/template.conf", validConf+"name=web\n"), []string{`u/template.conf:2: template name "web" is already used by t`}},
		{"buckets is a file", with(withConf(), "buckets", "x"), []string{"buckets: expected a directory, found a file"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := writeStore(t, tc.store)
			_, err := Import(root, Options{})
			var problems Problems
			if !errors.As(err, &problems) {
				t.Fatalf("Import returned %v, want problems", err)
			}
			wantProblems(t, problems, tc.want...)
		})
	}
}

// TestEveryProblemIsReported checks that the import goes on after a problem and reports those
// of every file and template.
func TestEveryProblemIsReported(t *testing.T) {
	root := writeStore(t, map[string]string{
		"a/template.conf": "os_template=bad\ncores=0\ncolour=red\n",
		"a/packages.apt":  "Nginx\n",
		"a/files.conf":    "/etc/none mode=0644\n",
		"b/template.conf": validConf + "tags=A\npackage_buckets=missing\n",
		"b/scripts/x.sh":  "\xff",
		"buckets/bad.apt": "Bad\n",
		"stray":           "",
	})
	_, err := Import(root, Options{})
	var problems Problems
	if !errors.As(err, &problems) {
		t.Fatalf("Import returned %v, want problems", err)
	}
	wantProblems(t, problems,
		"a/files.conf:1: /etc/none is not a file in files/",
		"a/packages.apt:1: \"Nginx\" is not an apt package",
		"a/template.conf:1: os_template: ",
		"a/template.conf:2: cores: 0 is outside",
		"a/template.conf:3: unknown key \"colour\"",
		"b/scripts/x.sh:1: not UTF-8 text",
		"b/template.conf:2: tags: tag \"A\"",
		"b/template.conf:3: package_buckets: no bucket \"missing\"",
		"buckets/bad.apt:1: \"Bad\" is not an apt package",
		"stray: unexpected file",
	)
}

func TestImportRefusesBadArguments(t *testing.T) {
	if _, err := Import(filepath.Join(t.TempDir(), "absent"), Options{}); err == nil {
		t.Error("importing a missing directory succeeded")
	}
	if _, err := Import(sampleDir, Options{Namespace: "Not_A_Namespace"}); err == nil || !strings.Contains(err.Error(), "namespace") {
		t.Errorf("bad namespace: got %v", err)
	}
	file := filepath.Join(sampleDir, "README.md")
	if _, err := Import(file, Options{}); err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Errorf("importing a file: got %v", err)
	}
}
