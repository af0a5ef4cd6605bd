package lxc_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"templatemanager.dev/lxc-template-manager/internal/pvesim"
	"templatemanager.dev/lxc-template-manager/internal/pvesim/lxc"
	"templatemanager.dev/lxc-template-manager/internal/pvesim/lxc/lxctest"
	"templatemanager.dev/lxc-template-manager/internal/pvesim/pvesimtest"
)

// api is a test's client of a simulator: JSON in, {"data": …} out, and tasks waited for.
type api struct {
	t   *testing.T
	sim *pvesimtest.Simulator
}

func (a api) call(method, path string, body any) (data json.RawMessage, status string) {
	a.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			a.t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, a.sim.URL+path, rd)
	if err != nil {
		a.t.Fatal(err)
	}
	req.Header.Set("Authorization", a.sim.Token())
	req.Header.Set("Content-Type", "application/json")
	res, err := a.sim.HTTPClient().Do(req)
	if err != nil {
		a.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	var env struct {
		Data json.RawMessage `json:"data"`
	}
	if err := json.NewDecoder(res.Body).Decode(&env); err != nil {
		a.t.Fatalf("%s %s: %v", method, path, err)
	}
	return env.Data, res.Status
}

func (a api) get(path string, v any) {
	a.t.Helper()
	data, status := a.call("GET", path, nil)
	if err := json.Unmarshal(data, v); err != nil || !strings.HasPrefix(status, "200") {
		a.t.Fatalf("GET %s: %s %v", path, status, err)
	}
}

// task sends a call that starts a task and returns the task's exit status.
func (a api) task(method, path string, body any) string {
	a.t.Helper()
	data, status := a.call(method, path, body)
	var upid string
	if err := json.Unmarshal(data, &upid); err != nil || !strings.HasPrefix(upid, "UPID:") {
		a.t.Fatalf("%s %s: %s %s", method, path, status, data)
	}
	deadline := time.Now().Add(5 * time.Minute)
	for time.Now().Before(deadline) {
		var st struct {
			Status     string `json:"status"`
			ExitStatus string `json:"exitstatus"`
		}
		a.get("/nodes/pve1/tasks/"+upid+"/status", &st)
		if st.Status == "stopped" {
			return st.ExitStatus
		}
		time.Sleep(200 * time.Millisecond)
	}
	a.t.Fatalf("task %s did not end", upid)
	return ""
}

func (a api) mustTask(method, path string, body any) {
	a.t.Helper()
	if exit := a.task(method, path, body); exit != "OK" {
		a.t.Fatalf("%s %s: task ended with %q", method, path, exit)
	}
}

func (a api) hasFeature(vmid int, feature string) bool {
	a.t.Helper()
	var out struct {
		HasFeature int `json:"hasFeature"`
	}
	a.get(fmt.Sprintf("/nodes/pve1/lxc/%d/feature?feature=%s", vmid, feature), &out)
	return out.HasFeature == 1
}

// attach runs a command inside a running container.
func attach(t *testing.T, b *lxc.Backend, vmid int, command ...string) string {
	t.Helper()
	args := append([]string{"-P", b.LXCPath(), "-n", strconv.Itoa(vmid), "--clear-env", "--"}, command...)
	out, err := exec.Command("lxc-attach", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(command, " "), err, out)
	}
	return string(out)
}

// startSimulator runs a simulator on a fresh lxc backend whose containers are killed when the
// test ends.
func startSimulator(t *testing.T) (*pvesimtest.Simulator, *lxc.Backend, string) {
	lxctest.RequireHost(t)
	tarball := lxctest.Template(t)
	bridge, subnet := lxctest.Network(t)
	dir := t.TempDir()
	b, err := lxc.New(lxctest.Options(t, dir, bridge, subnet))
	if err != nil {
		t.Fatalf("lxc backend: %v", err)
	}
	// Registered before the simulator, so it runs after the simulator closed the backend:
	// nothing a failed test left running outlives it.
	t.Cleanup(func() { lxctest.Shutdown(t, b) })
	sim := pvesimtest.Start(t, pvesimtest.WithBackend(b), pvesimtest.WithStateDir(dir), pvesimtest.WithSubnet(subnet),
		pvesimtest.WithTemplateDir(filepath.Dir(tarball)), pvesimtest.WithOptions(func(o *pvesim.Options) { o.LockTimeout = 10 * time.Second }))
	return sim, b, "local:vztmpl/" + filepath.Base(tarball)
}

// TestBackupAndRestore backs up a real container and restores it after it was destroyed: a
// file written in the guest is in the archive (with the ids the guest sees), and in the
// restored container.
func TestBackupAndRestore(t *testing.T) {
	sim, b, template := startSimulator(t)
	a := api{t, sim}
	a.mustTask("POST", "/nodes/pve1/lxc", map[string]any{"vmid": 400, "ostemplate": template, "hostname": "keeper",
		"rootfs": "local-lvm:4", "net0": "name=eth0,bridge=vmbr0,ip=dhcp", "memory": 256})
	a.mustTask("POST", "/nodes/pve1/lxc/400/status/start", nil)
	attach(t, b, 400, "sh", "-c", "mkdir -p /srv/proof && echo 'written before the backup' > /srv/proof/note.txt")

	a.mustTask("POST", "/nodes/pve1/vzdump", map[string]any{"vmid": 400, "storage": "local", "compress": "zstd", "mode": "snapshot"})
	// The guest was frozen while its files were read, and runs on.
	if got := attach(t, b, 400, "cat", "/srv/proof/note.txt"); got != "written before the backup\n" {
		t.Fatalf("after the backup: %q", got)
	}
	var list []struct {
		Volid  string `json:"volid"`
		Format string `json:"format"`
	}
	a.get("/nodes/pve1/storage/local/content?content=backup&vmid=400", &list)
	if len(list) != 1 || list[0].Format != "tar.zst" {
		t.Fatalf("backups: %+v", list)
	}
	var info struct {
		Path string `json:"path"`
	}
	a.get("/nodes/pve1/storage/local/content/"+list[0].Volid, &info)
	out, err := exec.Command("tar", "--zstd", "-tvf", info.Path, "--numeric-owner").CombinedOutput()
	if err != nil {
		t.Fatalf("list archive: %v\n%s", err, out)
	}
	listing := string(out)
	for _, want := range []string{" 0/0 ", "./etc/vzdump/pct.conf", "./srv/proof/note.txt", "./sbin", "./etc/os-release"} {
		if !strings.Contains(listing, want) {
			t.Fatalf("archive lacks %q:\n%s", want, lastLinesOf(listing, 20))
		}
	}
	if strings.Contains(listing, " 100000/100000 ") {
		t.Fatalf("archive holds host ids:\n%s", lastLinesOf(listing, 20))
	}
	conf, err := exec.Command("tar", "--zstd", "-xOf", info.Path, "./etc/vzdump/pct.conf").Output()
	if err != nil || !strings.Contains(string(conf), "hostname: keeper\n") || !strings.Contains(string(conf), "rootfs: local-lvm:vm-400-disk-0,size=4G\n") {
		t.Fatalf("pct.conf: %v\n%s", err, conf)
	}

	a.mustTask("DELETE", "/nodes/pve1/lxc/400?force=1", nil)
	a.mustTask("POST", "/nodes/pve1/lxc", map[string]any{"vmid": 400, "restore": 1, "ostemplate": list[0].Volid,
		"storage": "local-lvm", "start": 1})
	var cfg map[string]any
	a.get("/nodes/pve1/lxc/400/config", &cfg)
	if cfg["hostname"] != "keeper" || cfg["rootfs"] != "local-lvm:vm-400-disk-0,size=4G" || cfg["unprivileged"] != float64(1) {
		t.Fatalf("restored config: %v", cfg)
	}
	if got := attach(t, b, 400, "cat", "/srv/proof/note.txt"); got != "written before the backup\n" {
		t.Fatalf("restored file: %q", got)
	}
	if got := attach(t, b, 400, "stat", "-c", "%u:%g", "/srv/proof/note.txt"); strings.TrimSpace(got) != "0:0" {
		t.Fatalf("restored file is owned by %s inside", got)
	}
	if got := attach(t, b, 400, "sh", "-c", "test -e /etc/vzdump/pct.conf && echo present || echo absent"); strings.TrimSpace(got) != "absent" {
		t.Fatalf("pct.conf in the restored tree: %s", got)
	}
}

// TestSnapshotFeatureByStorage: a container on LVM-thin can be snapshotted; one whose root
// filesystem is a raw file on the directory storage local cannot, and its snapshot fails.
func TestSnapshotFeatureByStorage(t *testing.T) {
	sim, _, template := startSimulator(t)
	a := api{t, sim}
	a.mustTask("POST", "/nodes/pve1/lxc", map[string]any{"vmid": 410, "ostemplate": template, "rootfs": "local-lvm:4"})
	a.mustTask("POST", "/nodes/pve1/lxc", map[string]any{"vmid": 411, "ostemplate": template, "rootfs": "local:4"})
	var cfg map[string]any
	a.get("/nodes/pve1/lxc/411/config", &cfg)
	if cfg["rootfs"] != "local:411/vm-411-disk-0.raw,size=4G" {
		t.Fatalf("rootfs on local: %v", cfg["rootfs"])
	}
	if !a.hasFeature(410, "snapshot") || a.hasFeature(411, "snapshot") {
		t.Fatalf("hasFeature snapshot: local-lvm %v, local %v", a.hasFeature(410, "snapshot"), a.hasFeature(411, "snapshot"))
	}
	a.mustTask("POST", "/nodes/pve1/lxc/410/snapshot", map[string]any{"snapname": "before"})
	if exit := a.task("POST", "/nodes/pve1/lxc/411/snapshot", map[string]any{"snapname": "before"}); exit != "snapshot feature is not available" {
		t.Fatalf("snapshot on local: %q", exit)
	}
	// The container on local starts and runs all the same.
	a.mustTask("POST", "/nodes/pve1/lxc/411/status/start", nil)
	a.mustTask("POST", "/nodes/pve1/lxc/411/status/stop", nil)
}

func lastLinesOf(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
