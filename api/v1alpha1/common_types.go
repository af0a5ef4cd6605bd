package v1alpha1

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// LocalObjectReference names an object in the same namespace.
type LocalObjectReference struct {
	// name of the referenced object.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$`
	Name string `json:"name"`
}

// NamespacedObjectReference names an object in any namespace.
type NamespacedObjectReference struct {
	// namespace of the referenced object.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	Namespace string `json:"namespace"`

	// name of the referenced object.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$`
	Name string `json:"name"`
}

// KeySelector selects one key of a Secret or ConfigMap in the same namespace.
type KeySelector struct {
	// name of the Secret or ConfigMap.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$`
	Name string `json:"name"`

	// key within its data.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[-._a-zA-Z0-9]+$`
	Key string `json:"key"`
}

// PackageManager is a package manager the controller can install packages with.
// +kubebuilder:validation:Enum=apt;apk;dnf;pip;npm
type PackageManager string

const (
	PackageManagerApt PackageManager = "apt"
	PackageManagerApk PackageManager = "apk"
	PackageManagerDnf PackageManager = "dnf"
	PackageManagerPip PackageManager = "pip"
	PackageManagerNpm PackageManager = "npm"
)

// PackageName is a package name with an optional version pin, such as `nginx`, `nginx=1.22.1-9`,
// `nodejs=24.*`, `requests>=2.31,<3`, `@scope/tool@^1.2.3` or `nodejs-24.*`. The pattern admits
// no shell syntax: no spaces, quotes, `;`, `&`, `|`, `$`, backticks, parentheses or backslashes;
// `<`, `>`, `*`, `^` and `!` only as version syntax, and the install scripts quote every name.
// The list holding the names checks each against its manager's own rule, the one the install
// scripts are rendered by; this pattern admits every name one of those rules admits.
// +kubebuilder:validation:MinLength=1
// +kubebuilder:validation:MaxLength=128
// +kubebuilder:validation:Pattern=`^[A-Za-z0-9@_][A-Za-z0-9._+/:@~^*-]*(\[[A-Za-z0-9._,-]+\])?((==|===|!=|~=|>=|<=|=|~|>|<)[A-Za-z0-9._+:~*!^-]+(,(==|===|!=|~=|>=|<=|>|<)[A-Za-z0-9._+:~*!-]+){0,7})?$`
type PackageName string

// PackageList is a list of packages installed with one package manager.
// +kubebuilder:validation:XValidation:rule="self.manager != 'apt' || self.names.all(n, n.matches('^[a-z0-9][a-z0-9+.-]{1,127}(:[a-z0-9-]{1,32})?(=[A-Za-z0-9.+~:*-]{1,128}|/[a-z0-9][a-z0-9.-]{0,63})?$'))",message="apt package names are lowercase Debian names of two or more characters with an optional :arch, then an optional =version (globs such as =24.* allowed) or /release",fieldPath=".names"
// +kubebuilder:validation:XValidation:rule="self.manager != 'apk' || self.names.all(n, n.matches('^[A-Za-z0-9][A-Za-z0-9+._-]{0,127}((=|~|>=|<=|>|<)[0-9][A-Za-z0-9.+_~-]{0,63})?$'))",message="apk package names are name[=|~|>=|<=|>|<version]",fieldPath=".names"
// +kubebuilder:validation:XValidation:rule="self.manager != 'dnf' || self.names.all(n, n.matches('^[A-Za-z0-9_][A-Za-z0-9+._:~*-]{0,127}$'))",message="dnf package names are name[-version[-release]][.arch]",fieldPath=".names"
// +kubebuilder:validation:XValidation:rule="self.manager != 'pip' || self.names.all(n, n.matches('^[A-Za-z0-9]([A-Za-z0-9._-]{0,126}[A-Za-z0-9])?([[][A-Za-z0-9._-]{1,64}(,[A-Za-z0-9._-]{1,64}){0,15}[]])?((==|===|!=|~=|>=|<=|>|<)[0-9][A-Za-z0-9.*+!_-]{0,63}(,(==|===|!=|~=|>=|<=|>|<)[0-9][A-Za-z0-9.*+!_-]{0,63}){0,7})?$'))",message="pip package names are name[extras][==|~=|>=|<=|!=|>|<version[,specifier…]]",fieldPath=".names"
// +kubebuilder:validation:XValidation:rule="self.manager != 'npm' || self.names.all(n, n.matches('^(@[a-z0-9][a-z0-9._~-]{0,100}/)?[a-z0-9][a-z0-9._~-]{0,100}(@([a-z][a-z0-9._-]{0,63}|([~^]|>=|<=|>|<)?[0-9][A-Za-z0-9.+-]{0,63}|[*]))?$'))",message="npm package names are [@scope/]name[@version]",fieldPath=".names"
type PackageList struct {
	// manager installs these packages: apt, apk, dnf, pip or npm.
	// +required
	Manager PackageManager `json:"manager"`

	// names of the packages, each with an optional version pin.
	// +required
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=64
	// +listType=set
	Names []PackageName `json:"names"`
}

// EnvVar is one variable rendered into /etc/config-manager/config.env and given to every script.
type EnvVar struct {
	// name of the variable: a shell variable name.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=128
	// +kubebuilder:validation:Pattern=`^[A-Za-z_][A-Za-z0-9_]*$`
	Name string `json:"name"`

	// value of the variable.
	// +optional
	// +kubebuilder:validation:MaxLength=32768
	Value string `json:"value,omitempty"`
}

// Resources sizes a container. Unset fields take the template's value, then the Proxmox default.
type Resources struct {
	// cores is the number of CPU cores (1–8192). Default 1.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=8192
	Cores *int32 `json:"cores,omitempty"`

	// memoryMiB is the memory limit in MiB (at least 16). Default 512.
	// +optional
	// +kubebuilder:validation:Minimum=16
	// +kubebuilder:validation:Maximum=268435456
	MemoryMiB *int32 `json:"memoryMiB,omitempty"`

	// swapMiB is the swap limit in MiB (0 disables swap). Default 512.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=268435456
	SwapMiB *int32 `json:"swapMiB,omitempty"`

	// diskGiB is the size of the root disk in GiB. Default 8.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=131072
	DiskGiB *int32 `json:"diskGiB,omitempty"`
}

// Network configures the container's first network interface (net0, eth0 inside the container).
// +kubebuilder:validation:XValidation:rule="!has(self.gateway) || !has(self.ipv4) || self.ipv4 != 'dhcp'",message="gateway must not be set when ipv4 is dhcp",fieldPath=".gateway"
// +kubebuilder:validation:XValidation:rule="!has(self.gateway) || !has(self.ipv4) || self.ipv4 == 'dhcp' || cidr(self.ipv4).containsIP(self.gateway)",message="gateway must lie inside the ipv4 network",fieldPath=".gateway"
type Network struct {
	// bridge is the Proxmox bridge the interface is attached to. Default vmbr0.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=15
	// +kubebuilder:validation:Pattern=`^[A-Za-z][A-Za-z0-9_.-]*$`
	Bridge string `json:"bridge,omitempty"`

	// ipv4 is "dhcp" or an address in CIDR notation such as 10.0.0.10/24. Default dhcp.
	// +optional
	// +kubebuilder:validation:MaxLength=18
	// +kubebuilder:validation:XValidation:rule="self == 'dhcp' || (isCIDR(self) && cidr(self).ip().family() == 4)",message="ipv4 must be \"dhcp\" or an IPv4 address in CIDR notation such as 10.0.0.10/24"
	IPv4 string `json:"ipv4,omitempty"`

	// gateway is the IPv4 default gateway; only with a static ipv4.
	// +optional
	// +kubebuilder:validation:MaxLength=15
	// +kubebuilder:validation:XValidation:rule="isIP(self) && ip(self).family() == 4",message="gateway must be an IPv4 address"
	Gateway string `json:"gateway,omitempty"`

	// nameservers are the DNS servers written into the container's resolv.conf.
	// +optional
	// +kubebuilder:validation:MaxItems=3
	// +listType=atomic
	// +kubebuilder:validation:items:MaxLength=45
	// +kubebuilder:validation:items:XValidation:rule="isIP(self)",message="nameservers must be IP addresses"
	Nameservers []string `json:"nameservers,omitempty"`

	// searchDomains are the DNS search domains written into the container's resolv.conf.
	// +optional
	// +kubebuilder:validation:MaxItems=6
	// +listType=atomic
	// +kubebuilder:validation:items:MaxLength=253
	// +kubebuilder:validation:items:Pattern=`^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$`
	SearchDomains []string `json:"searchDomains,omitempty"`

	// vlanTag puts the interface on a VLAN of the bridge.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=4094
	VLANTag *int32 `json:"vlanTag,omitempty"`
}

// MountPoint is a volume or a bind mount of a host directory mounted into the container,
// Proxmox's mp<index>.
// +kubebuilder:validation:XValidation:rule="has(self.sizeGiB) != has(self.hostPath)",message="exactly one of sizeGiB (a new volume) or hostPath (a bind mount of a directory of the node) must be set"
// +kubebuilder:validation:XValidation:rule="!has(self.hostPath) || !has(self.storage)",message="storage applies to volumes only, not to a hostPath bind mount",fieldPath=".storage"
// +kubebuilder:validation:XValidation:rule="!has(self.hostPath) || !has(self.backup) || !self.backup",message="backup applies to volumes only: Proxmox never backs up a bind mount",fieldPath=".backup"
type MountPoint struct {
	// index is n of Proxmox's mp<n> (0–255).
	// +required
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=255
	Index int32 `json:"index"`

	// path inside the container the volume is mounted at.
	// +required
	// +kubebuilder:validation:MinLength=2
	// +kubebuilder:validation:MaxLength=255
	// +kubebuilder:validation:Pattern=`^(/[A-Za-z0-9._@+-]+)+$`
	// +kubebuilder:validation:XValidation:rule="!self.matches('(^|/)[.][.]?(/|$)')",message="path must not contain . or .. segments"
	// +kubebuilder:validation:XValidation:rule="!['/proc', '/sys', '/dev', '/run', '/etc/config-manager', '/var/lib/config-manager'].exists(d, self == d || self.startsWith(d + '/'))",message="path must not be inside /proc, /sys, /dev, /run or config-manager's own directories"
	Path string `json:"path"`

	// sizeGiB is the size in GiB of a new volume. It can grow, never shrink. Exactly one of
	// sizeGiB and hostPath is set.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=131072
	SizeGiB int32 `json:"sizeGiB,omitempty"`

	// hostPath makes this a bind mount: the absolute path of a directory on the Proxmox node,
	// mounted at path. Only root@pam may set bind mounts in Proxmox, and the cluster's
	// spec.policy.hostPaths must allow the path. Devices are passed through with devices,
	// not as mount points.
	// +optional
	// +kubebuilder:validation:MinLength=2
	// +kubebuilder:validation:MaxLength=255
	// +kubebuilder:validation:Pattern=`^(/[A-Za-z0-9._@+-]+)+$`
	// +kubebuilder:validation:XValidation:rule="!self.matches('(^|/)[.][.]?(/|$)')",message="hostPath must not contain . or .. segments"
	// +kubebuilder:validation:XValidation:rule="!['/dev', '/proc', '/sys'].exists(d, self == d || self.startsWith(d + '/'))",message="hostPath must not be inside /dev, /proc or /sys: pass devices through with devices"
	HostPath string `json:"hostPath,omitempty"`

	// readOnly mounts the volume or host directory read-only (Proxmox's ro).
	// +optional
	ReadOnly bool `json:"readOnly,omitempty"`

	// storage holds the volume. Default: the container's storage. It cannot change once the
	// volume exists.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:Pattern=`^[A-Za-z][A-Za-z0-9_.-]*$`
	Storage string `json:"storage,omitempty"`

	// backup includes the volume in Proxmox backups. Default false, as in Proxmox.
	// +optional
	Backup bool `json:"backup,omitempty"`
}

// IsBind reports whether the mount point is a bind mount of a host directory.
func (m MountPoint) IsBind() bool { return m.HostPath != "" }

// Device is a device node of the Proxmox node passed through into the container, Proxmox's
// dev<n>. Only root@pam may set devices in Proxmox, and the cluster's spec.policy.devices must
// allow the path.
type Device struct {
	// path of the device node on the node, under /dev, such as /dev/net/tun or /dev/dri/renderD128.
	// It appears at the same path inside the container.
	// +required
	// +kubebuilder:validation:MinLength=6
	// +kubebuilder:validation:MaxLength=255
	// +kubebuilder:validation:Pattern=`^/dev(/[A-Za-z0-9._@+-]+)+$`
	// +kubebuilder:validation:XValidation:rule="!self.matches('(^|/)[.][.]?(/|$)')",message="path must not contain . or .. segments"
	Path string `json:"path"`

	// mode is the octal access mode of the device node in the container, such as 0660 (the
	// Proxmox default).
	// +optional
	// +kubebuilder:validation:Pattern=`^0[0-7]{3}$`
	Mode string `json:"mode,omitempty"`

	// uid owns the device node inside the container. Default 0.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=65535
	UID *int32 `json:"uid,omitempty"`

	// gid owns the device node inside the container. Default 0.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=65535
	GID *int32 `json:"gid,omitempty"`

	// denyWrite lets the container read the device but not write to it.
	// +optional
	DenyWrite bool `json:"denyWrite,omitempty"`
}

// RetryStatus counts the consecutive failed attempts of a reconcile, so that retries back off
// (2 s doubling to 5 min, with jitter) across reconciles and restarts of the controller. It is
// cleared when the object becomes Ready, when its spec changes, and when the
// reconcile-requested-at annotation asks for a retry now.
type RetryStatus struct {
	// attempts is the number of consecutive failed attempts.
	// +optional
	Attempts int32 `json:"attempts,omitempty"`

	// reason of the last failure, as in the conditions.
	// +optional
	Reason string `json:"reason,omitempty"`

	// lastFailureTime is when the last attempt failed.
	// +optional
	LastFailureTime *metav1.Time `json:"lastFailureTime,omitempty"`

	// nextAttemptTime is when the controller tries again.
	// +optional
	NextAttemptTime *metav1.Time `json:"nextAttemptTime,omitempty"`

	// generation the failures were counted for: a new generation starts afresh.
	// +optional
	Generation int64 `json:"generation,omitempty"`
}
