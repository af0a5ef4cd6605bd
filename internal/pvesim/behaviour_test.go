package pvesim_test

import (
	"crypto/tls"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	proxmox "github.com/luthermonson/go-proxmox"

	"templatemanager.dev/lxc-template-manager/internal/pvesim"
	"templatemanager.dev/lxc-template-manager/internal/pvesim/fake"
	"templatemanager.dev/lxc-template-manager/internal/pvesim/pvesimtest"
)

func expectError(t *testing.T, res rawResponse, code int, msg string) {
	t.Helper()
	if res.Code != code || res.Status != msg {
		t.Fatalf("got %d %q, want %d %q (%s)", res.Code, res.Status, code, msg, res.Raw)
	}
	if code >= 500 {
		var body struct {
			Data    any    `json:"data"`
			Message string `json:"message"`
		}
		res.data(t, &body.Data)
		if m := string(res.Body["message"]); m != `"`+msg+`\n"` {
			t.Fatalf("message %s, want %q", m, msg+"\n")
		}
	}
}

// TestCreateLock shows `lock: create` while the create task runs and what it blocks: the
// worker holds the config lock throughout, so calls that take the lock wait for it (and give
// up after the lock timeout), while destroy checks the config lock at once.
func TestCreateLock(t *testing.T) {
	create := func(sim *pvesimtest.Simulator) string {
		return call(t, sim, "POST", "/nodes/pve1/lxc", map[string]any{
			"vmid": 100, "ostemplate": "local:vztmpl/" + fake.Template, "rootfs": "local-lvm:4", "hostname": "web",
		}).upid(t)
	}
	t.Run("lock timeout shorter than the create", func(t *testing.T) {
		// The create outlasts every call below by far, even on a busy machine.
		sim := pvesimtest.Start(t, pvesimtest.WithTaskDurationOf("vzcreate", 6*time.Second),
			pvesimtest.WithOptions(func(o *pvesim.Options) { o.LockTimeout = 150 * time.Millisecond }))
		upid := create(sim)
		conf := configOf(t, sim, "pve1", 100)
		if len(conf) != 2 || conf["lock"] != "create" || conf["digest"] == "" {
			t.Fatalf("config while creating: %v", conf)
		}
		var list []map[string]any
		call(t, sim, "GET", "/nodes/pve1/lxc", nil).data(t, &list)
		if len(list) != 1 || list[0]["lock"] != "create" || list[0]["name"] != "CT100" || list[0]["status"] != "stopped" {
			t.Fatalf("list while creating: %v", list)
		}
		expectError(t, call(t, sim, "PUT", "/nodes/pve1/lxc/100/config", map[string]any{"memory": 256}), 500,
			"can't lock file '/run/lock/lxc/pve-config-100.lock' - got timeout")
		expectError(t, call(t, sim, "DELETE", "/nodes/pve1/lxc/100", nil), 500, "CT is locked (create)")
		expectError(t, call(t, sim, "POST", "/nodes/pve1/lxc", map[string]any{"vmid": 100, "ostemplate": "local:vztmpl/" + fake.Template, "rootfs": "local-lvm:4"}),
			500, "CT 100 already exists on node 'pve1'")
		waitTask(t, sim, "pve1", call(t, sim, "POST", "/nodes/pve1/lxc/100/status/start", nil),
			"can't lock file '/run/lock/lxc/pve-config-100.lock' - got timeout")
		waitTask(t, sim, "pve1", rawOK(upid), "OK")
		if conf := configOf(t, sim, "pve1", 100); conf["lock"] != nil || conf["hostname"] != "web" {
			t.Fatalf("config after create: %v", conf)
		}
	})
	t.Run("calls queue behind the create", func(t *testing.T) {
		sim := pvesimtest.Start(t, pvesimtest.WithTaskDurationOf("vzcreate", 400*time.Millisecond),
			pvesimtest.WithOptions(func(o *pvesim.Options) { o.LockTimeout = 5 * time.Second }))
		upid := create(sim)
		start := call(t, sim, "POST", "/nodes/pve1/lxc/100/status/start", nil).upid(t)
		if res := call(t, sim, "PUT", "/nodes/pve1/lxc/100/config", map[string]any{"memory": 256}); res.Code != 200 {
			t.Fatalf("update after waiting: %d %s", res.Code, res.Status)
		}
		if status, exit := taskStatus(t, sim, "pve1", upid); status != "stopped" || exit != "OK" {
			t.Fatalf("the update did not wait for the create: %s %s", status, exit)
		}
		waitTask(t, sim, "pve1", rawOK(start), "OK")
		if conf := configOf(t, sim, "pve1", 100); conf["memory"] != float64(256) {
			t.Fatalf("config: %v", conf)
		}
	})
}

// rawOK turns a known UPID back into an answer for waitTask.
func rawOK(upid string) rawResponse {
	return rawResponse{Code: 200, Body: map[string]json.RawMessage{"data": json.RawMessage(`"` + upid + `"`)}}
}

// TestErrorTexts checks the texts real PVE puts into the status line.
func TestErrorTexts(t *testing.T) {
	sim := pvesimtest.Start(t, pvesimtest.WithNodes("pve1", "pve2"))
	createCT(t, sim, "pve1", 100, nil)
	ctx := testContext(t, time.Minute)

	// go-proxmox reports 500s as "500 <reason>".
	node2 := nodeOf(t, sim, "pve2")
	_, err := node2.NewContainer(ctx, 100, proxmox.ContainerOption{Name: "ostemplate", Value: "local:vztmpl/" + fake.Template},
		proxmox.ContainerOption{Name: "rootfs", Value: "local-lvm:4"})
	if err == nil || err.Error() != "500 CT 100 already exists on node 'pve1'" {
		t.Fatalf("duplicate vmid on another node: %v", err)
	}
	expectError(t, call(t, sim, "GET", "/nodes/pve2/lxc/100/config", nil), 500, "Configuration file 'nodes/pve2/lxc/100.conf' does not exist")
	expectError(t, call(t, sim, "POST", "/nodes/pve1/lxc/100/status/stop", nil), 500, "CT 100 not running")
	expectError(t, call(t, sim, "POST", "/nodes/pve1/lxc/100/status/shutdown", nil), 500, "CT 100 not running")
	expectError(t, call(t, sim, "POST", "/nodes/pve1/lxc/100/status/reboot", nil), 500, "VM 100 not running")
	waitTask(t, sim, "pve1", call(t, sim, "POST", "/nodes/pve1/lxc/100/status/start", nil), "OK")
	expectError(t, call(t, sim, "POST", "/nodes/pve1/lxc/100/status/start", nil), 500, "CT 100 already running")
	expectError(t, call(t, sim, "DELETE", "/nodes/pve1/lxc/100", nil), 500, "unable to destroy CT 100 - container is running")
	expectError(t, call(t, sim, "PUT", "/nodes/pve1/lxc/100/config", nil), 500, "no options specified")
	expectError(t, call(t, sim, "PUT", "/nodes/pve1/lxc/100/config", map[string]any{"delete": "memory"}), 500, "unable to delete required option 'memory'")
	expectError(t, call(t, sim, "PUT", "/nodes/pve1/lxc/100/config", map[string]any{"unprivileged": 0}), 500, "unable to modify read-only option: 'unprivileged'")
	expectError(t, call(t, sim, "PUT", "/nodes/pve1/lxc/100/config", map[string]any{"memory": 256, "digest": strings.Repeat("0", 40)}),
		500, "detected modified configuration - file changed by other user? Try again.")
	expectError(t, call(t, sim, "GET", "/nodes/pve9/lxc", nil), 500,
		"hostname lookup 'pve9' failed - failed to get address info for: pve9: Name or service not known")
	expectError(t, call(t, sim, "GET", "/nodes/pve1/storage/nfs/status", nil), 400, "Parameter verification failed.")
	expectError(t, call(t, sim, "POST", "/nodes/pve1/lxc/100/snapshot", map[string]any{"snapname": "current"}), 500,
		"unable to use snapshot name 'current' (reserved name)")

	// A digest that matches is accepted.
	conf := configOf(t, sim, "pve1", 100)
	if res := call(t, sim, "PUT", "/nodes/pve1/lxc/100/config", map[string]any{"memory": 256, "digest": conf["digest"]}); res.Code != 200 || string(res.Body["data"]) != "null" {
		t.Fatalf("update with digest: %d %s", res.Code, res.Raw)
	}
	// Force destroys a running container.
	waitTask(t, sim, "pve1", call(t, sim, "DELETE", "/nodes/pve1/lxc/100?force=1&purge=1", nil), "OK")
	expectError(t, call(t, sim, "GET", "/nodes/pve1/lxc/100/status/current", nil), 500, "Configuration file 'nodes/pve1/lxc/100.conf' does not exist")
}

func TestCreateChecks(t *testing.T) {
	tmpl := t.TempDir()
	sim := pvesimtest.Start(t, pvesimtest.WithTemplateDir(tmpl))
	body := func(change map[string]any) map[string]any {
		b := map[string]any{"vmid": 100, "ostemplate": "local:vztmpl/" + fake.Template, "rootfs": "local-lvm:4"}
		for k, v := range change {
			if v == nil {
				delete(b, k)
			} else {
				b[k] = v
			}
		}
		return b
	}
	// The simulator's 'local' (a directory storage) holds container disks as raw image files,
	// and is the default storage.
	waitTask(t, sim, "pve1", call(t, sim, "POST", "/nodes/pve1/lxc", body(map[string]any{"vmid": 110, "rootfs": nil})), "OK")
	waitTask(t, sim, "pve1", call(t, sim, "POST", "/nodes/pve1/lxc", body(map[string]any{"vmid": 111, "rootfs": "local:8"})), "OK")
	for vmid, want := range map[int]string{110: "local:110/vm-110-disk-0.raw,size=4G", 111: "local:111/vm-111-disk-0.raw,size=8G"} {
		if got := configOf(t, sim, "pve1", vmid)["rootfs"]; got != want {
			t.Fatalf("rootfs of %d: %v, want %s", vmid, got, want)
		}
	}
	res := call(t, sim, "POST", "/nodes/pve1/lxc", body(map[string]any{"rootfs": nil, "storage": "nfs"}))
	expectError(t, res, 500, "storage 'nfs' does not exist")
	expectError(t, call(t, sim, "POST", "/nodes/pve1/lxc", body(map[string]any{"rootfs": "nfs:8"})), 500, "storage 'nfs' does not exist")
	expectError(t, call(t, sim, "POST", "/nodes/pve1/lxc", body(map[string]any{"ostemplate": "/var/lib/vz/template/cache/x.tar.zst"})),
		500, "Only root can pass arbitrary filesystem paths.")
	expectError(t, call(t, sim, "POST", "/nodes/pve1/lxc", body(map[string]any{"ostemplate": "local:iso/x.iso"})),
		500, "unable to use volume local:iso/x.iso - content type needs to be 'vztmpl'")
	expectError(t, call(t, sim, "POST", "/nodes/pve1/lxc", body(map[string]any{"ssh-public-keys": "ssh-ed25519 not-a-key"})),
		500, "SSH public key validation error")
	// A template that is not there fails inside the task, and the CT goes away.
	waitTask(t, sim, "pve1", call(t, sim, "POST", "/nodes/pve1/lxc", body(map[string]any{"ostemplate": "local:vztmpl/nope.tar.zst"})),
		"unable to create CT 100 - can't find file 'local:vztmpl/nope.tar.zst'")
	expectError(t, call(t, sim, "GET", "/nodes/pve1/lxc/100/config", nil), 500, "Configuration file 'nodes/pve1/lxc/100.conf' does not exist")

	// A tarball in the template directory can be used; rootfs becomes an allocated volume.
	if err := os.WriteFile(filepath.Join(tmpl, "alpine-3.20-default_20240908_amd64.tar.xz"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	createCT(t, sim, "pve1", 100, map[string]any{"ostemplate": "local:vztmpl/alpine-3.20-default_20240908_amd64.tar.xz",
		"rootfs": "local-lvm:0.5", "tags": "k8s,Managed web k8s", "net0": "name=eth0,bridge=vmbr0,ip=dhcp,firewall=true"})
	conf := configOf(t, sim, "pve1", 100)
	if conf["rootfs"] != "local-lvm:vm-100-disk-0,size=512M" || conf["tags"] != "k8s;managed;web" || conf["ostype"] != "alpine" ||
		conf["hostname"] != "CT100" || conf["memory"] != float64(512) || conf["swap"] != float64(512) || conf["unprivileged"] != float64(1) {
		t.Fatalf("config: %v", conf)
	}
	if !regexp.MustCompile(`^name=eth0,bridge=vmbr0,firewall=1,hwaddr=BC:24:11:[0-9A-F]{2}:[0-9A-F]{2}:[0-9A-F]{2},ip=dhcp,type=veth$`).MatchString(conf["net0"].(string)) {
		t.Fatalf("net0: %v", conf["net0"])
	}
}

// TestFeaturePermission: like real PVE, an API token (not root@pam itself) may set nesting
// but no other feature; root@pam logged in with a ticket may.
func TestFeaturePermission(t *testing.T) {
	sim := pvesimtest.Start(t, pvesimtest.WithUser("root@pam", "rootpw"))
	ctx := testContext(t, time.Minute)
	node := nodeOf(t, sim, "pve1")
	opts := func(vmid int, features string) []proxmox.ContainerOption {
		return []proxmox.ContainerOption{{Name: "ostemplate", Value: "local:vztmpl/" + fake.Template},
			{Name: "rootfs", Value: "local-lvm:4"}, {Name: "features", Value: features}}
	}
	_, err := node.NewContainer(ctx, 100, opts(100, "nesting=1,keyctl=1")...)
	if !errors.Is(err, proxmox.ErrNotAuthorized) {
		t.Fatalf("token with keyctl: %v", err)
	}
	res := call(t, sim, "POST", "/nodes/pve1/lxc", map[string]any{"vmid": 100, "ostemplate": "local:vztmpl/" + fake.Template,
		"rootfs": "local-lvm:4", "features": "fuse=1"})
	expectError(t, res, 403, "Permission check failed (changing feature flags (except nesting) is only allowed for root@pam)")
	task, err := node.NewContainer(ctx, 100, opts(100, "nesting=1")...)
	waitOK(t, ctx, task, err, "token with nesting")

	root := proxmox.NewClient(sim.URL, proxmox.WithCredentials(&proxmox.Credentials{Username: "root@pam", Password: "rootpw"}),
		proxmox.WithHTTPClient(sim.HTTPClient()))
	rootNode, err := root.Node(ctx, "pve1")
	if err != nil {
		t.Fatalf("ticket login: %v", err)
	}
	task, err = rootNode.NewContainer(ctx, 101, opts(101, "nesting=1,keyctl=1")...)
	waitOK(t, ctx, task, err, "root@pam with keyctl")
	// Re-sending unchanged flags is allowed for a token; changing them is not.
	ct, err := node.Container(ctx, 101)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ct.Config(ctx, proxmox.ContainerOption{Name: "features", Value: "keyctl=1,nesting=1"}); err != nil {
		t.Fatalf("unchanged features: %v", err)
	}
	if _, err := ct.Config(ctx, proxmox.ContainerOption{Name: "features", Value: "nesting=1"}); !errors.Is(err, proxmox.ErrNotAuthorized) {
		t.Fatalf("dropping keyctl with a token: %v", err)
	}
}

func TestAuthentication(t *testing.T) {
	sim := pvesimtest.Start(t, pvesimtest.WithUser("ctl@pve", "pw-of-ctl"),
		pvesimtest.WithOptions(func(o *pvesim.Options) { o.UnauthorizedDelay = 200 * time.Millisecond }))
	expectError(t, callWith(t, sim, "GET", "/version", nil, nil), 401, "No ticket")
	start := time.Now()
	expectError(t, callWith(t, sim, "GET", "/version", nil, func(h http.Header) {
		h.Set("Authorization", "PVEAPIToken="+sim.TokenID+"=wrong")
	}), 401, "Authentication failed!")
	if d := time.Since(start); d < 200*time.Millisecond {
		t.Fatalf("401 answered after %s", d)
	}
	expectError(t, callWith(t, sim, "POST", "/access/ticket", map[string]any{"username": "ctl@pve", "password": "nope"}, nil), 401, "authentication failure")

	res := callWith(t, sim, "POST", "/access/ticket", "username=ctl&realm=pve&password=pw-of-ctl", nil)
	var session struct {
		Username string `json:"username"`
		Ticket   string `json:"ticket"`
		CSRF     string `json:"CSRFPreventionToken"`
	}
	res.data(t, &session)
	if session.Username != "ctl@pve" || !regexp.MustCompile(`^PVE:ctl@pve:[0-9A-F]{8}::\S+$`).MatchString(session.Ticket) ||
		!regexp.MustCompile(`^[0-9A-F]{8}:\S+$`).MatchString(session.CSRF) {
		t.Fatalf("session: %+v", session)
	}
	cookie := func(h http.Header) { h.Set("Cookie", "PVEAuthCookie="+session.Ticket) }
	if res := callWith(t, sim, "GET", "/version", nil, cookie); res.Code != 200 {
		t.Fatalf("GET with ticket: %d", res.Code)
	}
	body := map[string]any{"vmid": 100, "ostemplate": "local:vztmpl/" + fake.Template, "rootfs": "local-lvm:4"}
	expectError(t, callWith(t, sim, "POST", "/nodes/pve1/lxc", body, cookie), 401, "Permission denied - invalid csrf token")
	res = callWith(t, sim, "POST", "/nodes/pve1/lxc", body, func(h http.Header) {
		cookie(h)
		h.Set("CSRFPreventionToken", session.CSRF)
	})
	if res.Code != 200 {
		t.Fatalf("POST with ticket and CSRF token: %d %s", res.Code, res.Status)
	}
	// The old ticket renews the session, as go-proxmox's RefreshTicket does.
	res = callWith(t, sim, "POST", "/access/ticket", map[string]any{"username": "ctl@pve", "password": session.Ticket}, nil)
	if res.Code != 200 {
		t.Fatalf("renewal: %d %s", res.Code, res.Status)
	}

	// go-proxmox with credentials logs in lazily after the first 401.
	client := proxmox.NewClient(sim.URL, proxmox.WithCredentials(&proxmox.Credentials{Username: "ctl@pve", Password: "pw-of-ctl"}),
		proxmox.WithHTTPClient(sim.HTTPClient()))
	if v, err := client.Version(testContext(t, time.Minute)); err != nil || v.Release != "9.1" {
		t.Fatalf("version with credentials: %+v %v", v, err)
	}
}

func TestProtocol(t *testing.T) {
	sim := pvesimtest.Start(t)
	// Unknown paths and methods answer 501 with PVE's text.
	expectError(t, call(t, sim, "GET", "/nodes/pve1/qemu", nil), 501, "Method 'GET /nodes/pve1/qemu' not implemented")
	expectError(t, call(t, sim, "PUT", "/version", nil), 501, "Method 'PUT /version' not implemented")
	if _, err := newClient(sim).Node(testContext(t, time.Minute), "pve1"); err != nil {
		t.Fatal(err)
	}
	// HTTP/1.1 only, even for a client that would take h2.
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: sim.CAPool, NextProtos: []string{"h2", "http/1.1"}}, ForceAttemptHTTP2: true}
	req, _ := http.NewRequest("GET", sim.URL+"/version", nil)
	req.Header.Set("Authorization", sim.Token())
	res, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.ProtoMajor != 1 || res.TLS.NegotiatedProtocol == "h2" || res.Header.Get("Content-Type") != "application/json;charset=UTF-8" {
		t.Fatalf("proto %s alpn %q content type %q", res.Proto, res.TLS.NegotiatedProtocol, res.Header.Get("Content-Type"))
	}
	// Errors close the connection, as pveproxy does.
	if r := call(t, sim, "GET", "/nodes/pve1/lxc/100/config", nil); r.Code != 500 {
		t.Fatal(r.Code)
	}
}

var upidRE = regexp.MustCompile(`^UPID:pve1:[0-9A-F]{8}:[0-9A-F]{8}:[0-9A-F]{8}:vzcreate:100:root@pam!pvesimtest:$`)

func TestTasks(t *testing.T) {
	sim := pvesimtest.Start(t)
	res := call(t, sim, "POST", "/nodes/pve1/lxc", map[string]any{"vmid": 100, "ostemplate": "local:vztmpl/" + fake.Template, "rootfs": "local-lvm:4"})
	upid := res.upid(t)
	if !upidRE.MatchString(upid) {
		t.Fatalf("UPID %q", upid)
	}
	waitTask(t, sim, "pve1", res, "OK")
	var st map[string]any
	call(t, sim, "GET", "/nodes/pve1/tasks/"+upid+"/status", nil).data(t, &st)
	for _, k := range []string{"pid", "pstart", "starttime"} {
		if _, ok := st[k].(float64); !ok {
			t.Fatalf("%s is not a number: %v", k, st)
		}
	}
	if st["user"] != "root@pam" || st["tokenid"] != "pvesimtest" || st["type"] != "vzcreate" || st["id"] != "100" || st["upid"] != upid {
		t.Fatalf("status: %v", st)
	}
	res = call(t, sim, "GET", "/nodes/pve1/tasks/"+upid+"/log?start=0&limit=2", nil)
	var log []struct {
		N int    `json:"n"`
		T string `json:"t"`
	}
	res.data(t, &log)
	if len(log) != 2 || log[0].N != 1 || !strings.HasPrefix(log[0].T, "extracting archive '") || string(res.Body["total"]) < "3" {
		t.Fatalf("log: %+v total %s", log, res.Body["total"])
	}
	expectError(t, call(t, sim, "GET", "/nodes/pve1/tasks/UPID:pve1:1:2:3:x:y:z:/status", nil), 400, "Parameter verification failed.")
	expectError(t, call(t, sim, "GET", "/nodes/pve1/tasks/UPID:pve1:00000001:00000001:00000001:vzstart:1:root@pam:/status", nil), 400, "Parameter verification failed.")

	// go-proxmox's task helpers.
	task := proxmox.NewTask(proxmox.UPID(upid), newClient(sim))
	lines, err := task.Log(testContext(t, time.Minute), 0, 50)
	if err != nil || lines[len(lines)-1] != "TASK OK" {
		t.Fatalf("log via go-proxmox: %v %v", lines, err)
	}
	// Task lists: finished ones by default, filters, and the cluster view.
	sim.Fault(t, pvesim.FaultRule{Kind: pvesim.FaultTask, Task: "vzstart", Count: 1})
	waitTask(t, sim, "pve1", call(t, sim, "POST", "/nodes/pve1/lxc/100/status/start", nil), "injected task failure")
	var list []map[string]any
	call(t, sim, "GET", "/nodes/pve1/tasks", nil).data(t, &list)
	if len(list) != 2 || list[0]["type"] != "vzstart" || list[0]["status"] != "injected task failure" || list[1]["status"] != "OK" {
		t.Fatalf("tasks: %v", list)
	}
	call(t, sim, "GET", "/nodes/pve1/tasks?errors=1", nil).data(t, &list)
	if len(list) != 1 || list[0]["type"] != "vzstart" {
		t.Fatalf("error tasks: %v", list)
	}
	cluster, err := newClient(sim).Cluster(testContext(t, time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	tasks, err := cluster.Tasks(testContext(t, time.Minute))
	if err != nil || len(tasks) != 2 {
		t.Fatalf("cluster tasks: %v %v", tasks, err)
	}
	// Stopping a running task (here a start waiting for a held config lock) interrupts it.
	sim.Fault(t, pvesim.FaultRule{Kind: pvesim.FaultLock, Endpoint: "POST /nodes/{node}/lxc/{vmid}/status/start", Count: 1, Delay: pvesim.Duration(time.Minute)})
	waiting := call(t, sim, "POST", "/nodes/pve1/lxc/100/status/start", nil).upid(t)
	if status, _ := taskStatus(t, sim, "pve1", waiting); status != "running" {
		t.Fatalf("start behind a held lock: %s", status)
	}
	if res := call(t, sim, "DELETE", "/nodes/pve1/tasks/"+waiting, nil); res.Code != 200 {
		t.Fatalf("stop task: %d %s", res.Code, res.Status)
	}
	waitTask(t, sim, "pve1", rawOK(waiting), "received interrupt")
}

func TestTagsNextIDAndResources(t *testing.T) {
	sim := pvesimtest.Start(t, pvesimtest.WithNodes("pve1", "pve2"))
	ctx := testContext(t, time.Minute)
	cluster, err := newClient(sim).Cluster(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(cluster.Nodes) != 2 || cluster.Name != "pvesim" {
		t.Fatalf("cluster: %+v", cluster)
	}
	if id, err := cluster.NextID(ctx); err != nil || id != 100 {
		t.Fatalf("nextid: %d %v", id, err)
	}
	createCT(t, sim, "pve1", 100, map[string]any{"tags": "k8s,Managed web"})
	createCT(t, sim, "pve2", 101, nil)
	if id, err := cluster.NextID(ctx); err != nil || id != 102 {
		t.Fatalf("nextid: %d %v", id, err)
	}
	if free, err := cluster.CheckID(ctx, 100); err != nil || free {
		t.Fatalf("CheckID(100): %v %v", free, err)
	}
	if free, err := cluster.CheckID(ctx, 150); err != nil || !free {
		t.Fatalf("CheckID(150): %v %v", free, err)
	}
	waitTask(t, sim, "pve2", call(t, sim, "POST", "/nodes/pve2/lxc/101/status/start", nil), "OK")

	rs, err := cluster.Resources(ctx, "vm")
	if err != nil || len(rs) != 2 {
		t.Fatalf("resources: %v %v", rs, err)
	}
	if rs[0].ID != "lxc/100" || rs[0].Node != "pve1" || rs[0].Tags != "k8s;managed;web" || rs[0].Status != "stopped" ||
		rs[1].ID != "lxc/101" || rs[1].Node != "pve2" || rs[1].Status != "running" || rs[1].Uptime > 60 {
		t.Fatalf("resources: %+v %+v", rs[0], rs[1])
	}
	all, err := cluster.Resources(ctx)
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]int{}
	for _, r := range all {
		kinds[r.Type]++
	}
	if kinds["lxc"] != 2 || kinds["node"] != 2 || kinds["storage"] != 4 {
		t.Fatalf("resource kinds: %v", kinds)
	}
	// go-proxmox's tag helpers keep the normalised form.
	ct, err := nodeOf(t, sim, "pve1").Container(ctx, 100)
	if err != nil {
		t.Fatal(err)
	}
	if !ct.HasTag("managed") {
		t.Fatalf("tags %q", ct.Tags)
	}
	if _, err := ct.AddTag(ctx, "Zeta"); err != nil {
		t.Fatal(err)
	}
	if conf := configOf(t, sim, "pve1", 100); conf["tags"] != "k8s;managed;web;zeta" {
		t.Fatalf("tags after AddTag: %v", conf["tags"])
	}
}

func TestStoragesAndTemplates(t *testing.T) {
	tmpl := t.TempDir()
	if err := os.WriteFile(filepath.Join(tmpl, "debian-12-custom_1.0_amd64.tar.gz"), []byte("tarball"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(tmpl, "notes.txt"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	sim := pvesimtest.Start(t, pvesimtest.WithTemplateDir(tmpl), pvesimtest.WithNodes("pve1", "pve2"))
	ctx := testContext(t, time.Minute)
	for _, name := range sim.Nodes {
		node := nodeOf(t, sim, name)
		storages, err := node.Storages(ctx)
		if err != nil || len(storages) != 2 {
			t.Fatalf("%s storages: %v %v", name, storages, err)
		}
		byName := map[string]*proxmox.Storage{}
		for _, s := range storages {
			byName[s.Name] = s
		}
		if !strings.Contains(byName["local"].Content, "vztmpl") || !strings.Contains(byName["local-lvm"].Content, "rootdir") {
			t.Fatalf("%s storages: %+v %+v", name, byName["local"], byName["local-lvm"])
		}
		tmpls, err := node.VzTmpls(ctx, "local")
		if err != nil {
			t.Fatal(err)
		}
		var volids []string
		for _, v := range tmpls {
			volids = append(volids, v.VolID)
		}
		want := []string{"local:vztmpl/debian-12-custom_1.0_amd64.tar.gz", "local:vztmpl/" + fake.Template}
		if !slices.Equal(volids, want) {
			t.Fatalf("%s templates %v, want %v", name, volids, want)
		}
	}
	var content []map[string]any
	call(t, sim, "GET", "/nodes/pve1/storage/local/content?content=vztmpl", nil).data(t, &content)
	if content[0]["format"] != "tgz" || content[0]["size"] != float64(len("tarball")) {
		t.Fatalf("content: %v", content)
	}
	if v, err := nodeOf(t, sim, "pve1").VzTmpl(ctx, fake.Template, "local"); err != nil || v.Format != "tzst" {
		t.Fatalf("VzTmpl: %+v %v", v, err)
	}
	createCT(t, sim, "pve1", 100, nil)
	call(t, sim, "GET", "/nodes/pve1/storage/local-lvm/content", nil).data(t, &content)
	if len(content) != 1 || content[0]["volid"] != "local-lvm:vm-100-disk-0" || content[0]["vmid"] != float64(100) {
		t.Fatalf("local-lvm content: %v", content)
	}
	// Appliances: the known template downloads (it is there); an unknown one is refused.
	node := nodeOf(t, sim, "pve1")
	apps, err := node.Appliances(ctx)
	if err != nil || len(apps) == 0 || apps[0].Template != fake.Template {
		t.Fatalf("appliances: %v %v", apps, err)
	}
	upid, err := node.DownloadAppliance(ctx, fake.Template, "local")
	if err != nil {
		t.Fatal(err)
	}
	waitTask(t, sim, "pve1", rawOK(upid), "OK")
	if res := call(t, sim, "POST", "/nodes/pve1/aplinfo", map[string]any{"storage": "local", "template": "nope.tar.zst"}); res.errors(t)["template"] != "no such template" {
		t.Fatalf("unknown appliance: %s", res.Raw)
	}
}

// TestInterfacesAndLeases: a static address shows at once, a DHCP lease after the backend's
// delay; a lease belongs to the container and interface and survives restarts of the CT and
// changes of net0 (PVE gives a new MAC when hwaddr is left out).
func TestInterfacesAndLeases(t *testing.T) {
	sim := pvesimtest.Start(t, pvesimtest.WithDHCPDelay(time.Second))
	createCT(t, sim, "pve1", 100, nil)
	createCT(t, sim, "pve1", 101, map[string]any{"net0": "name=eth0,bridge=vmbr0,ip=169.254.1.20/24"})
	for _, id := range []int{100, 101} {
		waitTask(t, sim, "pve1", call(t, sim, "POST", "/nodes/pve1/lxc/"+itoa(id)+"/status/start", nil), "OK")
	}
	type iface struct {
		Name  string `json:"name"`
		HW    string `json:"hwaddr"`
		HW2   string `json:"hardware-address"`
		Inet  string `json:"inet"`
		Inet6 string `json:"inet6"`
		Addrs []struct {
			IP     string `json:"ip-address"`
			Type   string `json:"ip-address-type"`
			Prefix int    `json:"prefix"`
		} `json:"ip-addresses"`
	}
	ifaces := func(vmid int) map[string]iface {
		var list []iface
		call(t, sim, "GET", "/nodes/pve1/lxc/"+itoa(vmid)+"/interfaces", nil).data(t, &list)
		out := map[string]iface{}
		for _, i := range list {
			out[i.Name] = i
		}
		return out
	}
	if eth0 := ifaces(100)["eth0"]; eth0.Inet != "" || eth0.Inet6 == "" || eth0.HW == "" || eth0.HW != eth0.HW2 {
		t.Fatalf("DHCP eth0 right after start: %+v", eth0)
	}
	if eth0 := ifaces(101)["eth0"]; eth0.Inet != "169.254.1.20/24" || len(eth0.Addrs) != 2 || eth0.Addrs[0].Type != "inet" || eth0.Addrs[0].Prefix != 24 {
		t.Fatalf("static eth0: %+v", eth0)
	}
	if lo := ifaces(101)["lo"]; lo.Inet != "127.0.0.1/8" {
		t.Fatalf("lo: %+v", lo)
	}
	lease := ctAddress(t, sim, "pve1", 100)
	if lease.Addr() != addrAt(sim.Subnet, 2) || lease.Bits() != 24 {
		t.Fatalf("first lease %s in %s", lease, sim.Subnet)
	}
	waitTask(t, sim, "pve1", call(t, sim, "POST", "/nodes/pve1/lxc/100/status/stop", nil), "OK")
	before := configOf(t, sim, "pve1", 100)["net0"].(string)
	if res := call(t, sim, "PUT", "/nodes/pve1/lxc/100/config", map[string]any{"net0": "name=eth0,bridge=vmbr0,ip=dhcp,mtu=1400"}); res.Code != 200 {
		t.Fatalf("%d %s", res.Code, res.Status)
	}
	after := configOf(t, sim, "pve1", 100)["net0"].(string)
	if before == after || !strings.Contains(after, "mtu=1400") {
		t.Fatalf("net0 %q → %q", before, after)
	}
	waitTask(t, sim, "pve1", call(t, sim, "POST", "/nodes/pve1/lxc/100/status/start", nil), "OK")
	if again := ctAddress(t, sim, "pve1", 100); again != lease {
		t.Fatalf("lease changed %s → %s", lease, again)
	}
	// Every node has vmbr0, whose address is the gateway; a bridge the node does not have
	// fails the start like on PVE.
	nets, err := nodeOf(t, sim, "pve1").Networks(testContext(t, time.Minute), "bridge")
	if err != nil || len(nets) != 1 || nets[0].Iface != "vmbr0" || nets[0].Address != sim.Gateway().String() {
		t.Fatalf("bridges: %+v %v", nets, err)
	}
	if res := call(t, sim, "GET", "/nodes/pve1/network/vmbr9", nil); res.errors(t)["iface"] != "interface does not exist" {
		t.Fatalf("vmbr9: %s", res.Raw)
	}
	createCT(t, sim, "pve1", 102, map[string]any{"net0": "name=eth0,bridge=vmbr9,ip=dhcp"})
	waitTask(t, sim, "pve1", call(t, sim, "POST", "/nodes/pve1/lxc/102/status/start", nil), "bridge 'vmbr9' does not exist")
}

func TestCloneSnapshotsAndTemplates(t *testing.T) {
	sim := pvesimtest.Start(t)
	ctx := testContext(t, time.Minute)
	createCT(t, sim, "pve1", 100, map[string]any{"hostname": "base", "memory": 512})
	node := nodeOf(t, sim, "pve1")
	ct, err := node.Container(ctx, 100)
	if err != nil {
		t.Fatal(err)
	}
	newid, task, err := ct.Clone(ctx, &proxmox.ContainerCloneOptions{Hostname: "copy"})
	waitOK(t, ctx, task, err, "clone")
	if newid != 101 {
		t.Fatalf("clone id %d", newid)
	}
	src, dst := configOf(t, sim, "pve1", 100), configOf(t, sim, "pve1", 101)
	if dst["hostname"] != "copy" || dst["rootfs"] != "local-lvm:vm-101-disk-0,size=4G" || dst["net0"] == src["net0"] || src["lock"] != nil {
		t.Fatalf("clone config %v (source %v)", dst, src)
	}

	task, err = ct.NewSnapshot(ctx, "before")
	waitOK(t, ctx, task, err, "snapshot")
	if _, err := ct.Config(ctx, proxmox.ContainerOption{Name: "memory", Value: 2048}); err != nil {
		t.Fatal(err)
	}
	snaps, err := ct.Snapshots(ctx)
	if err != nil || len(snaps) != 2 || snaps[0].Name != "before" || snaps[1].Name != "current" || snaps[1].Parent != "before" {
		t.Fatalf("snapshots: %+v %v", snaps, err)
	}
	expectError(t, call(t, sim, "POST", "/nodes/pve1/lxc/100/template", nil), 500, "unable to create template, because CT contains snapshots")
	task, err = snaps[0].Rollback(ctx, false)
	waitOK(t, ctx, task, err, "rollback")
	if conf := configOf(t, sim, "pve1", 100); conf["memory"] != float64(512) {
		t.Fatalf("memory after rollback: %v", conf["memory"])
	}
	waitTask(t, sim, "pve1", call(t, sim, "POST", "/nodes/pve1/lxc/100/snapshot", map[string]any{"snapname": "before"}), "snapshot name 'before' already used")
	task, err = snaps[0].Delete(ctx)
	waitOK(t, ctx, task, err, "delete snapshot")

	if err := ct.Template(ctx); err != nil {
		t.Fatalf("template: %v", err)
	}
	conf := configOf(t, sim, "pve1", 100)
	if conf["template"] != float64(1) || conf["rootfs"] != "local-lvm:base-100-disk-0,size=4G" {
		t.Fatalf("template config: %v", conf)
	}
	waitTask(t, sim, "pve1", call(t, sim, "POST", "/nodes/pve1/lxc/100/status/start", nil), "you can't start a CT if it's a template")
	// Templates clone linked by default.
	waitTask(t, sim, "pve1", call(t, sim, "POST", "/nodes/pve1/lxc/100/clone", map[string]any{"newid": 102}), "OK")
	expectError(t, call(t, sim, "POST", "/nodes/pve1/lxc/101/clone", map[string]any{"newid": 103, "full": 0}), 500,
		"Linked clone feature for 'local-lvm:vm-101-disk-0' is not available")
}
