package v1alpha1_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"templatemanager.dev/lxc-template-manager/internal/testenv"
	"templatemanager.dev/lxc-template-manager/internal/testkit"
)

var env *testenv.Env

func TestMain(m *testing.M) {
	// Under -short no control plane starts, and the tests that need one skip.
	if testkit.Short() {
		os.Exit(m.Run())
	}
	var err error
	env, err = testenv.Start()
	if err != nil {
		println(err.Error())
		os.Exit(1)
	}
	code := m.Run()
	if err := env.Stop(); err != nil {
		println(err.Error())
	}
	os.Exit(code)
}

// decode parses one YAML manifest.
func decode(t *testing.T, manifest string) *unstructured.Unstructured {
	t.Helper()
	obj := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(manifest), &obj.Object); err != nil {
		t.Fatalf("bad test manifest: %v\n%s", err, manifest)
	}
	return obj
}

func TestSamplesAreAccepted(t *testing.T) {
	testkit.SkipUnlessFull(t, testkit.ControlPlane)
	ctx := context.Background()
	files, err := filepath.Glob(filepath.Join(testenv.RepoRoot(), "config", "samples", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no samples found: %v", err)
	}
	kinds := map[string]bool{}
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		dec := utilyaml.NewYAMLOrJSONDecoder(strings.NewReader(string(data)), 4096)
		for {
			obj := &unstructured.Unstructured{}
			if err := dec.Decode(&obj.Object); err != nil {
				break
			}
			if len(obj.Object) == 0 {
				continue
			}
			if obj.GetNamespace() == "" && obj.GetKind() != "ProxmoxCluster" {
				obj.SetNamespace("default")
			}
			if err := env.Client.Create(ctx, obj, client.DryRunAll); err != nil {
				t.Errorf("%s: %s %s rejected: %v", filepath.Base(file), obj.GetKind(), obj.GetName(), err)
			}
			kinds[obj.GetKind()] = true
		}
	}
	for _, kind := range []string{"ProxmoxCluster", "PackageBucket", "LXCTemplate", "LXCContainer"} {
		if !kinds[kind] {
			t.Errorf("config/samples has no %s", kind)
		}
	}
}

const (
	clusterHead = `apiVersion: lxc.templatemanager.dev/v1alpha1
kind: ProxmoxCluster
metadata: {name: bad}
`
	bucketHead = `apiVersion: lxc.templatemanager.dev/v1alpha1
kind: PackageBucket
metadata: {name: bad, namespace: default}
`
	templateHead = `apiVersion: lxc.templatemanager.dev/v1alpha1
kind: LXCTemplate
metadata: {name: bad, namespace: default}
`
	containerHead = `apiVersion: lxc.templatemanager.dev/v1alpha1
kind: LXCContainer
metadata: {name: bad, namespace: default}
`
	goodCluster  = "spec:\n  credentialsRef: {namespace: lxc-template-manager-system, name: pve}\n"
	goodTemplate = "spec:\n  osTemplate: local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst\n"
	goodRefs     = "spec:\n  clusterRef: {name: pve}\n  templateRef: {name: web}\n"
)

// controlPlane skips a test that needs the API server unless the full suite runs, and fails it
// when the API server did not start.
func controlPlane(t *testing.T) context.Context {
	t.Helper()
	testkit.SkipUnlessFull(t, testkit.ControlPlane)
	if env == nil {
		t.Fatal("the control plane did not start")
	}
	return context.Background()
}

// refusal is a manifest the API server must refuse, and what its error must name: the field
// path and the reason.
type refusal struct {
	name, manifest string
	want           []string
}

// expectAllRefused dry-runs each refusal as a subtest of its own.
func expectAllRefused(t *testing.T, ctx context.Context, refused []refusal) {
	t.Helper()
	for _, c := range refused {
		t.Run(c.name, func(t *testing.T) { expectRefused(t, ctx, c.manifest, c.want) })
	}
}

// spec joins a manifest head, a base spec and a fragment of further spec fields.
// expectRefused dry-runs manifest and expects the API server to refuse it with an error
// naming each of want.
func expectRefused(t *testing.T, ctx context.Context, manifest string, want []string) {
	t.Helper()
	err := env.Client.Create(ctx, decode(t, manifest), client.DryRunAll)
	if err == nil {
		t.Fatalf("accepted:\n%s", manifest)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error does not mention %q:\n%v", w, err)
		}
	}
}

func spec(head, base, fragment string) string {
	return head + base + fragment
}

func TestInvalidManifestsAreRejected(t *testing.T) {
	testkit.SkipUnlessFull(t, testkit.ControlPlane)
	ctx := context.Background()
	cases := []struct {
		name     string
		manifest string
		// every string must appear in the API server's error: the field path and the reason.
		want []string
	}{
		// LXCTemplate resources
		{"cores zero", spec(templateHead, goodTemplate, "  resources: {cores: 0}\n"),
			[]string{"spec.resources.cores", "should be greater than or equal to 1"}},
		{"memory below 16 MiB", spec(templateHead, goodTemplate, "  resources: {memoryMiB: 8}\n"),
			[]string{"spec.resources.memoryMiB", "should be greater than or equal to 16"}},
		{"disk zero", spec(templateHead, goodTemplate, "  resources: {diskGiB: 0}\n"),
			[]string{"spec.resources.diskGiB", "should be greater than or equal to 1"}},
		{"negative swap", spec(templateHead, goodTemplate, "  resources: {swapMiB: -1}\n"),
			[]string{"spec.resources.swapMiB", "should be greater than or equal to 0"}},
		{"container memory override below 16 MiB", spec(containerHead, goodRefs, "  resources: {memoryMiB: 15}\n"),
			[]string{"spec.resources.memoryMiB", "should be greater than or equal to 16"}},
		// scripts
		{"duplicate script names", spec(templateHead, goodTemplate,
			"  scripts:\n  - {name: setup, content: 'true'}\n  - {name: setup, content: 'false'}\n"),
			[]string{"spec.scripts[1]", "Duplicate value"}},
		{"script name with a slash", spec(templateHead, goodTemplate, "  scripts:\n  - {name: ../etc, content: 'true'}\n"),
			[]string{"spec.scripts[0].name", "should match"}},
		{"script name with a space", spec(templateHead, goodTemplate, "  scripts:\n  - {name: my script, content: 'true'}\n"),
			[]string{"spec.scripts[0].name", "should match"}},
		{"script with two sources", spec(templateHead, goodTemplate,
			"  scripts:\n  - {name: s, content: 'true', configMapRef: {name: cm, key: k}}\n"),
			[]string{"spec.scripts[0]", "exactly one of content or configMapRef"}},
		{"script without a source", spec(templateHead, goodTemplate, "  scripts:\n  - {name: s}\n"),
			[]string{"spec.scripts[0]", "exactly one of content or configMapRef"}},
		{"script timeout zero", spec(templateHead, goodTemplate, "  scripts:\n  - {name: s, content: 'true', timeoutSeconds: 0}\n"),
			[]string{"spec.scripts[0].timeoutSeconds", "greater than or equal to 1"}},
		// files
		{"relative file path", spec(templateHead, goodTemplate, "  files:\n  - {path: etc/motd, content: hi}\n"),
			[]string{"spec.files[0].path", "should match"}},
		{"file path with ..", spec(templateHead, goodTemplate, "  files:\n  - {path: /etc/../root/.ssh/authorized_keys, content: hi}\n"),
			[]string{"spec.files[0].path", "must not contain . or .. segments"}},
		{"unknown file policy", spec(templateHead, goodTemplate, "  files:\n  - {path: /etc/motd, content: hi, policy: merge}\n"),
			[]string{"spec.files[0].policy", "Unsupported value", `"replace"`}},
		{"file with two content sources", spec(templateHead, goodTemplate,
			"  files:\n  - {path: /etc/motd, content: hi, secretRef: {name: s, key: k}}\n"),
			[]string{"spec.files[0]", "exactly one of content, secretRef or configMapRef"}},
		{"file mode not octal", spec(templateHead, goodTemplate, "  files:\n  - {path: /etc/motd, content: hi, mode: '0999'}\n"),
			[]string{"spec.files[0].mode", "should match"}},
		{"file inside config-manager", spec(templateHead, goodTemplate, "  files:\n  - {path: /etc/config-manager/config.env, content: hi}\n"),
			[]string{"spec.files[0].path", "config-manager's own directories"}},
		// packages
		{"package name with ;", spec(bucketHead, "spec:\n  manager: apt\n", "  packages: ['curl;reboot']\n"),
			[]string{"spec.packages[0]", "should match"}},
		{"package name with &&", spec(bucketHead, "spec:\n  manager: apt\n", "  packages: ['curl&&reboot']\n"),
			[]string{"spec.packages[0]", "should match"}},
		{"package name with $(", spec(templateHead, goodTemplate, "  packages:\n  - {manager: pip, names: ['$(reboot)']}\n"),
			[]string{"spec.packages[0].names[0]", "should match"}},
		{"package name with a space", spec(containerHead, goodRefs, "  packages:\n    extra:\n    - {manager: npm, names: ['left pad']}\n"),
			[]string{"spec.packages.extra[0].names[0]", "should match"}},
		{"unknown package manager", spec(bucketHead, "spec:\n  manager: yum\n", "  packages: [curl]\n"),
			[]string{"spec.manager", "Unsupported value", `"apt"`}},
		{"apt package in upper case", spec(bucketHead, "spec:\n  manager: apt\n", "  packages: [Curl]\n"),
			[]string{"spec.packages", "apt package names are lowercase"}},
		{"npm package in upper case", spec(bucketHead, "spec:\n  manager: npm\n", "  packages: [LeftPad]\n"),
			[]string{"spec.packages", "npm package names are"}},
		{"pip package pinned with @", spec(templateHead, goodTemplate, "  packages:\n  - {manager: pip, names: ['requests@2.0']}\n"),
			[]string{"spec.packages[0].names", "pip package names are"}},
		{"file under /proc", spec(templateHead, goodTemplate, "  files:\n  - {path: /proc/sys/kernel/hostname, content: x}\n"),
			[]string{"spec.files[0].path", "must not be inside /proc"}},
		{"empty package bucket", spec(bucketHead, "spec:\n  manager: apt\n", "  packages: []\n"),
			[]string{"spec.packages", "should have at least 1 items"}},
		// mount points, update strategy
		{"mount point at /", spec(containerHead, goodRefs, "  mountPoints:\n  - {index: 0, path: /, sizeGiB: 1}\n"),
			[]string{"spec.mountPoints[0].path", "should be at least 2 chars long"}},
		{"mount point with ..", spec(containerHead, goodRefs, "  mountPoints:\n  - {index: 0, path: /srv/../etc, sizeGiB: 1}\n"),
			[]string{"spec.mountPoints[0].path", "must not contain . or .. segments"}},
		{"mount point under /proc", spec(templateHead, goodTemplate, "  mountPoints:\n  - {index: 0, path: /proc/x, sizeGiB: 1}\n"),
			[]string{"spec.mountPoints[0].path", "must not be inside /proc"}},
		{"two mount points at one path", spec(containerHead, goodRefs,
			"  mountPoints:\n  - {index: 0, path: /srv/data, sizeGiB: 1}\n  - {index: 1, path: /srv/data, sizeGiB: 1}\n"),
			[]string{"spec.mountPoints", "mount point paths must be unique"}},
		{"two mount points with one index", spec(containerHead, goodRefs,
			"  mountPoints:\n  - {index: 0, path: /srv/a, sizeGiB: 1}\n  - {index: 0, path: /srv/b, sizeGiB: 1}\n"),
			[]string{"spec.mountPoints[1]", "Duplicate value"}},
		{"mount point index above 255", spec(containerHead, goodRefs, "  mountPoints:\n  - {index: 256, path: /srv/a, sizeGiB: 1}\n"),
			[]string{"spec.mountPoints[0].index", "less than or equal to 255"}},
		{"mount point of size zero", spec(containerHead, goodRefs, "  mountPoints:\n  - {index: 0, path: /srv/a, sizeGiB: 0}\n"),
			[]string{"spec.mountPoints[0].sizeGiB", "greater than or equal to 1"}},
		{"unknown update strategy", spec(containerHead, goodRefs, "  updateStrategy: Rolling\n"),
			[]string{"spec.updateStrategy", "Unsupported value", `"InPlace"`}},
		{"search domain with a blank", spec(containerHead, goodRefs, "  network: {searchDomains: ['example test']}\n"),
			[]string{"spec.network.searchDomains[0]", "should match"}},
		{"startup order below zero", spec(containerHead, goodRefs, "  startup: {order: -1}\n"),
			[]string{"spec.startup.order", "greater than or equal to 0"}},
		// osTemplate, tags
		{"osTemplate as a bare file name", templateHead + "spec:\n  osTemplate: debian-12-standard_12.7-1_amd64.tar.zst\n",
			[]string{"spec.osTemplate", "<storage>:vztmpl/<file>"}},
		{"osTemplate of the wrong content type", templateHead + "spec:\n  osTemplate: local:iso/debian-12.iso\n",
			[]string{"spec.osTemplate", "<storage>:vztmpl/<file>"}},
		{"missing osTemplate", templateHead + "spec:\n  description: x\n",
			[]string{"spec.osTemplate", "Required value"}},
		{"osTemplate short form in upper case", templateHead + "spec:\n  osTemplate: Debian-12-standard\n",
			[]string{"spec.osTemplate", "short form such as debian-12-standard"}},
		{"osTemplate short form with a blank", templateHead + "spec:\n  osTemplate: 'debian 12'\n",
			[]string{"spec.osTemplate", "short form such as debian-12-standard"}},
		{"osTemplate short form with a slash", templateHead + "spec:\n  osTemplate: vztmpl/debian-12-standard\n",
			[]string{"spec.osTemplate", "short form such as debian-12-standard"}},
		{"apt glob with shell after it", spec(bucketHead, "spec:\n  manager: apt\n", "  packages: ['nodejs=24.*;id']\n"),
			[]string{"spec.packages[0]", "should match"}},
		{"apt glob in the name", spec(bucketHead, "spec:\n  manager: apt\n", "  packages: ['node*']\n"),
			[]string{"spec.packages", "apt package names are lowercase"}},
		{"apt release with ..", spec(bucketHead, "spec:\n  manager: apt\n", "  packages: ['nginx/../x']\n"),
			[]string{"spec.packages", "apt package names are lowercase"}},
		{"pip specifier list with a blank", spec(bucketHead, "spec:\n  manager: pip\n", "  packages: ['requests>=2, <3']\n"),
			[]string{"spec.packages[0]", "should match"}},
		{"pip specifier with a redirection", spec(bucketHead, "spec:\n  manager: pip\n", "  packages: ['requests>/etc/passwd']\n"),
			[]string{"spec.packages[0]", "should match"}},
		{"npm caret range with shell", spec(templateHead, goodTemplate, "  packages:\n  - {manager: npm, names: ['tool@^1.2;id']}\n"),
			[]string{"spec.packages[0].names[0]", "should match"}},
		{"empty script check", spec(templateHead, goodTemplate, "  scripts:\n  - {name: s, content: 'true', check: ''}\n"),
			[]string{"spec.scripts[0].check", "at least 1 chars"}},
		{"script check too long", spec(templateHead, goodTemplate, "  scripts:\n  - {name: s, content: 'true', check: '"+strings.Repeat("x", 4097)+"'}\n"),
			[]string{"spec.scripts[0].check", "Too long"}},
		{"tag with a space", spec(templateHead, goodTemplate, "  tags: ['web server']\n"),
			[]string{"spec.tags[0]", "should match"}},
		// network
		{"invalid ipv4", spec(templateHead, goodTemplate, "  network: {ipv4: 10.0.0.300/24}\n"),
			[]string{"spec.network.ipv4", "must be \"dhcp\" or an IPv4 address in CIDR notation"}},
		{"ipv4 without prefix length", spec(containerHead, goodRefs, "  network: {ipv4: 10.0.0.5}\n"),
			[]string{"spec.network.ipv4", "must be \"dhcp\" or an IPv4 address in CIDR notation"}},
		{"ipv6 given as ipv4", spec(templateHead, goodTemplate, "  network: {ipv4: 'fd00::5/64'}\n"),
			[]string{"spec.network.ipv4", "must be \"dhcp\" or an IPv4 address in CIDR notation"}},
		{"gateway with dhcp", spec(templateHead, goodTemplate, "  network: {ipv4: dhcp, gateway: 10.0.0.1}\n"),
			[]string{"spec.network.gateway", "gateway must not be set when ipv4 is dhcp"}},
		{"gateway outside the network", spec(containerHead, goodRefs, "  network: {ipv4: 10.0.0.5/24, gateway: 10.9.0.1}\n"),
			[]string{"spec.network.gateway", "inside the ipv4 network"}},
		{"invalid gateway", spec(templateHead, goodTemplate, "  network: {ipv4: 10.0.0.5/24, gateway: gw.local}\n"),
			[]string{"spec.network.gateway", "must be an IPv4 address"}},
		{"invalid nameserver", spec(templateHead, goodTemplate, "  network: {nameservers: [dns.local]}\n"),
			[]string{"spec.network.nameservers[0]", "must be IP addresses"}},
		// LXCContainer
		{"hostname not a DNS label", spec(containerHead, goodRefs, "  hostname: Web_1\n"),
			[]string{"spec.hostname", "should match"}},
		{"hostname too long", spec(containerHead, goodRefs, "  hostname: "+strings.Repeat("a", 64)+"\n"),
			[]string{"spec.hostname", "Too long"}},
		{"name not a DNS label without hostname", `apiVersion: lxc.templatemanager.dev/v1alpha1
kind: LXCContainer
metadata: {name: web.example, namespace: default}
` + goodRefs, []string{"spec.hostname is required when metadata.name is not a DNS label"}},
		{"vmid below 100", spec(containerHead, goodRefs, "  vmid: 99\n"),
			[]string{"spec.vmid", "greater than or equal to 100"}},
		{"vmid above 999999999", spec(containerHead, goodRefs, "  vmid: 1000000000\n"),
			[]string{"spec.vmid", "less than or equal to 999999999"}},
		{"unknown powerState", spec(containerHead, goodRefs, "  powerState: Paused\n"),
			[]string{"spec.powerState", "Unsupported value", `"Running"`}},
		{"unknown deletionPolicy", spec(containerHead, goodRefs, "  deletionPolicy: Orphan\n"),
			[]string{"spec.deletionPolicy", "Unsupported value", `"Retain"`}},
		{"missing templateRef", containerHead + "spec:\n  clusterRef: {name: pve}\n",
			[]string{"spec.templateRef", "Required value"}},
		{"missing clusterRef", containerHead + "spec:\n  templateRef: {name: web}\n",
			[]string{"spec.clusterRef", "Required value"}},
		{"ssh key that is not a key", spec(containerHead, goodRefs, "  sshPublicKeys: ['hello world this is not a key']\n"),
			[]string{"spec.sshPublicKeys[0]", "should match"}},
		{"ssh key with shell in the comment line", spec(containerHead, goodRefs, "  sshPublicKeys: [\"ssh-ed25519 AAAA\\nrm -rf /\"]\n"),
			[]string{"spec.sshPublicKeys[0]", "should match"}},
		{"private key given as a public key", spec(containerHead, goodRefs, "  sshPublicKeys: ['-----BEGIN OPENSSH PRIVATE KEY-----']\n"),
			[]string{"spec.sshPublicKeys[0]", "should match"}},
		{"env name not a shell name", spec(containerHead, goodRefs, "  config:\n    env:\n    - {name: 'A-B', value: x}\n"),
			[]string{"spec.config.env[0].name", "should match"}},
		{"envFrom with two sources", spec(containerHead, goodRefs, "  config:\n    envFrom:\n    - {configMapRef: {name: a}, secretRef: {name: b}}\n"),
			[]string{"spec.config.envFrom[0]", "exactly one of configMapRef or secretRef"}},
		// ProxmoxCluster
		{"endpoint over http", clusterHead + goodCluster + "  endpoint: http://pve.example.com:8006/api2/json\n",
			[]string{"spec.endpoint", "must be an https URL"}},
		{"endpoint not a URL", clusterHead + goodCluster + "  endpoint: pve.example.com:8006\n",
			[]string{"spec.endpoint", "must be an https URL"}},
		{"endpoint with a query", clusterHead + goodCluster + "  endpoint: https://pve.example.com:8006/api2/json?x=1\n",
			[]string{"spec.endpoint", "must not carry a query"}},
		{"missing credentialsRef", clusterHead + "spec:\n  endpoint: https://pve.example.com:8006/api2/json\n",
			[]string{"spec.credentialsRef", "Required value"}},
		{"CA together with insecureSkipVerify", clusterHead + goodCluster +
			"  endpoint: https://pve.example.com:8006/api2/json\n  tls: {insecureSkipVerify: true, caSecretRef: {namespace: a, name: b}}\n",
			[]string{"spec.tls", "mutually exclusive"}},
		{"syncInterval not a duration", clusterHead + goodCluster +
			"  endpoint: https://pve.example.com:8006/api2/json\n  syncInterval: often\n",
			[]string{"spec.syncInterval", "should match"}},
	}
	if len(cases) < 30 {
		t.Fatalf("only %d invalid manifests", len(cases))
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			obj := decode(t, tc.manifest)
			err := env.Client.Create(ctx, obj, client.DryRunAll)
			if err == nil {
				t.Fatalf("accepted:\n%s", tc.manifest)
			}
			if !apierrors.IsInvalid(err) {
				t.Fatalf("rejected for another reason than validation: %v", err)
			}
			t.Logf("rejected: %v", err)
			for _, want := range tc.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error does not mention %q:\n%v", want, err)
				}
			}
		})
	}
}

// TestStoreFormsAreAccepted admits what the original template store writes: the short form of
// an OS template, version globs and the other managers' usual pins, and scripts with a check.
func TestStoreFormsAreAccepted(t *testing.T) {
	testkit.SkipUnlessFull(t, testkit.ControlPlane)
	ctx := context.Background()
	manifests := map[string]string{
		"osTemplate short form":   templateHead + "spec:\n  osTemplate: debian-12-standard\n",
		"osTemplate ubuntu short": templateHead + "spec:\n  osTemplate: ubuntu-24.04-standard\n",
		"apt glob and release":    spec(bucketHead, "spec:\n  manager: apt\n", "  packages: ['nodejs=24.*', 'nginx/bookworm-backports', 'curl=7.88.1-10+deb12u8']\n"),
		"dnf glob":                spec(bucketHead, "spec:\n  manager: dnf\n", "  packages: ['nodejs-24.*', 'gcc-c++']\n"),
		"pip specifier list":      spec(bucketHead, "spec:\n  manager: pip\n", "  packages: ['requests>=2.31,<3', 'numpy<2', 'black[d]~=23.1']\n"),
		"npm ranges":              spec(bucketHead, "spec:\n  manager: npm\n", "  packages: ['typescript@^5.2', 'pm2@latest', '@scope/tool@~1.2.3']\n"),
		"apk pins":                spec(bucketHead, "spec:\n  manager: apk\n", "  packages: ['busybox=1.36.1-r2', 'curl~8', 'openssl>=3.1']\n"),
		"script with a check": spec(templateHead, goodTemplate,
			"  scripts:\n  - {name: foundry, content: \"#!/bin/bash\\ncurl -L https://example.invalid | bash\\n\", check: 'command -v forge && forge --version | grep -q \\\"forge\\\"', timeoutSeconds: 300}\n"),
	}
	for name, manifest := range manifests {
		t.Run(name, func(t *testing.T) {
			if err := env.Client.Create(ctx, decode(t, manifest), client.DryRunAll); err != nil {
				t.Errorf("rejected: %v\n%s", err, manifest)
			}
		})
	}
}

func TestImmutableFields(t *testing.T) {
	testkit.SkipUnlessFull(t, testkit.ControlPlane)
	ctx := context.Background()
	obj := decode(t, `apiVersion: lxc.templatemanager.dev/v1alpha1
kind: LXCContainer
metadata: {name: immutable, namespace: default}
spec:
  clusterRef: {name: pve}
  templateRef: {name: web}
  vmid: 120
`)
	if err := env.Client.Create(ctx, obj); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Client.Delete(ctx, obj) })

	changes := []struct {
		field string
		value any
		want  string
	}{
		{"vmid", int64(121), "vmid cannot be changed once set"},
		{"clusterRef", map[string]any{"name": "other"}, "clusterRef cannot be changed"},
	}
	for _, c := range changes {
		changed := obj.DeepCopy()
		if err := unstructured.SetNestedField(changed.Object, c.value, "spec", c.field); err != nil {
			t.Fatal(err)
		}
		err := env.Client.Update(ctx, changed, client.DryRunAll)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("changing spec.%s: got %v, want an error saying %q", c.field, err, c.want)
		}
	}
	unset := obj.DeepCopy()
	unstructured.RemoveNestedField(unset.Object, "spec", "vmid")
	if err := env.Client.Update(ctx, unset, client.DryRunAll); err == nil || !strings.Contains(err.Error(), "vmid cannot be changed") {
		t.Errorf("removing spec.vmid: got %v, want it refused", err)
	}
}

func TestDefaults(t *testing.T) {
	testkit.SkipUnlessFull(t, testkit.ControlPlane)
	ctx := context.Background()
	obj := decode(t, containerHead+goodRefs)
	if err := env.Client.Create(ctx, obj, client.DryRunAll); err != nil {
		t.Fatal(err)
	}
	for field, want := range map[string]string{"powerState": "Running", "deletionPolicy": "Delete"} {
		got, _, _ := unstructured.NestedString(obj.Object, "spec", field)
		if got != want {
			t.Errorf("spec.%s defaulted to %q, want %q", field, got, want)
		}
	}
}
