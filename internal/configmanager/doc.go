// Package configmanager renders what the controller installs into each container so that the
// container can keep itself true to its template: the environment file, the managed files with
// their policies, the config-sync script that applies them, its systemd unit, and the scripts
// that install packages.
//
// Rendering is pure: the input is plain Go values (the controller maps its API types onto them),
// the output is a Bundle of files and directories to upload. Nothing from the input is ever
// placed on a command line; names that end up inside scripts are validated by strict patterns
// and quoted as well.
package configmanager

import "templatemanager.dev/lxc-template-manager/internal/discovery"

// Where config-manager lives inside the container. The layout is part of the contract with
// scripts (they drop credentials into CredentialsDir and read EnvPath) and with discovery.
const (
	ConfigDir      = "/etc/config-manager"
	EnvPath        = ConfigDir + "/config.env"
	SyncScriptPath = ConfigDir + "/config-sync.sh"
	FilesDir       = ConfigDir + "/files"
	ManifestPath   = FilesDir + "/manifest"
	CredentialsDir = discovery.CredentialsDir
	StateDir       = "/var/lib/config-manager"
	// FirstRunMarker is left once the container's scripts have all succeeded; the helper
	// library's CONFIG_MANAGER_FIRST_RUN is "true" until it exists.
	FirstRunMarker = StateDir + "/first-run-complete"
	UnitName       = "config-manager.service"
	// ScriptEnvPath is the helper library every script run loads through BASH_ENV.
	ScriptEnvPath = ConfigDir + "/script-env.sh"
	// ContainerUserPath names the template's container user; config-sync creates the user
	// and the helper library reads it into CONTAINER_USER.
	ContainerUserPath = ConfigDir + "/container-user"
	UnitPath          = "/etc/systemd/system/" + UnitName
)

// Commands the controller runs over SSH after uploading a bundle. They are fixed text: nothing
// from a template or container spec is part of them.
const (
	// ActivateCommand loads the unit, enables it for boot and queues a run of config-sync. The
	// unit is a oneshot with RemainAfterExit, so "restart" is what runs it again; --no-block
	// returns once the job is queued, so the controller never waits on the guest.
	ActivateCommand = "systemctl daemon-reload && systemctl enable " + UnitName + " && systemctl restart --no-block " + UnitName
	// ResultCommand prints, one per line: how many jobs of the unit are queued or running (not 0
	// while config-sync has not ended), the unit's result ("success" or the failure kind), and
	// whether it is enabled.
	ResultCommand = "systemctl list-jobs --no-legend " + UnitName + " | grep -c " + UnitName + "; " +
		"systemctl show --property=Result --value " + UnitName + "; systemctl is-enabled " + UnitName
	// MarkFirstRunCommand leaves FirstRunMarker.
	MarkFirstRunCommand = "mkdir -p " + StateDir + " && touch " + FirstRunMarker
	// LogCommand prints the output of the last config-sync run.
	LogCommand = "cat " + StateDir + "/config-sync/last-run.log"

	// RootPasswordFile is where root's password waits for chpasswd, as "root:<password>": on the
	// guest's tmpfs, readable by root only.
	RootPasswordFile = "/run/config-manager-chpasswd"
	// SetRootPasswordCommand sets root's password from RootPasswordFile and removes the file,
	// whether chpasswd succeeded or not, exiting as chpasswd did.
	SetRootPasswordCommand = "chpasswd < " + RootPasswordFile + "; rc=$?; rm -f " + RootPasswordFile + "; exit $rc"
)
