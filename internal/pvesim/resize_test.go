package pvesim_test

import (
	"strings"
	"testing"

	"templatemanager.dev/lxc-template-manager/internal/pvesim/pvesimtest"
)

// TestResize follows PVE's resize_vm: a task that grows the disk, and refusals, at once, of a
// shrink, of the size it already has, of a disk that does not exist and of a stale digest.
func TestResize(t *testing.T) {
	sim := pvesimtest.Start(t)
	createCT(t, sim, "pve1", 100, nil) // rootfs local-lvm:4
	rootfs := func() string {
		var conf map[string]any
		call(t, sim, "GET", "/nodes/pve1/lxc/100/config", nil).data(t, &conf)
		return conf["rootfs"].(string)
	}
	if got := rootfs(); !strings.HasSuffix(got, ",size=4G") {
		t.Fatalf("rootfs after create: %q", got)
	}
	waitTask(t, sim, "pve1", call(t, sim, "PUT", "/nodes/pve1/lxc/100/resize", map[string]any{"disk": "rootfs", "size": "12G"}), "OK")
	if got := rootfs(); got != "local-lvm:vm-100-disk-0,size=12G" {
		t.Errorf("rootfs after growing to 12G: %q", got)
	}
	waitTask(t, sim, "pve1", call(t, sim, "PUT", "/nodes/pve1/lxc/100/resize", map[string]any{"disk": "rootfs", "size": "+512M"}), "OK")
	if got := rootfs(); !strings.HasSuffix(got, ",size=12800M") {
		t.Errorf("rootfs after growing by 512M: %q", got)
	}
	var conf map[string]any
	call(t, sim, "GET", "/nodes/pve1/lxc/100/config", nil).data(t, &conf)
	for _, c := range []struct {
		body map[string]any
		want string
	}{
		{map[string]any{"disk": "rootfs", "size": "8G"}, "unable to shrink disk size"},
		{map[string]any{"disk": "rootfs", "size": "12800M"}, "disk is already at specified size"},
		{map[string]any{"disk": "mp0", "size": "1G"}, "disk 'mp0' does not exist"},
		{map[string]any{"disk": "rootfs", "size": "16G", "digest": "0000000000000000000000000000000000000000"}, "detected modified configuration"},
	} {
		res := call(t, sim, "PUT", "/nodes/pve1/lxc/100/resize", c.body)
		if res.Code != 500 || !strings.Contains(res.Status, c.want) {
			t.Errorf("resize %v: %d %q, want 500 %q", c.body, res.Code, res.Status, c.want)
		}
	}
	if res := call(t, sim, "PUT", "/nodes/pve1/lxc/100/resize", map[string]any{"disk": "rootfs", "size": "big"}); res.Code != 400 || res.errors(t)["size"] == "" {
		t.Errorf("a malformed size: %d %s", res.Code, res.Raw)
	}
	if got := rootfs(); !strings.HasSuffix(got, ",size=12800M") {
		t.Errorf("a refused resize changed rootfs: %q", got)
	}
	waitTask(t, sim, "pve1", call(t, sim, "PUT", "/nodes/pve1/lxc/100/resize", map[string]any{"disk": "rootfs", "size": "16G", "digest": conf["digest"]}), "OK")
}
