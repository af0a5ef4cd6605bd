package pvesim_test

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"templatemanager.dev/lxc-template-manager/internal/pvesim/fake"
	"templatemanager.dev/lxc-template-manager/internal/pvesim/pvesimtest"
)

// expectLines checks that want appear in lines in this order.
func expectLines(t *testing.T, lines []string, want ...string) {
	t.Helper()
	i := 0
	for _, l := range lines {
		if i < len(want) && l == want[i] {
			i++
		}
	}
	if i < len(want) {
		t.Fatalf("log lacks %q (in order) in:\n%s", want[i], strings.Join(lines, "\n"))
	}
}

type backupEntry struct {
	Volid     string `json:"volid"`
	Format    string `json:"format"`
	Content   string `json:"content"`
	Subtype   string `json:"subtype"`
	Notes     string `json:"notes"`
	VMID      int    `json:"vmid"`
	Size      int64  `json:"size"`
	CTime     int64  `json:"ctime"`
	Protected int    `json:"protected"`
}

func backups(t *testing.T, sim *pvesimtest.Simulator, vmid int) []backupEntry {
	t.Helper()
	var out []backupEntry
	call(t, sim, "GET", "/nodes/pve1/storage/local/content?content=backup&vmid="+itoa(vmid), nil).data(t, &out)
	return out
}

// archiveFiles reads the members of a backup archive.
func archiveFiles(t *testing.T, sim *pvesimtest.Simulator, volid string) map[string]string {
	t.Helper()
	var info struct {
		Path string `json:"path"`
	}
	call(t, sim, "GET", "/nodes/pve1/storage/local/content/"+volid, nil).data(t, &info)
	data, err := os.ReadFile(info.Path)
	if err == nil && strings.HasSuffix(info.Path, ".zst") {
		data, err = exec.Command("zstd", "-dcq", info.Path).Output()
	}
	if err != nil {
		t.Fatalf("read %s: %v", info.Path, err)
	}
	files := map[string]string{}
	tr := tar.NewReader(bytes.NewReader(data))
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return files
		}
		if err != nil {
			t.Fatalf("read %s: %v", info.Path, err)
		}
		content, _ := io.ReadAll(tr)
		files[h.Name] = string(content)
	}
}

// TestVzdump backs up a running container into the local storage: the task logs what vzdump
// logs, the container is locked while it runs, and the archive, its notes and its protection
// show in the storage's content.
func TestVzdump(t *testing.T) {
	sim := pvesimtest.Start(t, pvesimtest.WithTaskDurationOf("vzdump", 600*time.Millisecond))
	createCT(t, sim, "pve1", 100, map[string]any{"hostname": "web", "description": "owner: a/b"})
	waitTask(t, sim, "pve1", call(t, sim, "POST", "/nodes/pve1/lxc/100/status/start", nil), "OK")
	sim.Backend.(*fake.Backend).Guest(100).WriteFile("/srv/hello.txt", []byte("hello from the guest\n"), 0o644)

	res := call(t, sim, "POST", "/nodes/pve1/vzdump", map[string]any{"vmid": "100", "storage": "local", "compress": "zstd",
		"notes-template": `{{guestname}} on {{node}}\n{{vmid}} of {{cluster}}`, "protected": 1})
	upid := res.upid(t)
	if !strings.Contains(upid, ":vzdump:100:") {
		t.Fatalf("UPID %s", upid)
	}
	time.Sleep(300 * time.Millisecond)
	if conf := configOf(t, sim, "pve1", 100); conf["lock"] != "backup" || conf["parent"] != "vzdump" {
		t.Fatalf("config during the backup: %v", conf)
	}
	expectError(t, call(t, sim, "PUT", "/nodes/pve1/lxc/100/config", map[string]any{"cores": 2}), 500, "CT is locked (backup)")
	waitTask(t, sim, "pve1", res, "OK")
	if conf := configOf(t, sim, "pve1", 100); conf["lock"] != nil || conf["parent"] != nil {
		t.Fatalf("config after the backup: %v", conf)
	}
	lines := taskLines(t, sim, "pve1", upid)
	expectLines(t, lines, "INFO: starting new backup job: vzdump 100 --compress zstd --node pve1 "+
		`--notes-template '{{guestname}} on {{node}}\n{{vmid}} of {{cluster}}' --protected 1 --storage local`,
		"INFO: Starting Backup of VM 100 (lxc)", "INFO: status = running", "INFO: CT Name: web",
		"INFO: including mount point rootfs ('/') in backup", "INFO: backup mode: snapshot", "INFO: ionice priority: 7",
		"INFO: create storage snapshot 'vzdump'", "INFO: adding notes to backup", "INFO: marking backup as protected",
		"INFO: cleanup temporary 'vzdump' snapshot", "INFO: Backup job finished successfully", "TASK OK")
	name := regexp.MustCompile(`^INFO: creating vzdump archive '.*/(vzdump-lxc-100-\d{4}_\d\d_\d\d-\d\d_\d\d_\d\d\.tar\.zst)'$`)
	var file string
	for _, l := range lines {
		if m := name.FindStringSubmatch(l); m != nil {
			file = m[1]
		}
	}
	if file == "" {
		t.Fatalf("no archive in the log:\n%s", strings.Join(lines, "\n"))
	}

	list := backups(t, sim, 100)
	if len(list) != 1 {
		t.Fatalf("backups: %+v", list)
	}
	b := list[0]
	if b.Volid != "local:backup/"+file || b.Format != "tar.zst" || b.Content != "backup" || b.Subtype != "lxc" || b.VMID != 100 ||
		b.Notes != "web on pve1" || b.Protected != 1 || b.Size == 0 || time.Since(time.Unix(b.CTime, 0)) > time.Minute {
		t.Fatalf("backup: %+v", b)
	}
	if other := backups(t, sim, 101); len(other) != 0 {
		t.Fatalf("backups of 101: %+v", other)
	}
	files := archiveFiles(t, sim, b.Volid)
	if files["./srv/hello.txt"] != "hello from the guest\n" || !strings.Contains(files["./etc/vzdump/pct.conf"], "\nhostname: web\n") ||
		!strings.HasPrefix(files["./etc/vzdump/pct.conf"], "#owner%3A a/b\n") || strings.Contains(files["./etc/vzdump/pct.conf"], "lock:") {
		t.Fatalf("archive: %q", files)
	}

	// A protected backup is not deleted; once unprotected it is, and then it is gone.
	del := call(t, sim, "DELETE", "/nodes/pve1/storage/local/content/"+b.Volid, nil)
	if u := del.upid(t); !strings.Contains(u, ":imgdel:100@local:") {
		t.Fatalf("delete UPID %s", u)
	}
	waitTask(t, sim, "pve1", del, "cannot remove protected volume 'backup/"+file+"' on 'local'")
	if len(backups(t, sim, 100)) != 1 {
		t.Fatal("a protected backup went")
	}
}

// TestVzdumpModes: a snapshot of a volume that cannot have one falls back to suspend mode; stop
// mode shuts the container down and starts it again; a stopped container is backed up in stop
// mode.
func TestVzdumpModes(t *testing.T) {
	sim := pvesimtest.Start(t)
	createCT(t, sim, "pve1", 100, map[string]any{"rootfs": "local:4"})
	createCT(t, sim, "pve1", 101, nil)
	createCT(t, sim, "pve1", 102, nil)
	for _, vmid := range []int{100, 101} {
		waitTask(t, sim, "pve1", call(t, sim, "POST", "/nodes/pve1/lxc/"+itoa(vmid)+"/status/start", nil), "OK")
	}
	cases := []struct {
		vmid int
		mode string
		want []string
	}{
		{100, "snapshot", []string{"INFO: mode failure - some volumes do not support snapshots", "INFO: trying 'suspend' mode instead",
			"INFO: backup mode: suspend", "INFO: suspending guest", "INFO: resuming guest"}},
		{101, "stop", []string{"INFO: backup mode: stop", "INFO: stopping virtual guest", "INFO: restarting vm"}},
		{102, "snapshot", []string{"INFO: status = stopped", "INFO: backup mode: stop"}},
	}
	for _, c := range cases {
		upid := waitTask(t, sim, "pve1", call(t, sim, "POST", "/nodes/pve1/vzdump", map[string]any{"vmid": c.vmid, "mode": c.mode}), "OK")
		expectLines(t, taskLines(t, sim, "pve1", upid), c.want...)
		if list := backups(t, sim, c.vmid); len(list) != 1 || list[0].Format != "tar" || list[0].Notes != "" || list[0].Protected != 0 {
			t.Fatalf("backups of %d: %+v", c.vmid, list)
		}
	}
	var st map[string]any
	call(t, sim, "GET", "/nodes/pve1/lxc/101/status/current", nil).data(t, &st)
	if st["status"] != "running" {
		t.Fatalf("after a stop mode backup: %v", st["status"])
	}
}

// TestVzdumpChecks: parameters as the schema and verify_vzdump_parameters check them, a
// storage without backup content, a guest on another node and one nobody has.
func TestVzdumpChecks(t *testing.T) {
	sim := pvesimtest.Start(t, pvesimtest.WithNodes("pve1", "pve2"))
	createCT(t, sim, "pve1", 100, nil)
	createCT(t, sim, "pve2", 200, nil)
	for _, c := range []struct {
		body  map[string]any
		param string
		msg   string
	}{
		{map[string]any{"storage": "local"}, "vmid", "property is missing"},
		{map[string]any{"vmid": 100, "compress": "xz"}, "compress", "value 'xz' does not have a value in the enumeration '0, 1, gzip, lzo, zstd'"},
		{map[string]any{"vmid": 100, "notes-template": "x"}, "storage", "missing property required by 'notes-template'"},
		{map[string]any{"vmid": 100, "storage": "local", "notes-template": "{{hostname}}"}, "notes-template", "found unknown: variable 'hostname' at char 4"},
		{map[string]any{"vmid": 100, "all": 1}, "all", "option conflicts with option 'vmid'"},
		{map[string]any{"vmid": 100, "stdout": 1}, "stdout", "option is only allowed on the command line interface."},
	} {
		res := call(t, sim, "POST", "/nodes/pve1/vzdump", c.body)
		expectError(t, res, 400, "Parameter verification failed.")
		if e := res.errors(t); e[c.param] != c.msg {
			t.Errorf("%v: errors %v, want %s: %s", c.body, e, c.param, c.msg)
		}
	}
	waitTask(t, sim, "pve1", call(t, sim, "POST", "/nodes/pve1/vzdump", map[string]any{"vmid": 100, "storage": "local-lvm"}),
		"could not get storage information for 'local-lvm': can't use storage 'local-lvm' for backups - wrong content type")
	var ok string
	call(t, sim, "POST", "/nodes/pve1/vzdump", map[string]any{"vmid": 200}).data(t, &ok)
	if ok != "OK" {
		t.Fatalf("a guest of another node: %q", ok)
	}
	upid := waitTask(t, sim, "pve1", call(t, sim, "POST", "/nodes/pve1/vzdump", map[string]any{"vmid": "100,200,999"}), "job errors")
	lines := taskLines(t, sim, "pve1", upid)
	expectLines(t, lines, "INFO: skip external VMs: 200", "INFO: Starting Backup of VM 100 (lxc)",
		"ERROR: Backup of VM 999 failed - unable to find VM '999'", "INFO: Backup job finished with errors", "TASK ERROR: job errors")
	if !regexp.MustCompile(`:vzdump::root@pam!pvesimtest:$`).MatchString(upid) {
		t.Fatalf("a job of several guests has no id in its UPID: %s", upid)
	}
}

// TestVzdumpPrune: with a retention and remove, older backups beyond it go, protected ones
// stay; without remove, a backup beyond the retention is refused.
func TestVzdumpPrune(t *testing.T) {
	sim := pvesimtest.Start(t)
	createCT(t, sim, "pve1", 100, nil)
	backup := func(extra map[string]any, want string) {
		t.Helper()
		body := map[string]any{"vmid": 100, "storage": "local"}
		for k, v := range extra {
			body[k] = v
		}
		waitTask(t, sim, "pve1", call(t, sim, "POST", "/nodes/pve1/vzdump", body), want)
		time.Sleep(1100 * time.Millisecond) // archive names have seconds
	}
	backup(map[string]any{"protected": 1}, "OK")
	backup(nil, "OK")
	backup(nil, "OK")
	upid := waitTask(t, sim, "pve1", call(t, sim, "POST", "/nodes/pve1/vzdump",
		map[string]any{"vmid": 100, "storage": "local", "prune-backups": "keep-last=2", "remove": 1}), "OK")
	expectLines(t, taskLines(t, sim, "pve1", upid), "INFO: prune older backups with retention: keep-last=2",
		"INFO: pruned 1 backup(s) not covered by keep-retention policy")
	list := backups(t, sim, 100)
	protected := slices.IndexFunc(list, func(b backupEntry) bool { return b.Protected == 1 })
	if len(list) != 3 || protected < 0 {
		t.Fatalf("after pruning: %+v", list)
	}
	res := call(t, sim, "POST", "/nodes/pve1/vzdump", map[string]any{"vmid": 100, "storage": "local", "prune-backups": "keep-last=2", "remove": 0})
	upid = waitTask(t, sim, "pve1", res, "job errors")
	expectLines(t, taskLines(t, sim, "pve1", upid), "ERROR: Backup of VM 100 failed - There is a max backup limit of 2 enforced by the "+
		"target storage or the vzdump parameters. Either increase the limit or delete old backups.")

	// An unprotected backup is deleted, with its notes; deleting it again finds nothing and
	// still succeeds, as PVE's free_image only warns.
	var gone string
	for _, b := range list {
		if b.Protected == 0 {
			gone = b.Volid
		}
	}
	del := waitTask(t, sim, "pve1", call(t, sim, "DELETE", "/nodes/pve1/storage/local/content/"+gone, nil), "OK")
	expectLines(t, taskLines(t, sim, "pve1", del), "Removed volume '"+gone+"'", "TASK OK")
	if len(backups(t, sim, 100)) != 2 {
		t.Fatal("the backup is still listed")
	}
	again := waitTask(t, sim, "pve1", call(t, sim, "DELETE", "/nodes/pve1/storage/local/content/"+gone, nil), "OK")
	if lines := taskLines(t, sim, "pve1", again); !slices.ContainsFunc(lines, func(l string) bool {
		return strings.HasPrefix(l, "disk image '") && strings.HasSuffix(l, "' does not exist")
	}) {
		t.Fatalf("deleting a missing backup: %q", lines)
	}
	expectError(t, call(t, sim, "GET", "/nodes/pve1/storage/local/content/"+gone, nil), 500, "volume_size_info on '"+gone+"' failed - no format")
	res = call(t, sim, "DELETE", "/nodes/pve1/storage/local/content/local-lvm:"+strings.TrimPrefix(gone, "local:"), nil)
	if e := res.errors(t); e["volume"] != "storage ID mismatch (local-lvm != local)" {
		t.Fatalf("mismatch: %v", e)
	}
	expectError(t, call(t, sim, "DELETE", "/nodes/pve1/storage/local/content/local:backup/nope.txt", nil), 500,
		"unable to parse directory volume name 'backup/nope.txt'")
}
