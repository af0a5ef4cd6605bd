package discovery

import (
	"os"
	"strings"
	"testing"
)

func TestUnitFromCgroup(t *testing.T) {
	hostRoot, err := os.ReadFile("testdata/cgroup-v1-hybrid-root.txt")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, content, want string
	}{
		{"v2 service", "0::/system.slice/nginx.service\n", "nginx.service"},
		{"v2 nested slice", "0::/system.slice/system-getty.slice/getty@tty1.service\n", "getty@tty1.service"},
		{"v2 delegated sub-cgroup", "0::/system.slice/docker.service/payload/inner\n", "docker.service"},
		{"v2 user manager's unit", "0::/user.slice/user-1000.slice/user@1000.service/app.slice/foo.service\n", "user@1000.service"},
		{"v2 session scope", "0::/user.slice/user-0.slice/session-3.scope\n", "session-3.scope"},
		{"v2 init", "0::/init.scope\n", "init.scope"},
		{"host's view of a container", "0::/lxc.payload.101/system.slice/postgresql@15-main.service\n", "postgresql@15-main.service"},
		{"escaped unit name", `0::/system.slice/system-systemd\x2dfsck.slice/systemd-fsck@dev-disk-by\x2duuid-1234.service` + "\n", `systemd-fsck@dev-disk-by\x2duuid-1234.service`},
		{
			// Captured in a Debian 12 LXC container on a hybrid host: v1 controllers, the
			// name=systemd hierarchy and the unified one all name the unit.
			"hybrid, captured",
			"9:name=systemd:/system.slice/ssh.service\n8:pids:/system.slice/ssh.service\n7:blkio:/\n6:freezer:/\n5:devices:/system.slice/ssh.service\n4:memory:/system.slice/ssh.service\n3:cpuset:/\n2:cpuacct:/\n1:cpu:/\n0::/system.slice/ssh.service\n",
			"ssh.service",
		},
		{"v1 only", "12:memory:/system.slice/cron.service\n1:name=systemd:/system.slice/cron.service\n", "cron.service"},
		{"hybrid with an empty unified line", "1:name=systemd:/system.slice/cron.service\n0::/\n", "cron.service"},
		{"v1 combined controllers", "2:cpu,cpuacct:/\n1:name=systemd,other:/system.slice/a.service\n", "a.service"},
		{"memory controller alone does not count", "4:memory:/system.slice/fake.service\n0::/\n", ""},
		{"root cgroup of this host", string(hostRoot), ""},
		{"empty", "", ""},
		{"garbage", "not a cgroup file\n::::\n0::relative/x.service", "x.service"},
		{"slice only", "0::/system.slice\n", ""},
		{"bad characters", "0::/system.slice/a b.service\n", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := UnitFromCgroup(tc.content)
			if got != tc.want || ok != (tc.want != "") {
				t.Errorf("got %q, %v; want %q", got, ok, tc.want)
			}
		})
	}
}

func FuzzUnitFromCgroup(f *testing.F) {
	f.Add("0::/system.slice/nginx.service\n")
	f.Add("9:name=systemd:/system.slice/ssh.service\n0::/init.scope\n")
	f.Add("0::/lxc.payload.101/system.slice/x.service/y")
	f.Fuzz(func(t *testing.T, content string) {
		unit, ok := UnitFromCgroup(content)
		if ok != (unit != "") {
			t.Fatalf("ok %v with unit %q", ok, unit)
		}
		if ok && (!isUnitName(unit) || !strings.Contains(content, unit) || strings.HasSuffix(unit, ".slice")) {
			t.Fatalf("unit %q is not a unit of %q", unit, content)
		}
	})
}

func TestParseUnits(t *testing.T) {
	container, err := os.ReadFile("testdata/collector-container.txt")
	if err != nil {
		t.Fatal(err)
	}
	_, after, _ := strings.Cut(string(container), "section units 0 199\n")
	running, err := ParseUnits(after[:199])
	if err != nil {
		t.Fatal(err)
	}
	want := []Unit{
		{"console-getty.service", "loaded", "active", "running", "Console Getty"},
		{"ssh.service", "loaded", "active", "running", "OpenBSD Secure Shell server"},
		{"systemd-journald.service", "loaded", "active", "running", "Journal Service"},
	}
	if len(running) != len(want) {
		t.Fatalf("got %+v", running)
	}
	for i := range want {
		if running[i] != want[i] {
			t.Errorf("unit %d: got %+v, want %+v", i, running[i], want[i])
		}
	}
	if running[1].ServiceName() != "ssh" {
		t.Errorf("ServiceName = %q", running[1].ServiceName())
	}

	// Without --plain systemctl puts a bullet before failed and missing units.
	for _, file := range []string{"testdata/units-all.txt", "testdata/units-bullets.txt"} {
		out, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		units, err := ParseUnits(string(out))
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		if len(units) != 8 {
			t.Fatalf("%s: %d units, want 8", file, len(units))
		}
		if u := units[4]; u != (Unit{"config-manager.service", "loaded", "failed", "failed", "Apply the files managed by LXC Template Manager"}) {
			t.Errorf("%s: unit 4 is %+v", file, u)
		}
		// dbus has a pending start job: the JOB column runs into the description.
		if u := units[7]; u.Active != "activating" || u.Sub != "start" || u.Description != "start D-Bus System Message Bus" {
			t.Errorf("%s: unit 7 is %+v", file, u)
		}
	}

	units, err := ParseUnits("ssh.service loaded active running SSH\nnot-a-unit\nx y\n")
	if len(units) != 1 || err == nil || !strings.Contains(err.Error(), "systemctl line 2") || !strings.Contains(err.Error(), "systemctl line 3") {
		t.Errorf("bad lines: units %+v, err %v", units, err)
	}
}
