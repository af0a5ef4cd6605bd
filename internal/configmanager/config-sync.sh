#!/bin/bash
# config-sync: installs the files managed by LXC Template Manager, each by its policy.
#
# files/manifest has one line per file: policy, mode, owner, sha256 and path, tab-separated with
# the path last; the desired content of a file is files/<sha256>.
#   replace  install when content, mode or owner differ
#   default  install only when nothing exists at the path
#   backup   as replace, but first keep a file that config-sync did not write as <path>.bak
# Installs are atomic: a temporary file beside the target, renamed over it. A second run with the
# same manifest changes nothing; a file dropped from the manifest is left where it is. What a run
# did goes to stdout (the journal) and to /var/lib/config-manager/config-sync/last-run.log; the
# hashes of the files it installed to .../installed, so that a later run never mistakes its own
# file for one worth a backup.
# CONFIG_MANAGER_ROOT prefixes every path; only tests set it.
set -u
umask 077
export LC_ALL=C

root=${CONFIG_MANAGER_ROOT:-}
conf=$root/etc/config-manager
blobs=$conf/files
manifest=$blobs/manifest
state=$root/var/lib/config-manager/config-sync
installed=$state/installed

failures=0
changes=0
files=0

for dir in "$root/var/lib/config-manager" "$state" "$conf/credentials" "$blobs"; do
	if ! mkdir -p -- "$dir" || ! chmod 0700 -- "$dir"; then
		printf 'config-sync: error: cannot create %s\n' "$dir" >&2
		exit 1
	fi
done
exec 9>"$state/lock"
if ! flock -w 120 9; then
	printf 'config-sync: error: another run holds %s\n' "$state/lock" >&2
	exit 1
fi
: >"$state/last-run.log.tmp"
: >"$installed.tmp"

log() {
	printf 'config-sync: %s\n' "$*"
	printf '%s\n' "$*" >>"$state/last-run.log.tmp"
}

problem() {
	printf 'config-sync: error: %s\n' "$*" >&2
	printf 'error: %s\n' "$*" >>"$state/last-run.log.tmp"
	failures=$((failures + 1))
}

finish() {
	mv -f -- "$installed.tmp" "$installed"
	if ((failures == 0)); then
		prune
		log "done: $files files, $changes changes"
		printf 'ok\n' >"$state/result"
	else
		log "failed: $failures problems in $files files, $changes changes"
		printf 'failed\n' >"$state/result"
	fi
	mv -f -- "$state/last-run.log.tmp" "$state/last-run.log"
	((failures == 0))
	exit
}

# Contents no longer named by the manifest are removed, but only those older than it: a newer
# one belongs to a manifest being uploaded right now.
prune() {
	local blob name
	for blob in "$blobs"/*; do
		name=${blob##*/}
		[[ $name =~ ^[0-9a-f]{64}$ ]] || continue
		[[ -n ${wanted[$name]-} || $blob -nt $manifest ]] && continue
		rm -f -- "$blob"
	done
}

sha() {
	local out
	out=$(sha256sum <"$1") || return 1
	printf '%s\n' "${out%% *}"
}

resolve_uid() {
	case $1 in
	*[!0-9]*) id -u -- "$1" 2>/dev/null ;;
	*) printf '%s\n' "$1" ;;
	esac
}

resolve_gid() {
	local entry
	case $1 in
	*[!0-9]*)
		entry=$(getent group "$1") || return 1
		entry=${entry#*:*:}
		printf '%s\n' "${entry%%:*}"
		;;
	*) printf '%s\n' "$1" ;;
	esac
}

# record keeps the hash of what config-sync wrote at path, or carries the previous record.
record() {
	local path=$1 sum=${2:-${previous[$1]-}}
	[[ -n $sum ]] && printf '%s\t%s\n' "$sum" "$path" >>"$installed.tmp"
	return 0
}

# write_file installs blob at target atomically with owner and mode.
write_file() {
	local path=$1 target=$2 blob=$3 uid=$4 gid=$5 mode=$6 dir tmp
	dir=$(dirname -- "$target")
	if [[ ! -d $dir ]]; then
		if ! (umask 022 && mkdir -p -- "$dir"); then
			problem "$path: cannot create its directory"
			return 1
		fi
		log "$path: created its directory"
	fi
	if ! tmp=$(mktemp -- "$dir/.config-sync.XXXXXX"); then
		problem "$path: cannot create a temporary file beside it"
		return 1
	fi
	# chown before chmod: chown clears setuid and setgid.
	if cat -- "$blob" >"$tmp" && chown -- "$uid:$gid" "$tmp" && chmod -- "$mode" "$tmp" &&
		sync -- "$tmp" && mv -fT -- "$tmp" "$target"; then
		return 0
	fi
	rm -f -- "$tmp"
	problem "$path: could not write it"
	return 1
}

# back_up keeps the file at target as target.bak, atomically and with its metadata.
back_up() {
	local path=$1 target=$2 tmp
	if ! tmp=$(mktemp -- "$(dirname -- "$target")/.config-sync.XXXXXX"); then
		problem "$path: cannot create a temporary file beside it"
		return 1
	fi
	if cp -a --remove-destination -- "$target" "$tmp" && mv -fT -- "$tmp" "$target.bak"; then
		log "$path: kept the previous file as $path.bak"
		changes=$((changes + 1))
		return 0
	fi
	rm -f -- "$tmp"
	problem "$path: could not keep the previous file as $path.bak"
	return 1
}

apply() {
	local policy=$1 mode=$2 owner=$3 sum=$4 path=$5
	local target=$root$path blob=$blobs/$sum uid gid current meta

	if [[ -d $target && ! -L $target ]]; then
		problem "$path: is a directory"
		record "$path"
		return
	fi
	if [[ $policy == default ]] && [[ -e $target || -L $target ]]; then
		log "$path: left as it is (policy default, the file exists)"
		record "$path"
		return
	fi
	if [[ ! -f $blob ]] || [[ $(sha "$blob") != "$sum" ]]; then
		problem "$path: desired content $sum is missing or damaged in $blobs"
		record "$path"
		return
	fi
	if ! uid=$(resolve_uid "${owner%%:*}") || [[ -z $uid ]]; then
		problem "$path: owner $owner: no user ${owner%%:*}"
		record "$path"
		return
	fi
	if ! gid=$(resolve_gid "${owner#*:}") || [[ -z $gid ]]; then
		problem "$path: owner $owner: no group ${owner#*:}"
		record "$path"
		return
	fi

	if [[ -f $target && ! -L $target ]]; then
		current=$(sha "$target") || {
			problem "$path: cannot read it"
			record "$path"
			return
		}
		if [[ $current == "$sum" ]]; then
			meta=$(stat -c '%u:%g %a' -- "$target")
			if [[ ${meta% *} != "$uid:$gid" ]]; then
				if ! chown -- "$uid:$gid" "$target" || ! chmod -- "$mode" "$target"; then
					problem "$path: cannot set owner $owner and mode $mode"
					record "$path"
					return
				fi
				log "$path: set owner $owner and mode $mode"
				changes=$((changes + 1))
			elif ((8#${meta#* } != 8#$mode)); then
				if ! chmod -- "$mode" "$target"; then
					problem "$path: cannot set mode $mode"
					record "$path"
					return
				fi
				log "$path: set mode $mode"
				changes=$((changes + 1))
			else
				log "$path: up to date"
			fi
			record "$path" "$sum"
			return
		fi
		if [[ $policy == backup && $current != "${previous[$path]-}" ]]; then
			back_up "$path" "$target" || {
				record "$path"
				return
			}
		fi
	elif [[ -e $target || -L $target ]]; then
		# A symbolic link or special file is never something config-sync wrote.
		if [[ $policy == backup ]]; then
			back_up "$path" "$target" || {
				record "$path"
				return
			}
		fi
	fi
	if write_file "$path" "$target" "$blob" "$uid" "$gid" "$mode"; then
		log "$path: installed (policy $policy)"
		changes=$((changes + 1))
		record "$path" "$sum"
	else
		record "$path"
	fi
}

# ensure_user creates the template's container user when it is missing, before any file is
# applied, so files may be owned by it and scripts find it (the original's scripts assumed the
# user their template named). Under CONFIG_MANAGER_ROOT (tests) it only says what it would do.
ensure_user() {
	local user
	[[ -s $conf/container-user ]] || return 0
	IFS= read -r user <"$conf/container-user" || true
	if [[ ! $user =~ ^[a-z_][a-z0-9_-]{0,31}$ ]]; then
		problem "container-user: not a user name"
		return
	fi
	if [[ -n $root ]]; then
		log "user $user: would be created if missing"
		return
	fi
	id -u -- "$user" >/dev/null 2>&1 && return 0
	if command -v useradd >/dev/null 2>&1; then
		useradd --create-home --shell /bin/bash -- "$user" || { problem "user $user: useradd failed"; return; }
	elif command -v adduser >/dev/null 2>&1; then
		adduser -D -s /bin/sh "$user" || { problem "user $user: adduser failed"; return; }
	else
		problem "user $user: neither useradd nor adduser is installed"
		return
	fi
	log "user $user: created"
	changes=$((changes + 1))
}

ensure_user

declare -A previous=() wanted=()
if [[ -f $installed ]]; then
	while IFS=$'\t' read -r sum path; do
		[[ -n $sum && -n $path ]] && previous[$path]=$sum
	done <"$installed"
fi

if [[ ! -f $manifest ]]; then
	problem "manifest $manifest is missing"
	finish
fi
log "applying $manifest"
lineno=0
while IFS= read -r line <&3 || [[ -n $line ]]; do
	lineno=$((lineno + 1))
	[[ -z $line || $line == '#'* ]] && continue
	IFS=$'\t' read -r policy mode owner sum path <<<"$line"
	files=$((files + 1))
	if [[ ! $policy =~ ^(replace|default|backup)$ || ! $mode =~ ^[0-7]{4}$ ||
		! $owner =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]*:[A-Za-z0-9_][A-Za-z0-9_.-]*$ ||
		! $sum =~ ^[0-9a-f]{64}$ || $path != /* || $path == */ ||
		$path == *//* || $path == */./* || $path == */../* || $path == */. || $path == */.. ]]; then
		problem "manifest line $lineno is malformed"
		continue
	fi
	wanted[$sum]=1
	apply "$policy" "$mode" "$owner" "$sum" "$path"
done 3<"$manifest"
finish
