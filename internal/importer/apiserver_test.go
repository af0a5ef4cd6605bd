package importer

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
	"templatemanager.dev/lxc-template-manager/internal/testenv"
)

// startControlPlane starts etcd and kube-apiserver with the project's CRDs for one test.
func startControlPlane(t *testing.T) *testenv.Env {
	t.Helper()
	env, err := testenv.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := env.Stop(); err != nil {
			t.Errorf("stopping the control plane: %v", err)
		}
	})
	return env
}

// TestAPIServer runs the checks that need a real kube-apiserver under one control plane.
func TestAPIServer(t *testing.T) {
	if testing.Short() {
		t.Skip("needs a kube-apiserver")
	}
	env := startControlPlane(t)
	t.Run("SampleManifestsAreStored", func(t *testing.T) { testSampleManifestsAreStored(t, env) })
	t.Run("VerdictsMatchTheAPIServer", func(t *testing.T) { testVerdictsMatchTheAPIServer(t, env) })
}

// testSampleManifestsAreStored imports the sample store, decodes the YAML the command writes
// and creates every object for real, then reads a template back.
func testSampleManifestsAreStored(t *testing.T, env *testenv.Env) {
	ctx := context.Background()
	const ns = "imported"
	if err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}
	res, err := Import(sampleDir, Options{Namespace: ns})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := WriteYAML(&out, res); err != nil {
		t.Fatal(err)
	}
	dec := utilyaml.NewYAMLOrJSONDecoder(&out, 4096)
	var created []string
	for {
		obj := &unstructured.Unstructured{}
		if err := dec.Decode(&obj.Object); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("decoding the output: %v", err)
		}
		if err := env.Client.Create(ctx, obj); err != nil {
			t.Errorf("%s %s rejected: %v", obj.GetKind(), obj.GetName(), err)
			continue
		}
		created = append(created, obj.GetKind()+"/"+obj.GetName())
	}
	if got, want := strings.Join(created, " "), "PackageBucket/monitoring PackageBucket/web-base LXCTemplate/dns LXCTemplate/hello-web"; got != want {
		t.Fatalf("created %s, want %s", got, want)
	}

	var web lxcv1.LXCTemplate
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "hello-web"}, &web); err != nil {
		t.Fatal(err)
	}
	want := res.Templates[1].Spec
	if len(web.Spec.Files) != len(want.Files) || len(web.Spec.Scripts) != len(want.Scripts) || len(web.Spec.Tags) != 3 {
		t.Errorf("stored template lost entries: %+v", web.Spec)
	}
	for i, f := range web.Spec.Files {
		if f.Path != want.Files[i].Path || *f.Content != *want.Files[i].Content {
			t.Errorf("file %d: stored %s, imported %s", i, f.Path, want.Files[i].Path)
		}
		// The API server defaults the policy the importer leaves unset.
		if want.Files[i].Policy == "" && f.Policy != lxcv1.FilePolicyReplace {
			t.Errorf("file %s: policy defaulted to %q, want replace", f.Path, f.Policy)
		}
	}
}

// verdictCase is one template whose import verdict is compared with the API server's.
type verdictCase struct {
	name  string
	store map[string]string
	valid bool // whether the importer should accept it
	// store holds exactly one template or one bucket.
	// stricter marks a rule the importer adds to the API's: a gateway without a static
	// address, which the API admits but which has no effect.
	stricter bool
}

// testVerdictsMatchTheAPIServer imports templates that are valid or break one rule and checks
// that the API server accepts exactly those the importer accepts, so the importer's checks
// are the API's rules rather than a guess at them.
func testVerdictsMatchTheAPIServer(t *testing.T, env *testenv.Env) {
	ctx := context.Background()
	long := strings.Repeat
	many := func(n int, format string) string {
		var items []string
		for i := range n {
			items = append(items, fmt.Sprintf(format, i))
		}
		return strings.Join(items, ";")
	}
	lines := func(n int, format string) string {
		return strings.ReplaceAll(many(n, format), ";", "\n") + "\n"
	}
	conf := func(lines ...string) map[string]string { return withConf(lines...) }
	cases := []verdictCase{
		// At the limits, and accepted.
		{name: "upper bounds", valid: true, store: conf("cores=8192", "memory=268435456", "swap=268435456", "disk=131072", "vlan=4094")},
		{name: "lower bounds", valid: true, store: conf("cores=1", "memory=16", "swap=0", "disk=1", "vlan=1")},
		{name: "tag characters", valid: true, store: conf("tags=a_b+c.d-e;_x;0;" + long("t", 64))},
		{name: "32 tags", valid: true, store: conf("tags=" + many(32, "t%d"))},
		{name: "other volid forms", valid: true, store: map[string]string{"t/template.conf": "os_template=nfs-1:vztmpl/alpine-3.19-default_20240207_amd64.tar.xz\n"}},
		{name: "tgz volid", valid: true, store: map[string]string{"t/template.conf": "os_template=local:vztmpl/centos.tgz\n"}},
		{name: "static address with gateway", valid: true, store: conf("ip=10.0.0.1/32", "gateway=10.0.0.1", "nameservers=2001:db8::1;10.0.0.2;1.1.1.1")},
		{name: "storage and bridge", valid: true, store: conf("storage=zfs_pool.1-a", "bridge="+long("b", 15))},
		{name: "file path characters", valid: true, store: with(conf(), "t/files/srv/a b/c@d+e=f,g:h~i", "x\n", "t/files.conf", `"/srv/a b/c@d+e=f,g:h~i" mode=755 owner=www-data policy=default`+"\n")},
		{name: "file from a Secret", valid: true, store: with(conf(), "t/files.conf", "/etc/token secret=tok.v1:token-key_1 mode=0600 owner=root:root policy=backup\n")},
		{name: "package forms", valid: true, store: with(conf(), "t/packages.apt", "libc6:amd64=2.36-9+deb12u4\ng++\n", "t/packages.pip", "requests[socks]>=2.31\nDjango~=5.0\n", "t/packages.npm", "@scope/tool@1.2.3\n", "t/packages.dnf", "kernel-6.1.0-1.fc39.x86_64\n")},
		{name: "services", valid: true, store: conf("services=a:1/udp;b.c_d-e:65535/TCP;f:80")},
		{name: "64 inline packages", valid: true, store: with(conf(), "t/packages.apt", lines(64, "pkg%d"))},
		{name: "long env value", valid: true, store: with(conf(), "t/config.env", "V="+long("v", 32768)+"\n")},
		{name: "longest description", valid: true, store: conf("description=" + long("d", 4096))},
		{name: "longest description in two-byte characters", valid: true, store: conf("description=" + long("é", 4096))},
		{name: "bucket of 256 packages", valid: true, store: map[string]string{"buckets/b.apt": "# description: " + long("é", 1024) + "\n" + lines(256, "pkg%d")}},
		{name: "pip bucket", valid: true, store: map[string]string{"buckets/py.tools.pip": "requests[socks]>=2.31\nDjango~=5.0\n"}},

		// One rule broken, and rejected.
		{name: "cores 0", store: conf("cores=0")},
		{name: "cores 8193", store: conf("cores=8193")},
		{name: "memory 15", store: conf("memory=15")},
		{name: "swap too large", store: conf("swap=268435457")},
		{name: "disk 0", store: conf("disk=0")},
		{name: "vlan 4095", store: conf("vlan=4095")},
		{name: "uppercase tag", store: conf("tags=Web")},
		{name: "tag starting with -", store: conf("tags=-x")},
		{name: "tag too long", store: conf("tags=" + long("t", 65))},
		{name: "duplicate tag", store: conf("tags=a;a")},
		{name: "33 tags", store: conf("tags=" + many(33, "t%d"))},
		{name: "iso volid", store: map[string]string{"t/template.conf": "os_template=local:iso/debian.iso\n"}},
		{name: "lz volid", store: map[string]string{"t/template.conf": "os_template=local:vztmpl/debian.tar.lz\n"}},
		{name: "storage starting with a digit", store: conf("storage=1local")},
		{name: "bridge too long", store: conf("bridge=" + long("b", 16))},
		{name: "ip without prefix", store: conf("ip=10.0.0.1")},
		{name: "ipv6 ip", store: conf("ip=2001:db8::1/64")},
		{name: "dhcp6", store: conf("ip=dhcp6")},
		{name: "gateway outside the network", store: conf("ip=10.0.0.5/24", "gateway=10.0.1.1")},
		{name: "gateway with dhcp", store: conf("ip=dhcp", "gateway=10.0.0.1")},
		{name: "bad nameserver", store: conf("nameservers=1.1.1")},
		{name: "4 nameservers", store: conf("nameservers=1.1.1.1;1.0.0.1;9.9.9.9;8.8.8.8")},
		{name: "description too long", store: conf("description=" + long("d", 4097))},
		{name: "description too long in two-byte characters", store: conf("description=" + long("é", 4097))},
		{name: "bucket of 257 packages", store: map[string]string{"buckets/b.apt": lines(257, "pkg%d")}},
		{name: "bucket description too long", store: map[string]string{"buckets/b.apt": "# description: " + long("d", 1025) + "\ncurl\n"}},
		{name: "uppercase package in an apt bucket", store: map[string]string{"buckets/b.apt": "Curl\n"}},
		{name: "duplicate inline package", store: with(conf(), "t/packages.apt", "curl\ncurl\n")},
		{name: "duplicate variable", store: with(conf(), "t/config.env", "A=1\nA=2\n")},
		{name: "duplicate package in a bucket", store: map[string]string{"buckets/b.npm": "left-pad\nleft-pad\n"}},
		{name: "bad mode", store: with(conf(), "t/files/etc/motd", "x\n", "t/files.conf", "/etc/motd mode=888\n")},
		{name: "bad owner", store: with(conf(), "t/files/etc/motd", "x\n", "t/files.conf", "/etc/motd owner=Root\n")},
		{name: "bad policy", store: with(conf(), "t/files/etc/motd", "x\n", "t/files.conf", "/etc/motd policy=keep\n")},
		{name: "path with $", store: with(conf(), "t/files/etc/a$b", "x\n")},
		{name: "path in config-manager", store: with(conf(), "t/files/var/lib/config-manager/state", "x\n")},
		{name: "bad secret name", store: with(conf(), "t/files.conf", "/etc/token secret=Tok:token\n")},
		{name: "bad secret key", store: with(conf(), "t/files.conf", "/etc/token secret=tok:a/b\n")},
		{name: "uppercase apt package", store: with(conf(), "t/packages.apt", "Nginx\n")},
		{name: "one-letter apt package", store: with(conf(), "t/packages.apt", "a\n")},
		{name: "shell in a package", store: with(conf(), "t/packages.pip", "a;b\n")},
		{name: "65 inline packages", store: with(conf(), "t/packages.apt", lines(65, "pkg%d"))},
		{name: "service port 0", store: conf("services=web:0")},
		{name: "uppercase service", store: conf("services=Web:80")},
		{name: "duplicate service", store: conf("services=web:80;web:81")},
		{name: "env value too long", store: with(conf(), "t/config.env", "V="+long("v", 32769)+"\n")},
		{name: "257 env variables", store: with(conf(), "t/config.env", lines(257, "V%d=1"))},

		{name: "gateway without ip", store: conf("gateway=10.0.0.1"), stricter: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res, problems := load(writeStore(t, tc.store), Options{Namespace: "default"})
			if got := len(problems) == 0; got != tc.valid {
				t.Fatalf("importer accepted=%v, want %v: %v", got, tc.valid, problems.Error())
			}
			var objects []client.Object
			for i := range res.Buckets {
				objects = append(objects, &res.Buckets[i])
			}
			for i := range res.Templates {
				objects = append(objects, &res.Templates[i])
			}
			if len(objects) != 1 {
				t.Fatalf("got %d objects, want 1", len(objects))
			}
			err := env.Client.Create(ctx, objects[0], client.DryRunAll)
			serverAccepted := err == nil
			switch {
			case tc.stricter && !serverAccepted:
				t.Errorf("the API server now rejects what only the importer was meant to: %v", err)
			case !tc.stricter && serverAccepted != tc.valid:
				t.Errorf("API server accepted=%v but importer accepted=%v (importer: %v; server: %v)",
					serverAccepted, tc.valid, problems.Error(), err)
			}
		})
	}
}
