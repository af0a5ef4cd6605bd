package pvesim_test

import (
	"strings"
	"testing"

	"templatemanager.dev/lxc-template-manager/internal/pvesim/fake"
	"templatemanager.dev/lxc-template-manager/internal/pvesim/pvesimtest"
)

// TestRestore restores a backup through create with restore=1 as pve-container does: the
// backed-up config under the given options, new volumes on the given storage (local by
// default), the guest's files back; an existing VMID only with force, and never a running one.
func TestRestore(t *testing.T) {
	sim := pvesimtest.Start(t)
	createCT(t, sim, "pve1", 100, map[string]any{"hostname": "web", "description": "owner: a/b", "tags": "app;web",
		"mp0": "local-lvm:1,mp=/data,backup=1"})
	guest := func(vmid int) *fake.Guest { return sim.Backend.(*fake.Backend).Guest(vmid) }
	guest(100).WriteFile("/srv/hello.txt", []byte("hello\n"), 0o644)
	hostKey := guest(100).HostKey()
	waitTask(t, sim, "pve1", call(t, sim, "POST", "/nodes/pve1/vzdump", map[string]any{"vmid": 100, "storage": "local", "compress": "zstd"}), "OK")
	list := backups(t, sim, 100)
	if len(list) != 1 {
		t.Fatalf("backups: %+v", list)
	}
	volid := list[0].Volid
	before := configOf(t, sim, "pve1", 100)
	waitTask(t, sim, "pve1", call(t, sim, "DELETE", "/nodes/pve1/lxc/100", nil), "OK")

	upid := waitTask(t, sim, "pve1", call(t, sim, "POST", "/nodes/pve1/lxc", map[string]any{"vmid": 100, "restore": 1,
		"ostemplate": volid, "storage": "local-lvm"}), "OK")
	if !strings.Contains(upid, ":vzrestore:100:") {
		t.Fatalf("UPID %s", upid)
	}
	expectLines(t, taskLines(t, sim, "pve1", upid), "recovering backed-up configuration from '"+volid+"'",
		"restoring '"+volid+"' now..", "merging backed-up and given configuration..", "TASK OK")
	conf := configOf(t, sim, "pve1", 100)
	for _, k := range []string{"hostname", "tags", "net0", "memory", "swap", "ostype", "unprivileged", "rootfs", "mp0"} {
		if conf[k] != before[k] {
			t.Errorf("%s restored as %v, was %v", k, conf[k], before[k])
		}
	}
	// The description comes back from the config file, ending in a newline as PVE reads it.
	if conf["description"] != "owner: a/b\n" || conf["lock"] != nil {
		t.Errorf("restored config: %v", conf)
	}
	if data, ok := guest(100).ReadFile("/srv/hello.txt"); !ok || string(data) != "hello\n" {
		t.Errorf("restored file: %q %v", data, ok)
	}
	if _, ok := guest(100).ReadFile("/etc/vzdump/pct.conf"); ok {
		t.Error("pct.conf stayed in the restored tree")
	}
	if guest(100).HostKey() != hostKey {
		t.Error("the guest's host key changed")
	}

	// The VMID is taken: without force the restore is refused, with force a running container
	// is not overwritten.
	body := map[string]any{"vmid": 100, "restore": 1, "ostemplate": volid}
	expectError(t, call(t, sim, "POST", "/nodes/pve1/lxc", body), 500, "CT 100 already exists on node 'pve1'")
	waitTask(t, sim, "pve1", call(t, sim, "POST", "/nodes/pve1/lxc/100/status/start", nil), "OK")
	body["force"] = 1
	expectError(t, call(t, sim, "POST", "/nodes/pve1/lxc", body), 500, "can't overwrite running container")
	waitTask(t, sim, "pve1", call(t, sim, "POST", "/nodes/pve1/lxc/100/status/stop", nil), "OK")

	// Forced onto the stopped container, without a storage: new volumes on local (the old ones
	// still count when numbering), given options win, unique draws new MAC addresses.
	body["unique"], body["hostname"], body["start"] = 1, "web-restored", 1
	waitTask(t, sim, "pve1", call(t, sim, "POST", "/nodes/pve1/lxc", body), "OK")
	conf = configOf(t, sim, "pve1", 100)
	if conf["hostname"] != "web-restored" || conf["net0"] == before["net0"] || conf["tags"] != before["tags"] ||
		conf["rootfs"] != "local:100/vm-100-disk-0.raw,size=4G" || conf["mp0"] != "local:100/vm-100-disk-1.raw,mp=/data,backup=1,size=1G" {
		t.Errorf("forced restore: %v", conf)
	}
	var st map[string]any
	call(t, sim, "GET", "/nodes/pve1/lxc/100/status/current", nil).data(t, &st)
	if st["status"] != "running" {
		t.Errorf("start=1 left it %v", st["status"])
	}

	expectError(t, call(t, sim, "POST", "/nodes/pve1/lxc", map[string]any{"vmid": 101, "restore": 1, "ostemplate": "local:vztmpl/" + fake.Template}),
		500, "unable to use volume local:vztmpl/"+fake.Template+" - content type needs to be 'backup'")
	missing := "local:backup/vzdump-lxc-100-2020_01_01-00_00_00.tar"
	waitTask(t, sim, "pve1", call(t, sim, "POST", "/nodes/pve1/lxc", map[string]any{"vmid": 101, "restore": 1, "ostemplate": missing}),
		"unable to restore CT 101 - can't find file '"+missing+"'")
	expectError(t, call(t, sim, "GET", "/nodes/pve1/lxc/101/config", nil), 500, "Configuration file 'nodes/pve1/lxc/101.conf' does not exist")
	res := call(t, sim, "POST", "/nodes/pve1/lxc", map[string]any{"vmid": 101, "unique": 1, "ostemplate": volid})
	if e := res.errors(t); e["restore"] != "missing property required by 'unique'" {
		t.Errorf("unique without restore: %v", e)
	}
}
