package pvesim_test

import (
	"net/http"
	"testing"

	"templatemanager.dev/lxc-template-manager/internal/pvesim/fake"
	"templatemanager.dev/lxc-template-manager/internal/pvesim/pvesimtest"
)

// rootSession signs in as root@pam with a ticket and returns what authenticates a request.
func rootSession(t *testing.T, sim *pvesimtest.Simulator, password string) func(http.Header) {
	t.Helper()
	res := callWith(t, sim, "POST", "/access/ticket", map[string]any{"username": "root@pam", "password": password}, nil)
	var session struct {
		Ticket string `json:"ticket"`
		CSRF   string `json:"CSRFPreventionToken"`
	}
	res.data(t, &session)
	if session.Ticket == "" {
		t.Fatalf("root@pam login: %d %s", res.Code, res.Raw)
	}
	return func(h http.Header) {
		h.Set("Cookie", "PVEAuthCookie="+session.Ticket)
		h.Set("CSRFPreventionToken", session.CSRF)
	}
}

// TestBindMountAndDevicePermission: as in pve-container's check_ct_modify_config_perm, a bind
// mount point, a passed-through device and the mknod and mount features are refused (403)
// to an API token, on create and on update; root@pam sets them, and Proxmox keeps them in the
// configuration as given.
func TestBindMountAndDevicePermission(t *testing.T) {
	sim := pvesimtest.Start(t, pvesimtest.WithUser("root@pam", "rootpw"))
	root := rootSession(t, sim, "rootpw")
	dir := t.TempDir()
	create := func(vmid int, extra map[string]any) map[string]any {
		body := map[string]any{"vmid": vmid, "ostemplate": "local:vztmpl/" + fake.Template, "rootfs": "local-lvm:4"}
		for k, v := range extra {
			body[k] = v
		}
		return body
	}
	for _, c := range []struct {
		name  string
		extra map[string]any
		want  string
	}{
		{"bind mount", map[string]any{"mp0": dir + ",mp=/data"}, "Permission check failed (mount point type bind is only allowed for root@pam)"},
		{"device", map[string]any{"dev0": "/dev/null,mode=0666"}, "Permission check failed (configuring device passthrough is only allowed for root@pam)"},
		{"mknod", map[string]any{"features": "mknod=1"}, "Permission check failed (changing feature flags (except nesting) is only allowed for root@pam)"},
		{"mount", map[string]any{"features": "mount=nfs;cifs,nesting=1"}, "Permission check failed (changing feature flags (except nesting) is only allowed for root@pam)"},
	} {
		expectError(t, call(t, sim, "POST", "/nodes/pve1/lxc", create(100, c.extra)), 403, c.want)
	}

	res := callWith(t, sim, "POST", "/nodes/pve1/lxc", create(100, map[string]any{
		"mp0": dir + ",mp=/data,ro=1", "dev0": "/dev/null,mode=0666,uid=0,gid=5,deny-write=1", "features": "mknod=1,mount=nfs;cifs,nesting=1",
	}), root)
	waitTask(t, sim, "pve1", res, "OK")
	conf := configOf(t, sim, "pve1", 100)
	for k, want := range map[string]string{"mp0": dir + ",mp=/data,ro=1", "dev0": "/dev/null,mode=0666,uid=0,gid=5,deny-write=1",
		"features": "mknod=1,mount=nfs;cifs,nesting=1"} {
		if conf[k] != want {
			t.Errorf("%s = %v, want %q", k, conf[k], want)
		}
	}

	// Updates: a token may neither add nor remove a bind mount or a device; root@pam may.
	expectError(t, call(t, sim, "PUT", "/nodes/pve1/lxc/100/config", map[string]any{"dev1": "/dev/zero"}), 403,
		"Permission check failed (configuring device passthrough is only allowed for root@pam)")
	expectError(t, call(t, sim, "PUT", "/nodes/pve1/lxc/100/config", map[string]any{"mp1": dir + ",mp=/other"}), 403,
		"Permission check failed (mount point type bind is only allowed for root@pam)")
	expectError(t, call(t, sim, "PUT", "/nodes/pve1/lxc/100/config", map[string]any{"delete": "dev0"}), 403,
		"Permission check failed (configuring device passthrough is only allowed for root@pam)")
	if res := callWith(t, sim, "PUT", "/nodes/pve1/lxc/100/config", map[string]any{"dev1": "/dev/zero", "delete": "mp0"}, root); res.Code != 200 {
		t.Fatalf("root@pam update: %d %s", res.Code, res.Raw)
	}
	conf = configOf(t, sim, "pve1", 100)
	if conf["dev1"] != "/dev/zero" || conf["mp0"] != nil {
		t.Errorf("after the update: dev1 %v, mp0 %v", conf["dev1"], conf["mp0"])
	}
}

// TestDeviceValidation: a device entry that is no device node of the node, or whose options
// break the schema, is refused even to root@pam, with PVE's messages.
func TestDeviceValidation(t *testing.T) {
	sim := pvesimtest.Start(t, pvesimtest.WithUser("root@pam", "rootpw"))
	root := rootSession(t, sim, "rootpw")
	put := func(dev string) rawResponse {
		return callWith(t, sim, "POST", "/nodes/pve1/lxc", map[string]any{"vmid": 100, "ostemplate": "local:vztmpl/" + fake.Template,
			"rootfs": "local-lvm:4", "dev0": dev}, root)
	}
	for _, c := range []struct {
		dev  string
		code int
		msg  string
	}{
		{"/etc/passwd", 400, "Parameter verification failed."},
		{"/dev/../etc/shadow", 400, "Parameter verification failed."},
		{"/dev/null,mode=777", 400, "Parameter verification failed."},
		{"/dev/null,uid=-1", 400, "Parameter verification failed."},
		{"/dev/null,colour=red", 400, "Parameter verification failed."},
		{"mode=0666", 500, "Path is not defined for passthrough device dev0"},
		{"/dev/no-such-device", 500, "Device /dev/no-such-device does not exist"},
		{"/dev/shm", 500, "/dev/shm is not a device"},
	} {
		res := put(c.dev)
		if res.Code != c.code || res.Status != c.msg {
			t.Errorf("dev0=%s: got %d %q, want %d %q (%s)", c.dev, res.Code, res.Status, c.code, c.msg, res.Raw)
		}
	}
}
