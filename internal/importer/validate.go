package importer

import (
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"k8s.io/apimachinery/pkg/util/validation"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
	"templatemanager.dev/lxc-template-manager/internal/configmanager"
)

// The patterns and limits below are those of the validation markers in api/v1alpha1, which the
// API server enforces; the importer checks them first so that a problem is reported with its
// file and line rather than as a rejected manifest. Lengths count characters, as OpenAPI does.
var (
	tagRE         = regexp.MustCompile(`^[a-z0-9_][a-z0-9_+.-]*$`)
	osTemplateRE  = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_.-]*:vztmpl/[A-Za-z0-9_.+-]+[.](tar[.](gz|xz|zst|bz2)|tgz)$`)
	osShortRE     = regexp.MustCompile(`^[a-z0-9][a-z0-9.+-]*$`)
	storageRE     = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_.-]*$`)         // storage and bridge
	dnsishNameRE  = regexp.MustCompile(`^[a-z0-9]([a-z0-9._-]*[a-z0-9])?$`) // script and service names
	objectRefRE   = regexp.MustCompile(`^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$`)
	selectorKeyRE = regexp.MustCompile(`^[-._a-zA-Z0-9]+$`)
	filePathRE    = regexp.MustCompile(`^/[A-Za-z0-9._@+=,:~ -]+(/[A-Za-z0-9._@+=,:~ -]+)*$`)
	dotSegmentRE  = regexp.MustCompile(`(^|/)[.][.]?(/|$)`)
	fileModeRE    = regexp.MustCompile(`^0?[0-7]{3}$`)
	ownerRE       = regexp.MustCompile(`^[a-z_][a-z0-9_-]*(:[a-z_][a-z0-9_-]*)?$`)
	envNameRE     = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

const (
	maxDescription       = 4096
	maxBucketDescription = 1024
	maxTags              = 32
	maxTag               = 64
	maxOSTemplate        = 255
	maxStorage           = 64
	maxBridge            = 15
	maxIPv4              = 18
	maxGateway           = 15
	maxNameservers       = 3
	maxNameserver        = 45
	maxInlinePackages    = 64
	maxBucketPackages    = 256
	maxBucketRefs        = 32
	maxObjectRef         = 253
	maxScripts           = 64
	maxScriptName        = 63
	maxScriptContent     = 262144
	maxCheck             = 4096
	maxFiles             = 64
	maxFilePath          = 512
	maxFileContent       = 1048576
	maxOwner             = 65
	maxEnv               = 256
	maxEnvName           = 128
	maxEnvValue          = 32768
	maxServices          = 64
	maxServiceName       = 63
	maxSelectorKey       = 253
	// maxObjectBytes is what etcd stores in one object by default (its request limit).
	maxObjectBytes = 3 << 19
)

// int32Range bounds a numeric field.
type int32Range struct{ min, max int32 }

var (
	coresRange   = int32Range{1, 8192}
	memoryRange  = int32Range{16, 268435456}
	swapRange    = int32Range{0, 268435456}
	diskRange    = int32Range{1, 131072}
	vlanRange    = int32Range{1, 4094}
	timeoutRange = int32Range{1, 86400}
	portRange    = int32Range{1, 65535}
)

func runes(s string) int { return utf8.RuneCountInString(s) }

// parseInt32 parses a decimal integer. ok is false when s is no int32 at all; err is set
// when it is one but lies outside rng.
func parseInt32(s string, rng int32Range) (v int32, ok bool, err error) {
	n, perr := strconv.ParseInt(s, 10, 32)
	if perr != nil {
		return 0, false, fmt.Errorf("%q is not a whole number between %d and %d", s, rng.min, rng.max)
	}
	v = int32(n)
	if v < rng.min || v > rng.max {
		return v, true, fmt.Errorf("%d is outside %d–%d", v, rng.min, rng.max)
	}
	return v, true, nil
}

// parseBool accepts what Proxmox configuration files and shell scripts use for a flag.
func parseBool(s string) (bool, error) {
	switch strings.ToLower(s) {
	case "1", "yes", "true", "on":
		return true, nil
	case "0", "no", "false", "off":
		return false, nil
	}
	return false, fmt.Errorf("%q is not a boolean (1, 0, yes, no, true, false, on, off)", s)
}

func validateObjectName(name string) error {
	if errs := validation.IsDNS1123Subdomain(name); len(errs) > 0 {
		return fmt.Errorf("%q is not a valid object name: %s", name, strings.Join(errs, "; "))
	}
	return nil
}

func validateTag(tag string) error {
	if runes(tag) > maxTag || !tagRE.MatchString(tag) {
		return fmt.Errorf("tag %q is not a Proxmox tag (lowercase letters, digits and _ + . -, at most %d characters; tags are separated by ;)", tag, maxTag)
	}
	return nil
}

func validateOSTemplate(v string) error {
	if runes(v) > maxOSTemplate || !(osTemplateRE.MatchString(v) || osShortRE.MatchString(v)) {
		return fmt.Errorf("%q is neither a short form such as debian-12-standard (lowercase letters, digits and . + -) nor a volume id such as local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst", v)
	}
	return nil
}

// validateIdentifier checks a storage or bridge name.
func validateIdentifier(what, v string, max int) error {
	if runes(v) > max || !storageRE.MatchString(v) {
		return fmt.Errorf("%s %q must start with a letter and hold only letters, digits and _ . - (at most %d characters)", what, v, max)
	}
	return nil
}

// validateIPv4 accepts "dhcp" or an IPv4 address in CIDR notation, parsed as the API server's
// cidr() does.
func validateIPv4(v string) (netip.Prefix, error) {
	if v == "dhcp" {
		return netip.Prefix{}, nil
	}
	p, err := netip.ParsePrefix(v)
	if err != nil || !p.Addr().Is4() || runes(v) > maxIPv4 {
		return netip.Prefix{}, fmt.Errorf("%q is neither dhcp nor an IPv4 address in CIDR notation such as 10.0.0.10/24", v)
	}
	return p, nil
}

// parseIP parses an address as the API server's ip() does: no zones, no IPv4-mapped IPv6.
func parseIP(v string) (netip.Addr, bool) {
	a, err := netip.ParseAddr(v)
	if err != nil || a.Zone() != "" || a.Is4In6() {
		return netip.Addr{}, false
	}
	return a, true
}

func validateGateway(v string) (netip.Addr, error) {
	a, ok := parseIP(v)
	if !ok || !a.Is4() || runes(v) > maxGateway {
		return netip.Addr{}, fmt.Errorf("%q is not an IPv4 address", v)
	}
	return a, nil
}

func validateNameserver(v string) error {
	if _, ok := parseIP(v); !ok || runes(v) > maxNameserver {
		return fmt.Errorf("nameserver %q is not an IP address", v)
	}
	return nil
}

// validatePackage checks a package name against the rule of its package manager: the one
// config-manager renders the install script by, which the API's CEL rules repeat.
func validatePackage(m lxcv1.PackageManager, name string) error {
	return configmanager.ValidatePackageName(configmanager.PackageManager(m), name)
}

// packageManager maps a file extension to its package manager.
func packageManager(ext string) (lxcv1.PackageManager, bool) {
	switch m := lxcv1.PackageManager(ext); m {
	case lxcv1.PackageManagerApt, lxcv1.PackageManagerApk, lxcv1.PackageManagerDnf,
		lxcv1.PackageManagerPip, lxcv1.PackageManagerNpm:
		return m, true
	}
	return "", false
}

func validateObjectRef(what, name string) error {
	if runes(name) > maxObjectRef || !objectRefRE.MatchString(name) {
		return fmt.Errorf("%s %q is not a valid object name (lowercase letters, digits, - and .)", what, name)
	}
	return nil
}

func validateFilePath(p string) error {
	switch {
	case !strings.HasPrefix(p, "/"):
		return fmt.Errorf("path %q is not absolute", p)
	case runes(p) > maxFilePath || runes(p) < 2:
		return fmt.Errorf("path %q must be 2–%d characters long", p, maxFilePath)
	case dotSegmentRE.MatchString(p):
		return fmt.Errorf("path %q must not contain . or .. segments", p)
	case !filePathRE.MatchString(p):
		return fmt.Errorf("path %q may hold only letters, digits, blanks and . _ @ + = , : ~ - between single slashes", p)
	case strings.HasPrefix(p, "/etc/config-manager/") || strings.HasPrefix(p, "/var/lib/config-manager/"):
		return fmt.Errorf("path %q is inside the config-manager's own directories", p)
	}
	// What config-manager refuses (/proc, /sys, /dev, /run) the API refuses too.
	return configmanager.ValidateManagedPath(p)
}

func validateMode(v string) error {
	if !fileModeRE.MatchString(v) {
		return fmt.Errorf("mode %q is not an octal file mode such as 0644", v)
	}
	return nil
}

func validateOwner(v string) error {
	if runes(v) > maxOwner || !ownerRE.MatchString(v) {
		return fmt.Errorf("owner %q is not user or user:group (lowercase names)", v)
	}
	return nil
}

func validatePolicy(v string) error {
	switch lxcv1.FilePolicy(v) {
	case lxcv1.FilePolicyReplace, lxcv1.FilePolicyDefault, lxcv1.FilePolicyBackup:
		return nil
	}
	return fmt.Errorf("policy %q is not replace, default or backup", v)
}

// parseKeySelector parses NAME:KEY, the source of a file kept in a Secret or ConfigMap.
func parseKeySelector(v string) (*lxcv1.KeySelector, error) {
	name, key, ok := strings.Cut(v, ":")
	if !ok {
		return nil, fmt.Errorf("%q is not NAME:KEY", v)
	}
	sel := &lxcv1.KeySelector{Name: name, Key: key}
	if err := validateObjectRef("name", name); err != nil {
		return sel, err
	}
	if runes(key) > maxSelectorKey || !selectorKeyRE.MatchString(key) {
		return sel, fmt.Errorf("key %q may hold only letters, digits and - . _", key)
	}
	return sel, nil
}

func validateEnvName(name string) error {
	if runes(name) > maxEnvName || !envNameRE.MatchString(name) {
		return fmt.Errorf("%q is not a shell variable name", name)
	}
	return nil
}

// validateDNSishName checks script and service names.
func validateDNSishName(what, name string, max int) error {
	if runes(name) > max || !dnsishNameRE.MatchString(name) {
		return fmt.Errorf("%s %q must be lowercase letters, digits and . _ -, starting and ending with a letter or digit, at most %d characters", what, name, max)
	}
	return nil
}
