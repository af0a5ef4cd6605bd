package configmanager

import (
	"bytes"
	"fmt"
	"regexp"
	"strings"
)

// PackageManager is a package manager a template can install packages with.
type PackageManager string

const (
	Apt PackageManager = "apt"
	Apk PackageManager = "apk"
	Dnf PackageManager = "dnf"
	Pip PackageManager = "pip"
	Npm PackageManager = "npm"
)

// PackageManagers lists the managers in the order their installs run: system packages first,
// since pip and npm need their interpreters.
var PackageManagers = []PackageManager{Apt, Apk, Dnf, Pip, Npm}

// MaxPackageNameLength is the most characters a package name may have, its version pin
// included; the API's PackageName has the same maxLength.
const MaxPackageNameLength = 128

// PackageNameRule is what the package names of one manager look like.
type PackageNameRule struct {
	// Pattern is the RE2 expression a name with its optional version pin matches. It holds no
	// backslash, so the CEL rules quote it verbatim.
	Pattern string
	// Message says in words what Pattern admits.
	Message string
}

// packageNameRules are the one definition of a valid package name per manager: the install
// scripts rely on them, the importer checks them, and the API's CEL rules on PackageList and
// PackageBucketSpec repeat them (api/v1alpha1's admission tests check that both accept and
// refuse the same names). None admits a blank, quote, $, backtick, ;, |, &, parenthesis,
// backslash or newline, and a comparator (> <) is always followed by a version starting with a
// digit, so a name is one inert word in any shell; the install scripts quote them all the same.
var packageNameRules = map[PackageManager]PackageNameRule{
	// name[:arch][=version | =version-glob | /release]; Debian names have two characters or more.
	Apt: {
		Pattern: `^[a-z0-9][a-z0-9+.-]{1,127}(:[a-z0-9-]{1,32})?(=[A-Za-z0-9.+~:*-]{1,128}|/[a-z0-9][a-z0-9.-]{0,63})?$`,
		Message: "apt package names are lowercase Debian names of two or more characters with an optional :arch, then an optional =version (globs such as =24.* allowed) or /release",
	},
	// name[=version | ~version | >=version | <=version | >version | <version]
	Apk: {
		Pattern: `^[A-Za-z0-9][A-Za-z0-9+._-]{0,127}((=|~|>=|<=|>|<)[0-9][A-Za-z0-9.+_~-]{0,63})?$`,
		Message: "apk package names are name[=|~|>=|<=|>|<version]",
	},
	// name[-version[-release]][.arch], epochs and globs included
	Dnf: {
		Pattern: `^[A-Za-z0-9_][A-Za-z0-9+._:~*-]{0,127}$`,
		Message: "dnf package names are name[-version[-release]][.arch]",
	},
	// name[extra,…][specifier version[,specifier version…]]
	Pip: {
		Pattern: `^[A-Za-z0-9]([A-Za-z0-9._-]{0,126}[A-Za-z0-9])?([[][A-Za-z0-9._-]{1,64}(,[A-Za-z0-9._-]{1,64}){0,15}[]])?((==|===|!=|~=|>=|<=|>|<)[0-9][A-Za-z0-9.*+!_-]{0,63}(,(==|===|!=|~=|>=|<=|>|<)[0-9][A-Za-z0-9.*+!_-]{0,63}){0,7})?$`,
		Message: "pip package names are name[extras][==|~=|>=|<=|!=|>|<version[,specifier…]]",
	},
	// [@scope/]name[@version-or-range]
	Npm: {
		Pattern: `^(@[a-z0-9][a-z0-9._~-]{0,100}/)?[a-z0-9][a-z0-9._~-]{0,100}(@([a-z][a-z0-9._-]{0,63}|([~^]|>=|<=|>|<)?[0-9][A-Za-z0-9.+-]{0,63}|[*]))?$`,
		Message: "npm package names are [@scope/]name[@version]",
	},
}

var packagePatterns = func() map[PackageManager]*regexp.Regexp {
	res := make(map[PackageManager]*regexp.Regexp, len(packageNameRules))
	for m, r := range packageNameRules {
		res[m] = regexp.MustCompile(r.Pattern)
	}
	return res
}()

// PackageNameRuleFor returns the rule the package names of manager m follow.
func PackageNameRuleFor(m PackageManager) (PackageNameRule, bool) {
	r, ok := packageNameRules[m]
	return r, ok
}

// ValidatePackageName checks name against the rule of its manager.
func ValidatePackageName(m PackageManager, name string) error {
	re, ok := packagePatterns[m]
	if !ok {
		return fmt.Errorf("package manager %q is not apt, apk, dnf, pip or npm", m)
	}
	if len(name) > MaxPackageNameLength {
		return fmt.Errorf("%s package %.40q… is longer than %d characters", m, name, MaxPackageNameLength)
	}
	if !re.MatchString(name) {
		return fmt.Errorf("%q is not a valid %s package name: %s", name, m, packageNameRules[m].Message)
	}
	return nil
}

// installCommands is the body of each manager's script after "pkgs=(…)". Every script runs
// with errexit, so the install's failure is the script's.
var installCommands = map[PackageManager]string{
	Apt: `export DEBIAN_FRONTEND=noninteractive
# A container without a network must still succeed when every package is already installed:
# apt-get install needs no index for those, so a failed update (any source that could not be
# fetched counts) only warns.
if ! apt-get -o Acquire::Retries=1 -o Acquire::http::Timeout=30 update --error-on=any; then
	echo "install-packages: apt-get update failed; installing from the package index at hand" >&2
fi
apt-get -o DPkg::Lock::Timeout=300 install -y --no-install-recommends "${pkgs[@]}"
`,
	Apk: `if ! apk update; then
	echo "install-packages: apk update failed; installing from the package index at hand" >&2
fi
apk add "${pkgs[@]}"
`,
	Dnf: `# With the repositories unreachable, fall back to the cached metadata, which is enough for
# packages that are already installed.
if ! dnf install -y "${pkgs[@]}"; then
	echo "install-packages: dnf install failed; trying again with cached metadata only" >&2
	dnf install -y --cacheonly "${pkgs[@]}"
fi
`,
	Pip: `if command -v pip3 >/dev/null; then
	pip=(pip3)
elif command -v python3 >/dev/null && python3 -m pip --version >/dev/null 2>&1; then
	pip=(python3 -m pip)
else
	echo "install-packages: pip is not installed; add python3-pip to the template's apt packages" >&2
	exit 127
fi
# Debian's Python is marked as externally managed; the template asks for these packages anyway.
export PIP_BREAK_SYSTEM_PACKAGES=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1
"${pip[@]}" install "${pkgs[@]}"
`,
	Npm: `if ! command -v npm >/dev/null; then
	echo "install-packages: npm is not installed; add nodejs and npm to the template's apt packages" >&2
	exit 127
fi
npm install --global --no-audit --no-fund "${pkgs[@]}"
`,
}

// RenderPackageInstall renders the script that installs names with manager m. The script is
// meant to be uploaded as a file and run with bash; the names are validated and single-quoted
// into it, never passed on a command line.
func RenderPackageInstall(m PackageManager, names []string) ([]byte, error) {
	body, ok := installCommands[m]
	if !ok {
		return nil, fmt.Errorf("package manager %q is not apt, apk, dnf, pip or npm", m)
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("no %s packages to install", m)
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "#!/bin/bash\n# Installs the %s packages of this container's template. Rendered by LXC Template Manager.\nset -euo pipefail\n", m)
	b.WriteString("pkgs=(\n")
	seen := map[string]bool{}
	for _, n := range names {
		if err := ValidatePackageName(m, n); err != nil {
			return nil, err
		}
		if seen[n] {
			continue
		}
		seen[n] = true
		b.WriteString("\t'" + strings.ReplaceAll(n, "'", `'\''`) + "'\n")
	}
	b.WriteString(")\n")
	fmt.Fprintf(&b, "echo \"install-packages: installing ${#pkgs[@]} %s packages: ${pkgs[*]}\"\n", m)
	b.WriteString(body)
	fmt.Fprintf(&b, "echo \"install-packages: %s packages installed\"\n", m)
	return b.Bytes(), nil
}
