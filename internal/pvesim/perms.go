package pvesim

import (
	"errors"
	"io/fs"
	"os"
	"strconv"
	"strings"

	"templatemanager.dev/lxc-template-manager/internal/pvesim/schema"
)

// indexed reports whether key is prefix followed by a number, like mp3 or dev0.
func indexed(key, prefix string) bool {
	n, ok := strings.CutPrefix(key, prefix)
	if !ok || n == "" {
		return false
	}
	_, err := strconv.Atoi(n)
	return err == nil
}

// mountType classifies a mount point volume as PVE's classify_mountpoint does.
func mountType(volume string) string {
	switch {
	case strings.HasPrefix(volume, "/dev"):
		return "device"
	case strings.HasPrefix(volume, "/"):
		return "bind"
	}
	return "volume"
}

// checkModifyPerm applies the root@pam-only rules of PVE's check_ct_modify_config_perm. Every
// user the simulator knows may do everything else, so only these rules can fail; an API token
// of root@pam is not root@pam. (The container firewall, firewall.go, asks VM.Audit and
// VM.Config.Network on /vms/{vmid}, which every such user holds, and has no root-only rule.)
func checkModifyPerm(r *request, oldConf, newConf map[string]string, deleted []string, unprivileged bool) error {
	if r.isRoot() {
		return nil
	}
	check := func(opt string, del bool) error {
		switch {
		case opt == "rootfs" || indexed(opt, "mp"):
			if del {
				return nil
			}
			format := rootfsFormat
			if opt != "rootfs" {
				format = createSchema.Property("mp0").FormatProps
			}
			mp, err := schema.ParsePropertyString(format, newConf[opt])
			if err != nil {
				return nil // the schema check reported it already
			}
			if t := mountType(mp["volume"]); t != "volume" {
				return permissionError("mount point type " + t + " is only allowed for root@pam")
			}
		case indexed(opt, "dev"):
			return permissionError("configuring device passthrough is only allowed for root@pam")
		case opt == "hookscript":
			return permissionError("changing the hookscript is only allowed for root@pam")
		case opt == "features":
			return checkFeaturePerm(oldConf, newConf, del, unprivileged)
		}
		return nil
	}
	for opt := range newConf {
		if err := check(opt, false); err != nil {
			return err
		}
	}
	for _, opt := range deleted {
		if err := check(opt, true); err != nil {
			return err
		}
	}
	return nil
}

func checkFeaturePerm(oldConf, newConf map[string]string, del, unprivileged bool) error {
	if !unprivileged {
		return permissionError("changing feature flags for privileged container is only allowed for root@pam")
	}
	parse := func(s string) map[string]string {
		if s == "" {
			return map[string]string{}
		}
		f, err := schema.ParsePropertyString(featuresFormat, s)
		if err != nil {
			return map[string]string{}
		}
		return f
	}
	onlyNesting := func(f map[string]string) bool { _, ok := f["nesting"]; return len(f) == 1 && ok }
	other := false
	switch {
	case del:
		f := parse(oldConf["features"])
		other = len(f) > 0 && !onlyNesting(f)
	case oldConf != nil && oldConf["features"] != "":
		oldF, newF := parse(oldConf["features"]), parse(newConf["features"])
		for _, set := range []map[string]string{oldF, newF} {
			for k := range set {
				if oldF[k] != newF[k] && k != "nesting" {
					other = true
				}
			}
		}
	default:
		f := parse(newConf["features"])
		other = len(f) > 0 && !onlyNesting(f)
	}
	if other {
		return permissionError("changing feature flags (except nesting) is only allowed for root@pam")
	}
	return nil
}

// deviceFormat is the property format of dev[n].
var deviceFormat = createSchema.Property("dev0").FormatProps

// checkDevice checks a dev[n] value as update_pct_config does: a path must be given, and it must
// name a character or block device on the node (get_device_mode_and_rdev).
func checkDevice(key, value string) error {
	dev, err := schema.ParsePropertyString(deviceFormat, value)
	if err != nil {
		return paramErrorf(key, "%v", err)
	}
	path, ok := dev["path"]
	if !ok {
		return pveError("Path is not defined for passthrough device %s", key)
	}
	return deviceNode(path)
}

// deviceNode fails like get_device_mode_and_rdev for a path that is no device node; the
// simulator's host is the node.
func deviceNode(path string) error {
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return pveError("Device %s does not exist", path)
	case err != nil:
		return pveError("Error accessing device %s", path)
	case fi.Mode()&fs.ModeDevice == 0:
		return pveError("%s is not a device", path)
	}
	return nil
}
