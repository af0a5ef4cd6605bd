package schema

import (
	"reflect"
	"testing"
)

func TestIndexedProperties(t *testing.T) {
	m := Lookup("POST", "/nodes/{node}/lxc")
	if m == nil {
		t.Fatal("no schema for POST /nodes/{node}/lxc")
	}
	for name, want := range map[string]bool{
		"net0": true, "net31": true, "net32": false, "net00": false, "mp255": true, "mp256": false,
		"unused0": true, "dev255": true, "dev256": false, "cores": true, "cores1": false, "net": false,
	} {
		if got := m.Property(name) != nil; got != want {
			t.Errorf("Property(%q) found %v, want %v", name, got, want)
		}
	}
}

func TestPropertyStrings(t *testing.T) {
	m := Lookup("POST", "/nodes/{node}/lxc")
	net := m.Property("net0").FormatProps
	got, err := ParsePropertyString(net, "ip=dhcp,name=eth0,firewall=true,bridge=vmbr0")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"name": "eth0", "bridge": "vmbr0", "firewall": "1", "ip": "dhcp"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("parsed %v", got)
	}
	// The required key first, the rest sorted, as PVE writes net[n].
	if s := PrintPropertyString(net, got); s != "name=eth0,bridge=vmbr0,firewall=1,ip=dhcp" {
		t.Fatalf("printed %q", s)
	}
	rootfs := m.Property("rootfs").FormatProps
	got, err = ParsePropertyString(rootfs, "local-lvm:vm-100-disk-0,size=8192M")
	if err != nil || got["volume"] != "local-lvm:vm-100-disk-0" {
		t.Fatalf("rootfs: %v %v", got, err)
	}
	// The default key goes first without its name; sizes are normalised.
	if s := PrintPropertyString(rootfs, got); s != "local-lvm:vm-100-disk-0,size=8G" {
		t.Fatalf("printed %q", s)
	}
	if _, err := ParsePropertyString(rootfs, "a:1,b:2"); err == nil || err.Error() != "duplicate key in comma-separated list property: volume" {
		t.Fatalf("two default values: %v", err)
	}
	if _, err := ParsePropertyString(net, "name="); err == nil || err.Error() != "missing key in comma-separated list property" {
		t.Fatalf("empty value: %v", err)
	}
}

func TestSizes(t *testing.T) {
	for in, want := range map[string]int64{"8G": 8 << 30, "512M": 512 << 20, "0.5G": 512 << 20, "1T": 1 << 40, "1024": 1024, "2KiB": 2048} {
		if got, ok := ParseSize(in); !ok || got != want {
			t.Errorf("ParseSize(%q) = %d, %v", in, got, ok)
		}
	}
	if _, ok := ParseSize("8X"); ok {
		t.Error("8X parsed")
	}
	for in, want := range map[int64]string{8 << 30: "8G", 512 << 20: "512M", 1 << 40: "1T", 1536: "1536", 3 << 10: "3K"} {
		if got := FormatSize(in); got != want {
			t.Errorf("FormatSize(%d) = %q, want %q", in, got, want)
		}
	}
}

func TestSplitList(t *testing.T) {
	if got := SplitList(" a,b;c  d "); !reflect.DeepEqual(got, []string{"a", "b", "c", "d"}) {
		t.Fatalf("%q", got)
	}
	if got := SplitList("a b\x00c"); !reflect.DeepEqual(got, []string{"a b", "c"}) {
		t.Fatalf("%q", got)
	}
}

func TestBooleanAndNumbers(t *testing.T) {
	m := Lookup("POST", "/nodes/{node}/lxc/{vmid}/status/shutdown")
	for _, ok := range []any{"1", "0", true, false} {
		if errs := m.Validate(map[string]any{"node": "pve1", "vmid": "100", "forceStop": ok}); errs != nil {
			t.Errorf("forceStop=%v: %v", ok, errs)
		}
	}
	for _, bad := range []any{"true", "yes", 2} {
		if errs := m.Validate(map[string]any{"node": "pve1", "vmid": "100", "forceStop": bad}); errs["forceStop"] == "" {
			t.Errorf("forceStop=%v accepted", bad)
		}
	}
	if errs := m.Validate(map[string]any{"node": "pve1", "vmid": "+100"}); errs == nil {
		t.Error("vmid +100 accepted by the pve-vmid format")
	}
}
