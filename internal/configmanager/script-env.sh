# script-env: the environment the original system's template scripts were written against.
#
# Every script run gets BASH_ENV pointing here, so bash loads this file before the script's
# first line and the script needs no change. It only defines variables and functions: it sets
# no shell options and never fails, and every function works under `set -euo pipefail`.
#
# Variables (exported; a value already in the environment is kept):
#   CONTAINER_USER        the template's containerUser (CONTAINER_USER_FILE), else the first
#                         user with UID 1000-65533 and a login shell, else the first
#                         directory under /home, else "coder"
#   CONTAINER_OS          ID of /etc/os-release (a derivative: debian or fedora by ID_LIKE)
#   CONTAINER_OS_VERSION  VERSION_ID of /etc/os-release
#   CONTAINER_IP          the first global IPv4 address of the container
#   _PKG_MGR              the package manager: apt, apk, dnf or unknown
#   CONFIG_MANAGER_FIRST_RUN
#                         "true" until the container's scripts have all succeeded once (the
#                         controller then leaves FIRST_RUN_MARKER), "false" afterwards: a
#                         script run again because it changed sees "false"
# Functions: log_info, log_warn, log_error, run_as_user, generate_password, save_credential,
# is_installed, ensure_installed, wait_for_apt_lock (each described where it is defined).
#
# CONFIG_MANAGER_ROOT prefixes the files read and written here; only tests set it.

# Bash only, once per shell: a script that sources it again gets the same definitions.
if [ -n "${BASH_VERSION:-}" ] && [ -z "${_lxctm_script_env:-}" ]; then
_lxctm_script_env=1

# ---- variables --------------------------------------------------------------------------

_lxctm_root=${CONFIG_MANAGER_ROOT:-}

# _lxctm_os_field FIELD prints one field of os-release without loading it into this shell,
# whose VERSION and NAME a script may use.
_lxctm_os_field() {
	(
		[ -r "$_lxctm_root/etc/os-release" ] || exit 0
		# shellcheck disable=SC1091
		. "$_lxctm_root/etc/os-release" 2>/dev/null || exit 0
		eval "printf '%s' \"\${$1:-}\""
	)
}

if [ -z "${CONTAINER_OS:-}" ]; then
	CONTAINER_OS=$(_lxctm_os_field ID)
	case "$CONTAINER_OS" in
	ubuntu | debian | alpine | fedora | centos | rhel | rocky | almalinux | "") ;;
	*)
		case "$(_lxctm_os_field ID_LIKE)" in
		*debian*) CONTAINER_OS=debian ;;
		*rhel* | *fedora*) CONTAINER_OS=fedora ;;
		esac
		;;
	esac
	CONTAINER_OS=${CONTAINER_OS:-unknown}
fi
if [ -z "${CONTAINER_OS_VERSION:-}" ]; then
	CONTAINER_OS_VERSION=$(_lxctm_os_field VERSION_ID)
	CONTAINER_OS_VERSION=${CONTAINER_OS_VERSION:-unknown}
fi

CONTAINER_USER_FILE=${CONTAINER_USER_FILE:-$_lxctm_root/etc/config-manager/container-user}
if [ -z "${CONTAINER_USER:-}" ] && [ -r "$CONTAINER_USER_FILE" ]; then
	IFS= read -r CONTAINER_USER <"$CONTAINER_USER_FILE" || true
fi
if [ -z "${CONTAINER_USER:-}" ]; then
	CONTAINER_USER=$(getent passwd 2>/dev/null | awk -F: '$3 >= 1000 && $3 < 65534 && $7 !~ /(nologin|false)$/ { print $1; exit }')
fi
if [ -z "${CONTAINER_USER:-}" ]; then
	for _lxctm_home in "$_lxctm_root"/home/*/; do
		[ -d "$_lxctm_home" ] || continue
		_lxctm_home=${_lxctm_home%/}
		CONTAINER_USER=${_lxctm_home##*/}
		break
	done
	unset _lxctm_home
fi
CONTAINER_USER=${CONTAINER_USER:-coder}

if [ -z "${CONTAINER_IP:-}" ]; then
	CONTAINER_IP=$(ip -4 -o addr show scope global 2>/dev/null | awk '{ sub("/.*", "", $4); print $4; exit }')
	if [ -z "$CONTAINER_IP" ]; then
		CONTAINER_IP=$(hostname -I 2>/dev/null | awk '{ print $1 }')
	fi
fi

if [ -z "${_PKG_MGR:-}" ]; then
	if command -v apt-get >/dev/null 2>&1; then _PKG_MGR=apt
	elif command -v apk >/dev/null 2>&1; then _PKG_MGR=apk
	elif command -v dnf >/dev/null 2>&1; then _PKG_MGR=dnf
	else _PKG_MGR=unknown
	fi
fi

if [ -z "${CONFIG_MANAGER_FIRST_RUN:-}" ]; then
	if [ -e "$_lxctm_root/var/lib/config-manager/first-run-complete" ]; then
		CONFIG_MANAGER_FIRST_RUN=false
	else
		CONFIG_MANAGER_FIRST_RUN=true
	fi
fi

export CONTAINER_USER CONTAINER_OS CONTAINER_OS_VERSION CONTAINER_IP _PKG_MGR CONFIG_MANAGER_FIRST_RUN

# ---- logging ----------------------------------------------------------------------------

# log_info|log_warn|log_error MESSAGE...: one line "[date time] [LEVEL  ] message" on stdout,
# the original's format. Always returns 0.
_lxctm_log() {
	local level=$1
	shift
	printf '[%s] [%-7s] %s\n' "$(date '+%Y-%m-%d %H:%M:%S' 2>/dev/null || true)" "$level" "$*" || true
	return 0
}
log_info() { _lxctm_log INFO "$@"; }
log_warn() { _lxctm_log WARNING "$@"; }
log_error() { _lxctm_log ERROR "$@"; }

# ---- users ------------------------------------------------------------------------------

# run_as_user COMMAND [ARG...]: runs the command as CONTAINER_USER with that user's HOME, USER
# and a PATH that includes the user's own tool directories (~/.local/bin, ~/.foundry/bin,
# ~/.npm-global/bin, the newest nvm node). Exits as the command does.
run_as_user() {
	if [ $# -eq 0 ]; then
		log_error "run_as_user: no command given"
		return 2
	fi
	local home node_bin="" d
	home=$(getent passwd "$CONTAINER_USER" 2>/dev/null | cut -d: -f6)
	if [ -z "$home" ]; then
		log_error "run_as_user: user ${CONTAINER_USER} does not exist"
		return 1
	fi
	for d in "$home"/.nvm/versions/node/*/bin; do
		[ -d "$d" ] && node_bin=$d
	done
	local path="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	path="$path:$home/.local/bin:$home/.foundry/bin:$home/.npm-global/bin${node_bin:+:$node_bin}"
	local vars=("PATH=$path" "HOME=$home" "USER=$CONTAINER_USER" "LOGNAME=$CONTAINER_USER")
	if [ -n "${EXTENSIONS_GALLERY:-}" ]; then
		vars+=("EXTENSIONS_GALLERY=$EXTENSIONS_GALLERY")
	fi
	if [ "$(id -u)" = "$(id -u "$CONTAINER_USER" 2>/dev/null)" ]; then
		env "${vars[@]}" "$@"
	elif command -v runuser >/dev/null 2>&1; then
		runuser -u "$CONTAINER_USER" -- env "${vars[@]}" "$@"
	else
		sudo -u "$CONTAINER_USER" -- env "${vars[@]}" "$@"
	fi
}

# ---- secrets ----------------------------------------------------------------------------

# generate_password [LENGTH]: prints LENGTH (default 16) random letters and digits, no newline.
# It reads a bounded amount of /dev/urandom, so no writer in its pipes dies of SIGPIPE and
# pipefail cannot fail it.
generate_password() {
	local length=${1:-16} out="" chunk
	case "$length" in
	'' | *[!0-9]* | 0*)
		log_error "generate_password: length must be a positive number"
		return 2
		;;
	esac
	while [ "${#out}" -lt "$length" ]; do
		chunk=$(head -c 512 /dev/urandom | LC_ALL=C tr -dc 'A-Za-z0-9') || return 1
		out=$out$chunk
	done
	printf '%s' "${out:0:length}"
}

# save_credential SERVICE KEY VALUE: records KEY=VALUE in /etc/infrahaus/credentials/SERVICE.env
# (directory 0700, file 0600), replacing an earlier value of KEY. The controller copies these
# files into the Secret <container>-credentials and keeps their values out of script output.
# The value is written double-quoted, so any text survives; nothing of it reaches a command
# line.
save_credential() {
	if [ $# -ne 3 ]; then
		log_error "save_credential: usage: save_credential SERVICE KEY VALUE"
		return 2
	fi
	local service=$1 key=$2 value=$3
	if [[ ! $service =~ ^[A-Za-z0-9][-_.A-Za-z0-9]{0,200}$ ]]; then
		log_error "save_credential: service name ${service} is not letters, digits, - _ ."
		return 2
	fi
	if [[ ! $key =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]]; then
		log_error "save_credential: key ${key} is not a variable name"
		return 2
	fi
	local dir="$_lxctm_root/etc/infrahaus/credentials"
	local file="$dir/$service.env" tmp
	(umask 077 && mkdir -p -- "$dir") || return 1
	chmod 0700 -- "$dir" || return 1
	tmp=$(umask 077 && mktemp "$dir/.$service.XXXXXX") || return 1
	{
		if [ -f "$file" ]; then
			grep -v -e "^${key}=" -e "^export ${key}=" -- "$file" || true
		else
			printf '# Credentials for %s\n' "$service"
		fi
		value=${value//\\/\\\\}
		value=${value//\"/\\\"}
		value=${value//\$/\\\$}
		value=${value//\`/\\\`}
		printf '%s="%s"\n' "$key" "$value"
	} >"$tmp" || {
		rm -f -- "$tmp"
		return 1
	}
	chmod 0600 -- "$tmp" && mv -f -- "$tmp" "$file"
}

# ---- packages ---------------------------------------------------------------------------

# is_installed COMMAND: whether COMMAND is on PATH.
is_installed() {
	if [ $# -ne 1 ]; then
		log_error "is_installed: expected 1 argument, got $#"
		return 2
	fi
	command -v "$1" >/dev/null 2>&1
}

# wait_for_apt_lock: waits until no process holds dpkg's or apt's locks, at most
# APT_LOCK_WAIT seconds (default 120); returns 1 when they are still held then. Without fuser
# there is nothing to ask, and it returns at once.
wait_for_apt_lock() {
	local max=${APT_LOCK_WAIT:-120} waited=0
	if ! command -v fuser >/dev/null 2>&1; then
		return 0
	fi
	while fuser /var/lib/dpkg/lock-frontend /var/lib/dpkg/lock /var/lib/apt/lists/lock >/dev/null 2>&1; do
		if [ "$waited" -ge "$max" ]; then
			log_error "wait_for_apt_lock: the dpkg lock is still held after ${max}s"
			return 1
		fi
		[ "$waited" -eq 0 ] && log_info "Another package manager is running; waiting for it"
		sleep 5
		waited=$((waited + 5))
	done
	return 0
}

# ensure_installed PACKAGE: installs PACKAGE with the container's package manager unless a
# command of that name is already on PATH.
ensure_installed() {
	if [ $# -ne 1 ]; then
		log_error "ensure_installed: expected 1 argument, got $#"
		return 2
	fi
	local pkg=$1
	if command -v "$pkg" >/dev/null 2>&1; then
		return 0
	fi
	log_info "ensure_installed: installing ${pkg}"
	if command -v apt-get >/dev/null 2>&1; then
		wait_for_apt_lock || return 1
		DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
			DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o DPkg::Lock::Timeout=120 -- "$pkg"
	elif command -v apk >/dev/null 2>&1; then
		apk add --quiet -- "$pkg"
	elif command -v dnf >/dev/null 2>&1; then
		dnf install -y -q -- "$pkg"
	elif command -v yum >/dev/null 2>&1; then
		yum install -y -q -- "$pkg"
	else
		log_error "ensure_installed: no supported package manager (apt, apk, dnf, yum)"
		return 1
	fi
}

fi
