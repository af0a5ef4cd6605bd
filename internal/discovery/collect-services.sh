#!/bin/bash
# Prints one document describing what this container serves: its listening sockets, the cgroup
# of each process behind them, the running services, and the credentials files that scripts
# left in /etc/config-manager/credentials and, through the original system's save_credential,
# in /etc/infrahaus/credentials.
#
# The document starts with "lxctm-discovery 1". Each section is a header line
#   section <kind> <exit-status> <bytes> [<argument>]
# followed by exactly <bytes> bytes of content and a newline, so any content is safe inside it.
# A command's stderr, when it has any, follows as a section of kind "stderr" whose argument is
# the kind it belongs to. The document ends with the line "end"; a document without it was cut.
# CONFIG_MANAGER_ROOT prefixes the credentials directories; only tests set it.
set -u
export LC_ALL=C
umask 077

credentials=("${CONFIG_MANAGER_ROOT:-}/etc/config-manager/credentials" "${CONFIG_MANAGER_ROOT:-}/etc/infrahaus/credentials")
max_credentials=262144

tmp=$(mktemp -d) || exit 1
trap 'rm -rf -- "$tmp"' EXIT

# section KIND STATUS FILE [ARGUMENT]
section() {
	local size
	size=$(wc -c <"$3") || size=0
	if [[ $# -ge 4 ]]; then
		printf 'section %s %d %d %s\n' "$1" "$2" "$size" "$4"
	else
		printf 'section %s %d %d\n' "$1" "$2" "$size"
	fi
	cat -- "$3"
	printf '\n'
}

# run KIND [ARGUMENT] -- COMMAND...: runs the command and prints its output as a section.
run() {
	local kind=$1 arg=() status
	shift
	if [[ $1 != -- ]]; then
		arg=("$1")
		shift
	fi
	shift
	"$@" >"$tmp/out" 2>"$tmp/err"
	status=$?
	section "$kind" "$status" "$tmp/out" "${arg[@]}"
	if [[ -s $tmp/err ]]; then
		section stderr "$status" "$tmp/err" "$kind"
	fi
}

printf 'lxctm-discovery 1\n'

run ss -- ss -Htlnup
mapfile -t pids < <(grep -o 'pid=[0-9]*' "$tmp/out" | cut -d= -f2 | sort -un)
for pid in "${pids[@]}"; do
	# A process may have exited since ss saw it; the status says so.
	run cgroup "$pid" -- cat "/proc/$pid/cgroup"
done

run units -- systemctl list-units --type=service --state=running --plain --no-legend --no-pager

for file in "${credentials[0]}"/*.env "${credentials[1]}"/*.env; do
	[[ -f $file && ! -L $file ]] || continue
	name=${file##*/}
	if [[ ! $name =~ ^[A-Za-z0-9][-_.A-Za-z0-9]{0,200}\.env$ ]]; then
		printf 'credentials file %q has a name that is not <service>.env; skipped\n' "$name" >"$tmp/msg"
		section problem 1 "$tmp/msg"
		continue
	fi
	size=$(wc -c <"$file") || size=-1
	if ((size < 0 || size > max_credentials)); then
		printf 'credentials file %s is larger than %d bytes or unreadable; skipped\n' "$name" "$max_credentials" >"$tmp/msg"
		section problem 1 "$tmp/msg"
		continue
	fi
	run credentials "$name" -- cat -- "$file"
done

printf 'end\n'
