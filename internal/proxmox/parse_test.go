package proxmox

import (
	"encoding/json"
	"net/netip"
	"reflect"
	"testing"
	"time"
)

func TestUPIDParse(t *testing.T) {
	u := UPID("UPID:pve:0001E240:0ABCDEF0:65A1B2C3:vzcreate:100:root@pam!ctl:")
	p, err := u.Parse()
	if err != nil {
		t.Fatal(err)
	}
	want := UPIDParts{Node: "pve", PID: 0x1E240, PStart: 0xABCDEF0, StartTime: time.Unix(0x65A1B2C3, 0).UTC(),
		Type: "vzcreate", ID: "100", User: "root@pam!ctl"}
	if p != want {
		t.Errorf("got %+v, want %+v", p, want)
	}
	// Nine-digit pstart and an empty id are valid.
	if _, err := UPID("UPID:node-1:00000001:123456789:65A1B2C3:aptupdate::root@pam:").Parse(); err != nil {
		t.Errorf("nine-digit pstart: %v", err)
	}
	for _, bad := range []string{
		"UPID:node1:0031B740:0645340C:23E5BA99:vzstart:101:root", // no trailing colon
		"UPID:pve:1:2:3:vzstart:101:root@pam:",                   // short hex fields
		"",
		"null",
	} {
		if _, err := UPID(bad).Parse(); err == nil {
			t.Errorf("%q parsed, want error", bad)
		}
	}
}

func TestTags(t *testing.T) {
	if got := ParseTags("k8s,Managed web;lxctm"); !reflect.DeepEqual(got, []string{"k8s", "Managed", "web", "lxctm"}) {
		t.Errorf("ParseTags = %q", got)
	}
	if got := ParseTags(""); got != nil {
		t.Errorf("ParseTags(\"\") = %q, want nil", got)
	}
	s, err := FormatTags([]string{"lxctm", "web-1", "a.b+c"})
	if err != nil || s != "lxctm;web-1;a.b+c" {
		t.Errorf("FormatTags = %q, %v", s, err)
	}
	for _, bad := range []string{"-lead", "has space", "semi;colon", ""} {
		if _, err := FormatTags([]string{bad}); err == nil {
			t.Errorf("FormatTags(%q) accepted", bad)
		}
	}
}

func TestNetConfig(t *testing.T) {
	in := "name=eth0,bridge=vmbr0,firewall=1,gw=10.0.0.1,hwaddr=BC:24:11:00:00:01,ip=10.0.0.5/24,type=veth,tag=20,mtu=1400,queues=2"
	n, err := ParseNetConfig(in)
	if err != nil {
		t.Fatal(err)
	}
	want := NetConfig{Name: "eth0", Bridge: "vmbr0", Firewall: true, Gateway: "10.0.0.1", HWAddr: "BC:24:11:00:00:01",
		IP: "10.0.0.5/24", Type: "veth", Tag: 20, MTU: 1400, Extra: map[string]string{"queues": "2"}}
	if !reflect.DeepEqual(n, want) {
		t.Errorf("got %+v\nwant %+v", n, want)
	}
	// Name first, then alphabetical, as Proxmox stores it.
	if got := n.String(); got != "name=eth0,bridge=vmbr0,firewall=1,gw=10.0.0.1,hwaddr=BC:24:11:00:00:01,ip=10.0.0.5/24,mtu=1400,queues=2,tag=20,type=veth" {
		t.Errorf("String = %s", got)
	}
	if got := (NetConfig{Name: "eth0", Bridge: "vmbr0", IP: "dhcp"}).String(); got != "name=eth0,bridge=vmbr0,ip=dhcp" {
		t.Errorf("String = %s", got)
	}
	if _, err := ParseNetConfig("bridge=vmbr0,ip=dhcp"); err == nil {
		t.Error("net without name accepted")
	}
	if _, err := ParseNetConfig("name=eth0,mtu=big"); err == nil {
		t.Error("malformed mtu accepted")
	}
}

func TestFeatures(t *testing.T) {
	f, err := ParseFeatures("fuse=1,mknod=0,nesting=1,mount=nfs;cifs")
	if err != nil {
		t.Fatal(err)
	}
	want := Features{Fuse: true, Nesting: true, Mount: []string{"nfs", "cifs"}}
	if !reflect.DeepEqual(f, want) {
		t.Errorf("got %+v", f)
	}
	if got := f.String(); got != "fuse=1,mount=nfs;cifs,nesting=1" {
		t.Errorf("String = %s", got)
	}
	if got := (Features{}).String(); got != "" {
		t.Errorf("empty features = %q", got)
	}
	// Found by FuzzParseFeatures: blank mount entries made String and Parse disagree.
	if f, err := ParseFeatures("mount=nfs; ;cifs ;"); err != nil || !reflect.DeepEqual(f.Mount, []string{"nfs", "cifs"}) {
		t.Errorf("blank mount entries: %q, %v", f.Mount, err)
	}
	if _, err := ParseFeatures("teleport=1"); err == nil {
		t.Error("unknown feature accepted")
	}
}

func TestRootFSAndDiskSize(t *testing.T) {
	r, err := ParseRootFS("local-lvm:vm-100-disk-0,size=8G,acl=1")
	if err != nil {
		t.Fatal(err)
	}
	if r.Volume != "local-lvm:vm-100-disk-0" || r.Size != "8G" || r.SizeBytes != 8<<30 || r.Options["acl"] != "1" {
		t.Errorf("got %+v", r)
	}
	for s, want := range map[string]uint64{"512M": 512 << 20, "1.5T": 3 << 39, "4096": 4096, "100K": 102400} {
		got, err := ParseDiskSize(s)
		if err != nil || got != want {
			t.Errorf("ParseDiskSize(%q) = %d, %v; want %d", s, got, err, want)
		}
	}
	// Found by FuzzParseRootFS: strconv.ParseFloat reads more than pve-common's sizes.
	for _, bad := range []string{"lots", "", "NaN", "Inf", "-1G", "+8G", "1e3G", "0x10", "8GG", "99999999999T"} {
		if got, err := ParseDiskSize(bad); err == nil {
			t.Errorf("ParseDiskSize(%q) = %d, want an error", bad, got)
		}
	}
}

func TestParseContainerConfig(t *testing.T) {
	// A real PVE 7 answer (go-proxmox's capture) plus cpulimit as the string real PVE sends,
	// which breaks go-proxmox's typed ContainerConfig.
	body := `{
	   "arch" : "amd64", "cores" : 2, "cpulimit": "1.5",
	   "digest" : "5911baea29f4c0073fb063fd9ab29e75892832bf",
	   "features" : "fuse=1,mknod=1,nesting=1",
	   "hostname" : "test-container",
	   "description": "lxctm-owner: default/web uid=1234\n",
	   "lxc" : [["lxc.cgroup2.devices.allow","c 226:0 rwm"]],
	   "memory" : 4096, "mp0" : "/mnt/foo/bar,mp=/storage",
	   "net0" : "name=eth0,bridge=vmbr0,firewall=1,hwaddr=5D:CF:BD:B2:C5:39,ip=dhcp,type=veth",
	   "net1" : "name=eth1,bridge=vmbr1,ip=169.254.10.5/16,gw=169.254.0.1",
	   "onboot" : 1, "unprivileged": true, "ostype" : "debian",
	   "rootfs" : "vmstore:subvol-101-disk-0,size=30G",
	   "swap" : 512, "tags" : "lxctm;tag2", "nameserver": "1.1.1.1 9.9.9.9", "lock": null
	}`
	var raw map[string]json.RawMessage
	if err := json.Unmarshal([]byte(body), &raw); err != nil {
		t.Fatal(err)
	}
	cfg, err := parseContainerConfig(raw)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Hostname != "test-container" || cfg.Cores != 2 || cfg.MemoryMiB != 4096 || cfg.SwapMiB != 512 {
		t.Errorf("basics: %+v", cfg)
	}
	if !cfg.OnBoot || !cfg.Unprivileged || cfg.Lock != "" || cfg.Digest != "5911baea29f4c0073fb063fd9ab29e75892832bf" {
		t.Errorf("flags: %+v", cfg)
	}
	if !reflect.DeepEqual(cfg.Tags, []string{"lxctm", "tag2"}) || cfg.Description != "lxctm-owner: default/web uid=1234\n" {
		t.Errorf("tags/description: %q %q", cfg.Tags, cfg.Description)
	}
	if cfg.RootFS.SizeBytes != 30<<30 || !cfg.Features.Nesting || !cfg.Features.Mknod || cfg.Features.Keyctl {
		t.Errorf("rootfs/features: %+v %+v", cfg.RootFS, cfg.Features)
	}
	if cfg.Nets[0].HWAddr != "5D:CF:BD:B2:C5:39" || cfg.Nets[1].Gateway != "169.254.0.1" || len(cfg.Nets) != 2 {
		t.Errorf("nets: %+v", cfg.Nets)
	}
	if !reflect.DeepEqual(cfg.Nameservers, []string{"1.1.1.1", "9.9.9.9"}) {
		t.Errorf("nameservers: %q", cfg.Nameservers)
	}
	if cfg.Raw["cpulimit"] != "1.5" || cfg.Raw["mp0"] != "/mnt/foo/bar,mp=/storage" || cfg.Raw["unprivileged"] != "1" {
		t.Errorf("raw: %q", cfg.Raw)
	}

	// During creation only lock and digest exist.
	if err := json.Unmarshal([]byte(`{"digest":"abc","lock":"create"}`), &raw); err != nil {
		t.Fatal(err)
	}
	raw = map[string]json.RawMessage{"digest": json.RawMessage(`"abc"`), "lock": json.RawMessage(`"create"`)}
	cfg, err = parseContainerConfig(raw)
	if err != nil || cfg.Lock != "create" || cfg.Hostname != "" || cfg.MemoryMiB != 0 {
		t.Errorf("creating: %+v, %v", cfg, err)
	}

	raw = map[string]json.RawMessage{"memory": json.RawMessage(`"lots"`)}
	if _, err := parseContainerConfig(raw); err == nil {
		t.Error("malformed memory accepted")
	}
}

func TestParseInterfaces(t *testing.T) {
	// Older PVE: inet/inet6 only. Newer: ip-addresses as well, possibly with more addresses.
	body := `[
	  {"hwaddr":"00:00:00:00:00:00","inet":"127.0.0.1/8","inet6":"::1/128","name":"lo"},
	  {"hwaddr":"bc:24:11:89:67:07","inet":"192.168.3.95/22","inet6":"fe80::be24:11ff:fe89:6707/64","name":"eth0"},
	  {"hardware-address":"bc:24:11:00:00:02","hwaddr":"bc:24:11:00:00:02","name":"eth1",
	   "ip-addresses":[{"ip-address":"169.254.20.7","ip-address-type":"inet","prefix":16},
	                   {"ip-address":"169.254.20.8","ip-address-type":"inet","prefix":"16"},
	                   {"ip-address":"fe80::1%eth1","ip-address-type":"inet6","prefix":64}],
	   "inet":"169.254.20.7/16"},
	  {"hwaddr":"bc:24:11:00:00:03","name":"eth2"}
	]`
	var raw []rawInterface
	if err := json.Unmarshal([]byte(body), &raw); err != nil {
		t.Fatal(err)
	}
	ifaces, err := parseInterfaces(raw)
	if err != nil {
		t.Fatal(err)
	}
	if len(ifaces) != 4 {
		t.Fatalf("got %d interfaces", len(ifaces))
	}
	eth1 := ifaces[2]
	want := []netip.Prefix{
		netip.MustParsePrefix("169.254.20.7/16"), netip.MustParsePrefix("169.254.20.8/16"), netip.MustParsePrefix("fe80::1/64"),
	}
	if !reflect.DeepEqual(eth1.Addresses, want) {
		t.Errorf("eth1 addresses = %v", eth1.Addresses)
	}
	if len(ifaces[3].Addresses) != 0 {
		t.Errorf("eth2 without DHCP lease has addresses %v", ifaces[3].Addresses)
	}
	addr, ok := FirstIPv4(ifaces)
	if !ok || addr != netip.MustParseAddr("192.168.3.95") {
		t.Errorf("FirstIPv4 = %v, %v", addr, ok)
	}
	if _, ok := FirstIPv4(ifaces[:1]); ok {
		t.Error("loopback counted as an address")
	}

	// A stopped container answers null.
	raw = nil
	if err := json.Unmarshal([]byte(`null`), &raw); err != nil {
		t.Fatal(err)
	}
	if ifaces, err := parseInterfaces(raw); err != nil || len(ifaces) != 0 {
		t.Errorf("null: %v, %v", ifaces, err)
	}

	raw = []rawInterface{{Name: "eth0", Inet: "not-an-ip/24"}}
	if _, err := parseInterfaces(raw); err == nil {
		t.Error("malformed inet accepted")
	}
}

func TestFlexibleJSON(t *testing.T) {
	var v struct {
		A flexNum    `json:"a"`
		B flexNum    `json:"b"`
		C flexNum    `json:"c"`
		D flexBool   `json:"d"`
		E flexBool   `json:"e"`
		F flexString `json:"f"`
	}
	if err := json.Unmarshal([]byte(`{"a":"105","b":0.5,"c":null,"d":"1","e":true,"f":105}`), &v); err != nil {
		t.Fatal(err)
	}
	if v.A != 105 || v.B != 0.5 || v.C != 0 || !bool(v.D) || !bool(v.E) || v.F != "105" {
		t.Errorf("got %+v", v)
	}
	if err := json.Unmarshal([]byte(`{"a":"x"}`), &v); err == nil {
		t.Error("malformed number accepted")
	}
}
