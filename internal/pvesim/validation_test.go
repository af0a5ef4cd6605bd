package pvesim_test

import (
	"maps"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	proxmox "github.com/luthermonson/go-proxmox"

	"templatemanager.dev/lxc-template-manager/internal/pvesim/fake"
	"templatemanager.dev/lxc-template-manager/internal/pvesim/pvesimtest"
)

// validCreate is a create body real Proxmox VE accepts; each case spoils it.
func validCreate() map[string]any {
	return map[string]any{
		"vmid":       400,
		"ostemplate": "local:vztmpl/" + fake.Template,
		"hostname":   "web-1",
		"rootfs":     "local-lvm:4",
		"memory":     512,
		"net0":       "name=eth0,bridge=vmbr0,ip=dhcp",
	}
}

const notInSchema = "property is not defined in schema and the schema does not allow additional properties"

// TestParameterVerification sends malformed requests and expects PVE's 400 "Parameter
// verification failed." with exactly the parameter names and messages the official schema
// implies (the messages are pve-common JSONSchema.pm's).
func TestParameterVerification(t *testing.T) {
	sim := pvesimtest.Start(t)
	if res := call(t, sim, "PUT", "/nodes/pve1/lxc/999/config", map[string]any{"memory": 512}); res.Code != 500 {
		t.Fatalf("sanity: %d %s", res.Code, res.Status)
	}
	create := func(change map[string]any, drop ...string) map[string]any {
		b := validCreate()
		maps.Copy(b, change)
		for _, k := range drop {
			delete(b, k)
		}
		return b
	}
	cases := []struct {
		name         string
		method, path string
		body         any
		want         map[string]string
	}{
		{"vmid below range", "POST", "/nodes/pve1/lxc", create(map[string]any{"vmid": 99}),
			map[string]string{"vmid": "invalid format - value does not look like a valid VM ID\n"}},
		{"vmid above range", "POST", "/nodes/pve1/lxc", create(map[string]any{"vmid": 1000000000}),
			map[string]string{"vmid": "invalid format - value does not look like a valid VM ID\n"}},
		{"vmid not a number", "POST", "/nodes/pve1/lxc", create(map[string]any{"vmid": "abc"}),
			map[string]string{"vmid": "type check ('integer') failed - got 'abc'"}},
		{"memory below 16", "POST", "/nodes/pve1/lxc", create(map[string]any{"memory": 8}),
			map[string]string{"memory": "value must have a minimum value of 16"}},
		{"memory fractional", "POST", "/nodes/pve1/lxc", create(map[string]any{"memory": 1.5}),
			map[string]string{"memory": "type check ('integer') failed - got '1.5'"}},
		{"cores zero", "POST", "/nodes/pve1/lxc", create(map[string]any{"cores": 0}),
			map[string]string{"cores": "value must have a minimum value of 1"}},
		{"cores too many", "POST", "/nodes/pve1/lxc", create(map[string]any{"cores": 9000}),
			map[string]string{"cores": "value must have a maximum value of 8192"}},
		{"cores as JSON boolean", "POST", "/nodes/pve1/lxc", create(map[string]any{"cores": true}),
			map[string]string{"cores": "type check ('integer') failed - got JSON::PP::Boolean"}},
		{"swap negative", "POST", "/nodes/pve1/lxc", create(map[string]any{"swap": -1}),
			map[string]string{"swap": "value must have a minimum value of 0"}},
		{"hostname with underscore", "POST", "/nodes/pve1/lxc", create(map[string]any{"hostname": "web_1"}),
			map[string]string{"hostname": "invalid format - value does not look like a valid DNS name\n"}},
		{"hostname starting with a dash", "POST", "/nodes/pve1/lxc", create(map[string]any{"hostname": "-web"}),
			map[string]string{"hostname": "invalid format - value does not look like a valid DNS name\n"}},
		{"hostname as array", "POST", "/nodes/pve1/lxc", create(map[string]any{"hostname": []string{"a"}}),
			map[string]string{"hostname": "type check ('string') failed - got ARRAY"}},
		{"tag with invalid characters", "POST", "/nodes/pve1/lxc", create(map[string]any{"tags": "ok;bad tag!"}),
			map[string]string{"tags": "invalid format - invalid characters in tag\n"}},
		{"net0 without name", "POST", "/nodes/pve1/lxc", create(map[string]any{"net0": "bridge=vmbr0,ip=dhcp"}),
			map[string]string{"net0": "invalid format - format error\nnet0.name: property is missing and it is not optional\n"}},
		{"net0 address without prefix length", "POST", "/nodes/pve1/lxc", create(map[string]any{"net0": "name=eth0,ip=169.254.10.5"}),
			map[string]string{"net0": "invalid format - format error\nnet0.ip: invalid format - value does not look like a valid ipv4 network configuration\n\n"}},
		{"net0 unknown key", "POST", "/nodes/pve1/lxc", create(map[string]any{"net0": "name=eth0,color=red"}),
			map[string]string{"net0": "invalid format - invalid key in comma-separated list property: color\n"}},
		{"net0 multicast MAC", "POST", "/nodes/pve1/lxc", create(map[string]any{"net0": "name=eth0,hwaddr=01:00:5E:00:00:01"}),
			map[string]string{"net0": "invalid format - format error\nnet0.hwaddr: invalid format - value does not look like a valid unicast MAC address\n\n"}},
		{"net0 VLAN tag out of range", "POST", "/nodes/pve1/lxc", create(map[string]any{"net0": "name=eth0,tag=5000"}),
			map[string]string{"net0": "invalid format - format error\nnet0.tag: value must have a maximum value of 4094\n"}},
		{"net0 duplicate key", "POST", "/nodes/pve1/lxc", create(map[string]any{"net0": "name=eth0,name=eth1"}),
			map[string]string{"net0": "invalid format - duplicate key in comma-separated list property: name\n"}},
		{"net0 bad gateway", "POST", "/nodes/pve1/lxc", create(map[string]any{"net0": "name=eth0,ip=169.254.10.5/24,gw=169.254.10"}),
			map[string]string{"net0": "invalid format - format error\nnet0.gw: invalid format - value does not look like a valid IPv4 address\n\n"}},
		{"net32 beyond the 32 interfaces", "POST", "/nodes/pve1/lxc", create(map[string]any{"net32": "name=eth32"}),
			map[string]string{"net32": notInSchema}},
		{"rootfs bad size", "POST", "/nodes/pve1/lxc", create(map[string]any{"rootfs": "local-lvm:4,size=huge"}),
			map[string]string{"rootfs": "invalid format - format error\nrootfs.size: invalid format - value does not look like a valid disk size: huge\n\n"}},
		{"rootfs unknown key", "POST", "/nodes/pve1/lxc", create(map[string]any{"rootfs": "local-lvm:4,speed=fast"}),
			map[string]string{"rootfs": "invalid format - invalid key in comma-separated list property: speed\n"}},
		{"rootfs path escaping", "POST", "/nodes/pve1/lxc", create(map[string]any{"rootfs": "/srv/../etc"}),
			map[string]string{"rootfs": "invalid format - format error\nrootfs.volume: invalid format - /srv/../etc contains illegal character sequences\n\n"}},
		{"features non-boolean", "POST", "/nodes/pve1/lxc", create(map[string]any{"features": "nesting=2"}),
			map[string]string{"features": "invalid format - format error\nfeatures.nesting: type check ('boolean') failed - got '2'\n"}},
		{"features bad mount list", "POST", "/nodes/pve1/lxc", create(map[string]any{"features": "mount=nfs!"}),
			map[string]string{"features": "invalid format - format error\nfeatures.mount: value does not match the regex pattern\n"}},
		{"unprivileged as yes", "POST", "/nodes/pve1/lxc", create(map[string]any{"unprivileged": "yes"}),
			map[string]string{"unprivileged": "type check ('boolean') failed - got 'yes'"}},
		{"onboot as 2", "POST", "/nodes/pve1/lxc", create(map[string]any{"onboot": 2}),
			map[string]string{"onboot": "type check ('boolean') failed - got '2'"}},
		{"arch not in enum", "POST", "/nodes/pve1/lxc", create(map[string]any{"arch": "sparc"}),
			map[string]string{"arch": "value 'sparc' does not have a value in the enumeration 'amd64, i386, arm64, armhf, riscv32, riscv64'"}},
		{"password too short", "POST", "/nodes/pve1/lxc", create(map[string]any{"password": "abc"}),
			map[string]string{"password": "value must be at least 5 characters long"}},
		{"nameserver not an address", "POST", "/nodes/pve1/lxc", create(map[string]any{"nameserver": "1.2.3"}),
			map[string]string{"nameserver": "invalid format - value does not look like a valid IP address\n"}},
		{"storage id too short", "POST", "/nodes/pve1/lxc", create(map[string]any{"storage": "x"}),
			map[string]string{"storage": "invalid format - storage ID 'x' cannot be shorter than 2 characters\n"}},
		{"description too long", "POST", "/nodes/pve1/lxc", create(map[string]any{"description": strings.Repeat("x", 8193)}),
			map[string]string{"description": "value may only be 8192 characters long"}},
		{"missing ostemplate", "POST", "/nodes/pve1/lxc", create(nil, "ostemplate"),
			map[string]string{"ostemplate": "property is missing and it is not optional"}},
		{"unknown parameter", "POST", "/nodes/pve1/lxc", create(map[string]any{"colour": "blue"}),
			map[string]string{"colour": notInSchema}},
		{"several bad parameters at once", "POST", "/nodes/pve1/lxc", create(map[string]any{"vmid": 5, "memory": 1, "hostname": "a b"}),
			map[string]string{
				"vmid":     "invalid format - value does not look like a valid VM ID\n",
				"memory":   "value must have a minimum value of 16",
				"hostname": "invalid format - value does not look like a valid DNS name\n",
			}},
		{"form-encoded bad vmid", "POST", "/nodes/pve1/lxc", "vmid=12&ostemplate=local%3Avztmpl%2Fx.tar.zst",
			map[string]string{"vmid": "invalid format - value does not look like a valid VM ID\n"}},
		{"node name invalid", "GET", "/nodes/pve_1/lxc", nil,
			map[string]string{"node": "invalid format - value does not look like a valid node name\n"}},
		{"vmid in the path not a number", "GET", "/nodes/pve1/lxc/abc/status/current", nil,
			map[string]string{"vmid": "type check ('integer') failed - got 'abc'"}},
		{"config delete with an invalid id", "PUT", "/nodes/pve1/lxc/400/config", map[string]any{"delete": "memory,bad!"},
			map[string]string{"delete": "invalid format - invalid configuration ID 'bad!'\n"}},
		{"config digest too long", "PUT", "/nodes/pve1/lxc/400/config", map[string]any{"digest": strings.Repeat("a", 41), "memory": 64},
			map[string]string{"digest": "value may only be 40 characters long"}},
		{"config unknown option", "PUT", "/nodes/pve1/lxc/400/config", map[string]any{"ostemplate": "local:vztmpl/x.tar.zst"},
			map[string]string{"ostemplate": notInSchema}},
		{"resources type not in enum", "GET", "/cluster/resources?type=qemu", nil,
			map[string]string{"type": "value 'qemu' does not have a value in the enumeration 'vm, storage, node, sdn'"}},
		{"nextid below range", "GET", "/cluster/nextid?vmid=50", nil,
			map[string]string{"vmid": "invalid format - value does not look like a valid VM ID\n"}},
		{"shutdown timeout negative", "POST", "/nodes/pve1/lxc/400/status/shutdown", map[string]any{"timeout": -5},
			map[string]string{"timeout": "value must have a minimum value of 0"}},
		{"task log start negative", "GET", "/nodes/pve1/tasks/UPID:pve1:00000001:00000001:00000001:vzstart:400:root@pam:/log?start=-1", nil,
			map[string]string{"start": "value must have a minimum value of 0"}},
		{"download-url without scheme", "POST", "/nodes/pve1/storage/local/download-url", map[string]any{"url": "ftp://x", "content": "vztmpl", "filename": "a.tar.zst"},
			map[string]string{"url": "value does not match the regex pattern"}},
	}
	if len(cases) < 20 {
		t.Fatalf("only %d cases", len(cases))
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res := call(t, sim, c.method, c.path, c.body)
			if res.Code != http.StatusBadRequest || res.Status != "Parameter verification failed." {
				t.Fatalf("got %d %q, want 400 Parameter verification failed. (%s)", res.Code, res.Status, res.Raw)
			}
			if got := res.errors(t); !reflect.DeepEqual(got, c.want) {
				t.Fatalf("errors\n got %q\nwant %q", got, c.want)
			}
		})
	}

	// The baseline is valid: nothing above failed for a reason other than the spoiled parameter.
	res := call(t, sim, "POST", "/nodes/pve1/lxc", validCreate())
	if res.Code != http.StatusOK {
		t.Fatalf("valid create: %d %s %s", res.Code, res.Status, res.Raw)
	}

	// go-proxmox surfaces the errors object in its error.
	node, err := newClient(sim).Node(testContext(t, time.Minute), "pve1")
	if err != nil {
		t.Fatal(err)
	}
	_, err = node.NewContainer(testContext(t, time.Minute), 401,
		proxmox.ContainerOption{Name: "ostemplate", Value: "local:vztmpl/" + fake.Template},
		proxmox.ContainerOption{Name: "memory", Value: 8})
	want := `bad request: 400 Parameter verification failed. - {"memory":"value must have a minimum value of 16"}`
	if err == nil || err.Error() != want {
		t.Fatalf("go-proxmox error %v, want %s", err, want)
	}
}
