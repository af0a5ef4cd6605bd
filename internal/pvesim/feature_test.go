package pvesim_test

import (
	"testing"
	"time"

	proxmox "github.com/luthermonson/go-proxmox"

	"templatemanager.dev/lxc-template-manager/internal/pvesim/fake"
	"templatemanager.dev/lxc-template-manager/internal/pvesim/pvesimtest"
)

func hasFeature(t *testing.T, sim *pvesimtest.Simulator, vmid int, query string) float64 {
	t.Helper()
	var out map[string]any
	res := call(t, sim, "GET", "/nodes/pve1/lxc/"+itoa(vmid)+"/feature?"+query, nil)
	if res.Code != 200 {
		t.Fatalf("feature %s of %d: %d %s", query, vmid, res.Code, res.Status)
	}
	res.data(t, &out)
	v, ok := out["hasFeature"].(float64)
	if !ok || len(out) != 1 {
		t.Fatalf("feature %s of %d: %s", query, vmid, res.Raw)
	}
	return v
}

// TestSnapshotFeature: as PVE::LXC::Config::has_feature computes it, a container can be
// snapshotted only when every volume can: LVM-thin volumes can, raw files on a directory
// storage and bind mounts cannot; a snapshot of such a container fails in its task.
func TestSnapshotFeature(t *testing.T) {
	sim := pvesimtest.Start(t, pvesimtest.WithUser("root@pam", "rootpw"))
	ctx := testContext(t, time.Minute)
	createCT(t, sim, "pve1", 100, nil)
	createCT(t, sim, "pve1", 101, map[string]any{"rootfs": "local:4"})
	createCT(t, sim, "pve1", 102, map[string]any{"mp0": "local:1,mp=/data"})
	root := proxmox.NewClient(sim.URL, proxmox.WithCredentials(&proxmox.Credentials{Username: "root@pam", Password: "rootpw"}),
		proxmox.WithHTTPClient(sim.HTTPClient()))
	rootNode, err := root.Node(ctx, "pve1")
	if err != nil {
		t.Fatal(err)
	}
	task, err := rootNode.NewContainer(ctx, 103, proxmox.ContainerOption{Name: "ostemplate", Value: "local:vztmpl/" + fake.Template},
		proxmox.ContainerOption{Name: "rootfs", Value: "local-lvm:4"}, proxmox.ContainerOption{Name: "mp0", Value: "/srv/data,mp=/data"})
	waitOK(t, ctx, task, err, "create with a bind mount")

	for _, c := range []struct {
		vmid  int
		query string
		want  float64
	}{
		{100, "feature=snapshot", 1},
		{101, "feature=snapshot", 0},
		{102, "feature=snapshot", 0},
		{103, "feature=snapshot", 0},
		// A running LVM-thin volume is copied, not cloned (that needs a base or a snapshot).
		{100, "feature=clone", 0},
		{100, "feature=copy", 1},
		{101, "feature=copy", 1},
		{101, "feature=clone", 0},
	} {
		if got := hasFeature(t, sim, c.vmid, c.query); got != c.want {
			t.Errorf("CT %d %s: hasFeature %v, want %v", c.vmid, c.query, got, c.want)
		}
	}
	if got := configOf(t, sim, "pve1", 101)["rootfs"]; got != "local:101/vm-101-disk-0.raw,size=4G" {
		t.Errorf("rootfs on local: %v", got)
	}

	waitTask(t, sim, "pve1", call(t, sim, "POST", "/nodes/pve1/lxc/100/snapshot", map[string]any{"snapname": "s1"}), "OK")
	if got := hasFeature(t, sim, 100, "feature=clone&snapname=s1"); got != 1 {
		t.Errorf("clone from an LVM-thin snapshot: %v", got)
	}
	if got := hasFeature(t, sim, 100, "feature=snapshot&snapname=s1"); got != 0 {
		t.Errorf("snapshot of a snapshot: %v", got)
	}
	expectError(t, call(t, sim, "GET", "/nodes/pve1/lxc/100/feature?feature=snapshot&snapname=nope", nil), 500, "snapshot 'nope' does not exist")
	expectError(t, call(t, sim, "GET", "/nodes/pve1/lxc/100/feature?feature=migrate", nil), 400, "Parameter verification failed.")

	for _, vmid := range []int{101, 102, 103} {
		waitTask(t, sim, "pve1", call(t, sim, "POST", "/nodes/pve1/lxc/"+itoa(vmid)+"/snapshot", map[string]any{"snapname": "s1"}),
			"snapshot feature is not available")
		conf := configOf(t, sim, "pve1", vmid)
		if conf["lock"] != nil || conf["parent"] != nil {
			t.Errorf("CT %d after a refused snapshot: %v", vmid, conf)
		}
	}
	expectError(t, call(t, sim, "POST", "/nodes/pve1/lxc/100/snapshot", map[string]any{"snapname": "vzdump"}),
		500, "unable to use snapshot name 'vzdump' (reserved name)")
}
