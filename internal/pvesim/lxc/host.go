package lxc

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"templatemanager.dev/lxc-template-manager/internal/preflight"
)

// checkHost raises the kernel limits that many systemd guests need, as Proxmox VE hosts come
// tuned, then checks every prerequisite of the backend and refuses to start without one.
func checkHost(log *slog.Logger) error {
	changed, err := preflight.Tune(preflight.Limits)
	if err != nil {
		return err
	}
	if len(changed) > 0 {
		log.Info("Raised kernel limits for containers", "limits", changed)
	}
	results := preflight.Run(preflight.LXCBackend())
	for _, r := range results {
		if !r.OK() && r.Optional {
			log.Warn("Host check", "check", r.Name, "problem", r.Problem)
		}
	}
	return preflight.Error(results)
}

// The distribution configuration Proxmox VE's generated container configs include. Proxmox's
// own lxc package ships these files; Debian's lxc-templates (a mere Recommends of lxc) does
// too, so the backend writes its own, built only on the common and userns configurations of
// the lxc package itself.
const (
	commonConfig = `# The Debian guest configuration, as Proxmox VE's generated container configs include it.
lxc.include = /usr/share/lxc/config/common.conf
# Debian guests have no consoles in /dev/lxc/.
lxc.tty.dir =
# Devices guests commonly use: rtc, tun, hpet, kvm.
lxc.cgroup.devices.allow = c 254:0 rm
lxc.cgroup.devices.allow = c 10:200 rwm
lxc.cgroup.devices.allow = c 10:228 rwm
lxc.cgroup.devices.allow = c 10:232 rwm
lxc.cgroup2.devices.allow = c 254:0 rm
lxc.cgroup2.devices.allow = c 10:200 rwm
lxc.cgroup2.devices.allow = c 10:228 rwm
lxc.cgroup2.devices.allow = c 10:232 rwm
`
	usernsConfig = `# The Debian guest configuration of unprivileged containers.
lxc.include = /usr/share/lxc/config/userns.conf
lxc.tty.dir =
`
)

// writeCommonConfigs writes the distribution configuration into the lxcpath.
func writeCommonConfigs(lxcPath string) error {
	for name, content := range map[string]string{commonConfigName: commonConfig, usernsConfigName: usernsConfig} {
		if err := os.WriteFile(filepath.Join(lxcPath, name), []byte(content), 0o644); err != nil {
			return fmt.Errorf("write %s: %w", name, err)
		}
	}
	return nil
}

const (
	commonConfigName = "debian.common.conf"
	usernsConfigName = "debian.userns.conf"
)
