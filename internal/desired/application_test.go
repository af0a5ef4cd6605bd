package desired

import (
	"slices"
	"testing"
)

// TestConfigChangesApplication: an application image's entrypoint and env are the spec's when
// it names them (env as Proxmox's NUL-separated list), drift in either is written back, and
// what the spec leaves unset stays as the image gave it; a system image's are never touched.
func TestConfigChangesApplication(t *testing.T) {
	live := liveConfig()
	live["entrypoint"], live["env"] = "/app --from-image", "PATH=/bin\x00FROM_IMAGE=1"

	d := liveDesired()
	d.Application = true
	if _, fields := Changes(d, parsedConfig(t, live)); len(fields) != 0 {
		t.Errorf("an application without entrypoint or env changes %v", fields)
	}

	d.Entrypoint, d.Env = "/app --port 8080", []string{"GREETING=hello", "MODE=test"}
	u, fields := Changes(d, parsedConfig(t, live))
	if !slices.Equal(fields, []string{"application.entrypoint", "application.env"}) ||
		u.Set["entrypoint"] != "/app --port 8080" || u.Set["env"] != "GREETING=hello\x00MODE=test" {
		t.Errorf("changes %v, set %q", fields, u.Set)
	}

	live["entrypoint"], live["env"] = "/app --port 8080", "GREETING=hello\x00MODE=test"
	if _, fields := Changes(d, parsedConfig(t, live)); len(fields) != 0 {
		t.Errorf("an application as specified changes %v", fields)
	}
	before := d.ConfigHash()
	d.Env = []string{"GREETING=bye"}
	if d.ConfigHash() == before {
		t.Error("a changed env leaves the config hash as it was")
	}

	d.Application = false
	if _, fields := Changes(d, parsedConfig(t, live)); len(fields) != 0 {
		t.Errorf("a system image changes %v", fields)
	}
}
