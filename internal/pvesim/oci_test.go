package pvesim_test

import (
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"templatemanager.dev/lxc-template-manager/internal/pvesim"
	"templatemanager.dev/lxc-template-manager/internal/pvesim/oci/ocitest"
	"templatemanager.dev/lxc-template-manager/internal/pvesim/pvesimtest"
	"templatemanager.dev/lxc-template-manager/internal/testkit"
)

func pushApp(t *testing.T, reg, ref string) string {
	t.Helper()
	layer := ocitest.Layer(t, ocitest.File{Name: "app", Content: "#!/bin/sh\n", Mode: 0o755})
	return ocitest.Push(t, reg+"/"+ref, v1.Config{Entrypoint: []string{"/app"}, Cmd: []string{"--port", "8080"},
		Env: []string{"PATH=/usr/bin:/bin", "GREETING=from image"}, WorkingDir: "/srv"}, ocitest.Bytes(layer))
}

func TestOCIRegistryPull(t *testing.T) {
	reg := ocitest.StartRegistry(t)
	pushApp(t, reg, "demo/app:v1")
	sim := pvesimtest.Start(t, pvesimtest.WithTemplateDir(t.TempDir()))

	upid := waitTask(t, sim, "pve1", call(t, sim, "POST", "/nodes/pve1/storage/local/oci-registry-pull",
		map[string]any{"reference": reg + "/demo/app:v1"}), "OK")
	if !strings.Contains(upid, ":ociregistrypull:app_v1.tar:") {
		t.Fatalf("task %s: want type ociregistrypull with id app_v1.tar", upid)
	}
	var content []map[string]any
	call(t, sim, "GET", "/nodes/pve1/storage/local/content?content=vztmpl", nil).data(t, &content)
	found := false
	for _, c := range content {
		if c["volid"] == "local:vztmpl/app_v1.tar" {
			found = c["format"] == "tar" && c["content"] == "vztmpl"
		}
	}
	if !found {
		t.Fatalf("local:vztmpl/app_v1.tar (format tar) not in the content %v", content)
	}
	// A custom file name is normalised; an existing file is never overwritten.
	waitTask(t, sim, "pve1", call(t, sim, "POST", "/nodes/pve1/storage/local/oci-registry-pull",
		map[string]any{"reference": reg + "/demo/app:v1", "filename": "dir/app:v1@sha256"}), "OK")
	call(t, sim, "GET", "/nodes/pve1/storage/local/content/local:vztmpl%2Fapp_v1_sha256.tar", nil).data(t, &map[string]any{})
	expectError(t, call(t, sim, "POST", "/nodes/pve1/storage/local/oci-registry-pull",
		map[string]any{"reference": reg + "/demo/app:v1"}), 500, "refusing to override existing file 'app_v1.tar'")

	// The reference pattern requires a tag: no digests, no bare names.
	for _, ref := range []string{reg + "/demo/app", reg + "/demo/app@sha256:" + strings.Repeat("a", 64), "Demo/App:v1", reg + "/demo/app:-bad"} {
		res := call(t, sim, "POST", "/nodes/pve1/storage/local/oci-registry-pull", map[string]any{"reference": ref})
		expectError(t, res, 400, "Parameter verification failed.")
		if res.errors(t)["reference"] == "" {
			t.Fatalf("%s: no error for reference: %s", ref, res.Raw)
		}
	}
	// Only file-based storages with vztmpl content take images.
	expectError(t, call(t, sim, "POST", "/nodes/pve1/storage/local-lvm/oci-registry-pull",
		map[string]any{"reference": reg + "/demo/app:v1"}), 500, "can't upload to storage type 'lvmthin', not a file based storage!")
	// A missing image fails the task, not the call.
	upid = call(t, sim, "POST", "/nodes/pve1/storage/local/oci-registry-pull",
		map[string]any{"reference": reg + "/demo/missing:v1"}).upid(t)
	st := testkit.WaitTask(t, testContext(t, time.Minute), rawTasks{t, sim, "pve1"}, upid)
	if st.exit == "OK" || !strings.Contains(st.exit, "missing") {
		t.Fatalf("pull of a missing image ended with %q", st.exit)
	}
	if res := call(t, sim, "GET", "/nodes/pve1/storage/local/content/local:vztmpl%2Fmissing_v1.tar", nil); res.Code == 200 {
		t.Fatalf("a failed pull left a file: %s", res.Raw)
	}
}

func TestOCIRegistryPullPermissions(t *testing.T) {
	reg := ocitest.StartRegistry(t)
	pushApp(t, reg, "demo/app:v1")
	for priv, path := range map[string]string{"Datastore.AllocateTemplate": "/storage/local", "Sys.AccessNetwork": "/nodes/pve1"} {
		t.Run(priv, func(t *testing.T) {
			sim := pvesimtest.Start(t, pvesimtest.WithTemplateDir(t.TempDir()), pvesimtest.WithOptions(func(o *pvesim.Options) {
				o.Withheld = map[string][]string{"root@pam!pvesimtest": {priv}}
			}))
			expectError(t, call(t, sim, "POST", "/nodes/pve1/storage/local/oci-registry-pull",
				map[string]any{"reference": reg + "/demo/app:v1"}), 403, "Permission check failed ("+path+", "+priv+")")
		})
	}
}

// A container created from an OCI archive takes the image's entrypoint and env, console mode
// and host-managed networks, as pve-container's restore_oci_archive sets them; env and
// entrypoint stay settable through the API.
func TestCreateFromOCIImage(t *testing.T) {
	reg := ocitest.StartRegistry(t)
	pushApp(t, reg, "demo/app:v1")
	sim := pvesimtest.Start(t, pvesimtest.WithTemplateDir(t.TempDir()))
	waitTask(t, sim, "pve1", call(t, sim, "POST", "/nodes/pve1/storage/local/oci-registry-pull",
		map[string]any{"reference": reg + "/demo/app:v1"}), "OK")
	waitTask(t, sim, "pve1", call(t, sim, "POST", "/nodes/pve1/lxc", map[string]any{
		"vmid": 120, "ostemplate": "local:vztmpl/app_v1.tar", "rootfs": "local-lvm:1",
		"net0": "name=eth0,bridge=vmbr0,ip=dhcp", "env": "IGNORED=1",
	}), "OK")
	conf := configOf(t, sim, "pve1", 120)
	if conf["entrypoint"] != "/app --port 8080" || conf["env"] != "PATH=/usr/bin:/bin\x00GREETING=from image" ||
		conf["cmode"] != "console" || conf["ostype"] != "unmanaged" {
		t.Fatalf("config after OCI create: %v", conf)
	}
	if net, _ := conf["net0"].(string); !strings.Contains(net, "host-managed=1") {
		t.Fatalf("net0 %q is not host-managed", net)
	}
	if res := call(t, sim, "PUT", "/nodes/pve1/lxc/120/config",
		"env=GREETING%3Dfrom%20spec%00MODE%3Dtest&entrypoint=%2Fapp%20--once"); res.Code != 200 {
		t.Fatalf("PUT env, entrypoint: %d %s %s", res.Code, res.Status, res.Raw)
	}
	conf = configOf(t, sim, "pve1", 120)
	if conf["entrypoint"] != "/app --once" || conf["env"] != "GREETING=from spec\x00MODE=test" {
		t.Fatalf("config after PUT: %v", conf)
	}
	res := call(t, sim, "PUT", "/nodes/pve1/lxc/120/config", "env=1BAD")
	expectError(t, res, 400, "Parameter verification failed.")
}

// A system image (its entrypoint /sbin/init, an os-release) keeps init and the container's own
// network management; its ostype comes from the image's tree.
func TestCreateFromOCISystemImage(t *testing.T) {
	reg := ocitest.StartRegistry(t)
	layer := ocitest.Layer(t, ocitest.File{Name: "etc/", Dir: true},
		ocitest.File{Name: "etc/os-release", Content: "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\n"},
		ocitest.File{Name: "sbin/", Dir: true}, ocitest.File{Name: "sbin/init", Content: "#!/bin/sh\n", Mode: 0o755})
	ocitest.Push(t, reg+"/lxctm/system:bookworm", v1.Config{Entrypoint: []string{"/sbin/init"}, StopSignal: "SIGRTMIN+3"}, ocitest.Bytes(layer))
	sim := pvesimtest.Start(t, pvesimtest.WithTemplateDir(t.TempDir()))
	waitTask(t, sim, "pve1", call(t, sim, "POST", "/nodes/pve1/storage/local/oci-registry-pull",
		map[string]any{"reference": reg + "/lxctm/system:bookworm", "filename": "system_bookworm-sha256_0123"}), "OK")
	waitTask(t, sim, "pve1", call(t, sim, "POST", "/nodes/pve1/lxc", map[string]any{
		"vmid": 121, "ostemplate": "local:vztmpl/system_bookworm-sha256_0123.tar", "rootfs": "local-lvm:1",
		"net0": "name=eth0,bridge=vmbr0,ip=dhcp",
	}), "OK")
	conf := configOf(t, sim, "pve1", 121)
	if _, set := conf["entrypoint"]; set {
		t.Errorf("entrypoint %v set for a /sbin/init image", conf["entrypoint"])
	}
	if _, set := conf["cmode"]; set {
		t.Errorf("cmode %v set for a /sbin/init image", conf["cmode"])
	}
	if conf["ostype"] != "debian" {
		t.Errorf("ostype %v, want debian from the image's os-release", conf["ostype"])
	}
	if net, _ := conf["net0"].(string); strings.Contains(net, "host-managed") {
		t.Errorf("net0 %q of a system image is host-managed", net)
	}
}
