package proxmox

import (
	"encoding/json"
	"slices"
	"testing"
)

// TestParsePending reads GET …/pending as PVE answers it: current values, pending values and
// pending deletes, and the digest as one of the keys.
func TestParsePending(t *testing.T) {
	var items []pendingItem
	if err := json.Unmarshal([]byte(`[
		{"key":"hostname","value":"web"},
		{"key":"memory","value":"512","pending":"1024"},
		{"key":"features","value":"nesting=1","delete":1},
		{"key":"nameserver","pending":"169.254.0.53"},
		{"key":"mp0","value":"local-lvm:vm-100-disk-1,mp=/srv/data,size=2G"},
		{"key":"digest","value":"abc"}
	]`), &items); err != nil {
		t.Fatal(err)
	}
	pc, err := parsePending(items, "test")
	if err != nil {
		t.Fatal(err)
	}
	if pc.Current.MemoryMiB != 512 || pc.Next.MemoryMiB != 1024 {
		t.Errorf("memory current %d next %d", pc.Current.MemoryMiB, pc.Next.MemoryMiB)
	}
	if !pc.Current.Features.Nesting || pc.Next.Features.Nesting {
		t.Errorf("features current %+v next %+v", pc.Current.Features, pc.Next.Features)
	}
	if len(pc.Current.Nameservers) != 0 || !slices.Equal(pc.Next.Nameservers, []string{"169.254.0.53"}) {
		t.Errorf("nameservers current %v next %v", pc.Current.Nameservers, pc.Next.Nameservers)
	}
	if mp := pc.Current.MountPoints[0]; mp.Volume != "local-lvm:vm-100-disk-1" || mp.Options["mp"] != "/srv/data" || mp.SizeBytes != 2<<30 {
		t.Errorf("mp0 = %+v", mp)
	}
	if !slices.Equal(pc.Pending, []string{"features", "memory", "nameserver"}) || pc.Digest != "abc" {
		t.Errorf("pending %v, digest %q", pc.Pending, pc.Digest)
	}
}

func TestUpdateParamsSetAndDelete(t *testing.T) {
	p, err := updateParams(ConfigUpdate{Set: map[string]string{"startup": "order=1", "mp0": "local-lvm:1,mp=/x"}, Delete: []string{"protection"}, Digest: "d"})
	if err != nil {
		t.Fatal(err)
	}
	if p["startup"] != "order=1" || p["mp0"] != "local-lvm:1,mp=/x" || p["delete"] != "protection" || p["digest"] != "d" {
		t.Errorf("params = %v", p)
	}
	if _, err := updateParams(ConfigUpdate{Set: map[string]string{"protection": "1"}, Delete: []string{"protection"}}); err == nil {
		t.Error("setting and deleting one option at once was accepted")
	}
}
