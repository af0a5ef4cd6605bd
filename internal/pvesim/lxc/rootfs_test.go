package lxc_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"templatemanager.dev/lxc-template-manager/internal/pvesim/lxc"
	"templatemanager.dev/lxc-template-manager/internal/pvesim/lxc/lxctest"
)

// mount is one line of /proc/self/mountinfo.
type mount struct {
	point, fsType, superOptions string
}

func mountInfo(t *testing.T) []mount {
	t.Helper()
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var mounts []mount
	s := bufio.NewScanner(f)
	s.Buffer(make([]byte, 64<<10), 1<<20)
	for s.Scan() {
		// id parent major:minor root point options [optional...] - type source super-options
		pre, post, ok := strings.Cut(s.Text(), " - ")
		f, g := strings.Fields(pre), strings.Fields(post)
		if !ok || len(f) < 5 || len(g) < 3 {
			t.Fatalf("unexpected mountinfo line %q", s.Text())
		}
		mounts = append(mounts, mount{point: unescapeMount(f[4]), fsType: g[0], superOptions: g[2]})
	}
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	return mounts
}

// unescapeMount undoes the octal escapes (\040 for a space) of mountinfo paths.
func unescapeMount(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// mountsBelow lists the host's mounts at or below dir.
func mountsBelow(t *testing.T, dir string) []mount {
	t.Helper()
	var out []mount
	for _, m := range mountInfo(t) {
		if m.point == dir || strings.HasPrefix(m.point, dir+"/") {
			out = append(out, m)
		}
	}
	return out
}

// rootfsMounts lists what is mounted at or below a container's directory.
func rootfsMounts(t *testing.T, b *lxc.Backend, vmid int) []mount {
	t.Helper()
	return mountsBelow(t, filepath.Join(b.LXCPath(), strconv.Itoa(vmid)))
}

// wantRootfsMounted checks that exactly one overlay with directory renames is mounted for a
// container, at its rootfs.
func wantRootfsMounted(t *testing.T, b *lxc.Backend, vmid int, when string) {
	t.Helper()
	ms := rootfsMounts(t, b, vmid)
	want := filepath.Join(b.LXCPath(), strconv.Itoa(vmid), "rootfs")
	if len(ms) != 1 || ms[0].point != want || ms[0].fsType != "overlay" || !strings.Contains(ms[0].superOptions, "redirect_dir=on") {
		t.Fatalf("%s: mounts of container %d = %+v, want one overlay with redirect_dir=on at %s", when, vmid, ms, want)
	}
}

func wantNothingMounted(t *testing.T, b *lxc.Backend, vmid int, when string) {
	t.Helper()
	if ms := rootfsMounts(t, b, vmid); len(ms) != 0 {
		t.Fatalf("%s: container %d still has mounts %+v", when, vmid, ms)
	}
}

// buildPackage builds a Debian package of the given version that ships a directory tree
// below /var/www (absent from the template) and one below /usr/share.
func buildPackage(t *testing.T, version string, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	control := fmt.Sprintf(`Package: pvesim-probe
Version: %s
Architecture: all
Maintainer: pvesim tests <root@localhost>
Description: directories for dpkg to unpack
`, version)
	files["DEBIAN/control"] = control
	for name, content := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	deb := filepath.Join(t.TempDir(), "pvesim-probe_"+version+"_all.deb")
	if out, err := exec.Command("dpkg-deb", "--root-owner-group", "-Zgzip", "--build", root, deb).CombinedOutput(); err != nil {
		t.Fatalf("dpkg-deb: %v\n%s", err, out)
	}
	return deb
}

// putFile copies a host file into a running container.
func putFile(t *testing.T, ct *lxctest.CT, src, dst string) {
	t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("lxc-attach", "-P", ct.Backend.LXCPath(), "-n", strconv.Itoa(ct.Spec.VMID), "--clear-env",
		"--", "/bin/sh", "-c", "cat > "+dst)
	cmd.Stdin = bytes.NewReader(data)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("copy %s into container %d: %v\n%s", dst, ct.Spec.VMID, err, out)
	}
}

// TestPackageInstall renames a directory of the template and installs, upgrades and purges a
// package that ships directory trees, in unprivileged and privileged containers on overlays
// and in one with a full copy: dpkg renames directories as it unpacks, which an overlay
// without directory redirects refuses.
func TestPackageInstall(t *testing.T) {
	lxctest.RequireHost(t) // before building the packages its containers install
	t.Parallel()
	v1 := buildPackage(t, "1.0", map[string]string{
		"var/www/probe/index.html":            "v1\n",
		"var/www/probe/assets/app.js":         "app\n",
		"usr/share/pvesim-probe/a/b/c.txt":    "c\n",
		"usr/share/pvesim-probe/old/gone.txt": "gone\n",
	})
	v2 := buildPackage(t, "2.0", map[string]string{
		"var/www/probe/index.html":         "v2\n",
		"var/www/probe/assets/app.js":      "app\n",
		"var/www/probe/img/logo.svg":       "<svg/>\n",
		"usr/share/pvesim-probe/a/b/c.txt": "c\n",
	})
	for _, tc := range []struct {
		name string
		opts []lxctest.Option
		copy bool
	}{
		{name: "unprivileged", opts: []lxctest.Option{lxctest.VMID(510)}},
		{name: "privileged", opts: []lxctest.Option{lxctest.VMID(511), lxctest.Privileged()}},
		{name: "full-copy", opts: []lxctest.Option{lxctest.VMID(512), lxctest.FullCopies()}, copy: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			started := time.Now()
			ct := lxctest.Container(t, tc.opts...)
			t.Logf("Container booted in %s", time.Since(started).Round(time.Millisecond))
			if tc.copy {
				wantNothingMounted(t, ct.Backend, ct.Spec.VMID, "running on a full copy")
			} else {
				wantRootfsMounted(t, ct.Backend, ct.Spec.VMID, "running")
			}

			ct.Exec(t, "/bin/sh", "-c", "mv /var/lib/dpkg/info /var/lib/dpkg/info.x && mv /var/lib/dpkg/info.x /var/lib/dpkg/info")
			// mv copies where rename(2) fails with EXDEV; dpkg does not, and neither does this.
			ct.Exec(t, "perl", "-e", `rename("/etc/apt", "/etc/apt.x") && rename("/etc/apt.x", "/etc/apt") or die "rename: $!\n"`)
			ct.Exec(t, "mv", "/usr/share/doc", "/usr/share/doc.moved")
			if got := ct.Exec(t, "ls", "/usr/share/doc.moved"); !strings.Contains(got, "dpkg") {
				t.Errorf("renamed /usr/share/doc lost its contents: %q", got)
			}
			ct.Exec(t, "mv", "/usr/share/doc.moved", "/usr/share/doc")

			putFile(t, ct, v1, "/root/probe-1.deb")
			putFile(t, ct, v2, "/root/probe-2.deb")
			ct.Exec(t, "dpkg", "-i", "/root/probe-1.deb")
			if got := ct.Exec(t, "cat", "/var/www/probe/index.html", "/usr/share/pvesim-probe/old/gone.txt"); got != "v1\ngone\n" {
				t.Errorf("files of version 1 = %q", got)
			}
			ct.Exec(t, "env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "install", "-y", "-q", "/root/probe-2.deb")
			if got := ct.Exec(t, "dpkg-query", "-W", "-f=${Version} ${Status}", "pvesim-probe"); got != "2.0 install ok installed" {
				t.Errorf("dpkg-query after the upgrade = %q", got)
			}
			if got := ct.Exec(t, "cat", "/var/www/probe/index.html", "/var/www/probe/img/logo.svg"); got != "v2\n<svg/>\n" {
				t.Errorf("files of version 2 = %q", got)
			}
			ct.Exec(t, "test", "!", "-e", "/usr/share/pvesim-probe/old")
			ct.Exec(t, "dpkg", "--purge", "pvesim-probe")
			ct.Exec(t, "test", "!", "-e", "/var/www/probe")
			ct.Exec(t, "test", "!", "-e", "/usr/share/pvesim-probe")

			// The renames survive a restart of the container.
			ctx := context.Background()
			if err := ct.Backend.Shutdown(ctx, ct.Spec.VMID, 30*time.Second); err != nil {
				t.Fatal(err)
			}
			wantNothingMounted(t, ct.Backend, ct.Spec.VMID, "stopped")
			if err := ct.Backend.Start(ctx, ct.Spec); err != nil {
				t.Fatal(err)
			}
			ct.WaitBooted(t)
			ct.Exec(t, "test", "-d", "/var/lib/dpkg/info")
			ct.Exec(t, "test", "!", "-e", "/var/lib/dpkg/info.x")
			if got := ct.Exec(t, "dpkg", "-L", "dpkg"); !strings.Contains(got, "/usr/share/doc/dpkg") {
				t.Errorf("dpkg's file list after the renames:\n%s", got)
			}
		})
	}
}
