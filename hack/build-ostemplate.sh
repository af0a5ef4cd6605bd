#!/usr/bin/env bash
# Builds the Debian 12 OS template that pvesim's lxc backend boots, the way Proxmox's own
# debian-12-standard template is laid out: a root filesystem tarball compressed with zstd.
# The result is cached outside the repository (keyed by the package list) and linked into
# bin/ostemplates/.
#
#   hack/build-ostemplate.sh [OUTPUT-DIR]
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$root/bin/ostemplates}
name=debian-12-standard_12.7-1_amd64.tar.zst
packages=systemd,systemd-sysv,dbus,openssh-server,iproute2,ca-certificates,ifupdown,isc-dhcp-client,procps
key=$(printf '%s' "bookworm $packages v4" | sha256sum | cut -c1-12)
cache="${LXCTM_TOOLS_CACHE:-$HOME/.cache/lxc-template-manager/tools}/ostemplate-$key"

log() { printf '[ostemplate] %s\n' "$*" >&2; }

# The Debian mirror comes from this machine's own apt configuration, so the script names none.
mirror() {
  local uri
  uri=$(sed -n 's/^URIs:[[:space:]]*\([^[:space:]]*\).*/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null |
    grep -v -- '-security' | head -n1)
  if [ -z "$uri" ]; then
    uri=$(awk '$1 == "deb" && $3 ~ /^bookworm$/ {print $2; exit}' /etc/apt/sources.list 2>/dev/null)
  fi
  [ -n "$uri" ] || { echo "no Debian mirror found in the apt sources" >&2; exit 1; }
  echo "$uri"
}

if [ ! -s "$cache/$name" ]; then
  for cmd in debootstrap zstd; do
    command -v "$cmd" >/dev/null || { echo "$cmd is missing: run 'make deps'" >&2; exit 1; }
  done
  mkdir -p "$cache"
  exec 9>"$cache/.lock"
  flock 9
  if [ ! -s "$cache/$name" ]; then
    rootfs=$(mktemp -d "$cache/.rootfs.XXXXXX")
    # mktemp makes the directory 0700; a root filesystem is 0755 like any other /.
    chmod 0755 "$rootfs"
    trap 'rm -rf "$rootfs"' EXIT
    log "debootstrap bookworm ($packages)"
    debootstrap --variant=minbase --include="$packages" bookworm "$rootfs" "$(mirror)" >"$cache/debootstrap.log" 2>&1 ||
      { tail -n 30 "$cache/debootstrap.log" >&2; exit 1; }
    # What Proxmox's standard template does on first boot is done by pvesim at create time
    # (hostname, keys, network); here only what every container needs.
    rm -f "$rootfs"/etc/ssh/ssh_host_* "$rootfs"/etc/machine-id "$rootfs"/var/lib/dbus/machine-id
    : >"$rootfs/etc/machine-id"
    printf 'auto lo\niface lo inet loopback\n' >"$rootfs/etc/network/interfaces"
    # debootstrap copies the build host's hostname and resolver; a template carries neither.
    echo localhost >"$rootfs/etc/hostname"
    printf '127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost ip6-loopback\nff02::1\t\tip6-allnodes\nff02::2\t\tip6-allrouters\n' \
      >"$rootfs/etc/hosts"
    rm -f "$rootfs/etc/resolv.conf"
    : >"$rootfs/etc/resolv.conf"
    # An unprivileged container may not mount debugfs; the failed unit would leave systemd
    # "degraded" instead of "running".
    ln -sfn /dev/null "$rootfs/etc/systemd/system/sys-kernel-debug.mount"
    # Host keys are generated on first boot inside the container, so every container has its own.
    mkdir -p "$rootfs/etc/systemd/system/ssh.service.d"
    printf '[Service]\nExecStartPre=\nExecStartPre=/usr/bin/ssh-keygen -A\nExecStartPre=/usr/sbin/sshd -t\n' \
      >"$rootfs/etc/systemd/system/ssh.service.d/host-keys.conf"
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
    tar --numeric-owner -C "$rootfs" -cf - . | zstd -q -T0 -12 -o "$cache/$name.tmp"
    mv "$cache/$name.tmp" "$cache/$name"
    log "built $cache/$name ($(du -h "$cache/$name" | cut -f1))"
  fi
fi
mkdir -p "$out"
ln -sfn "$cache/$name" "$out/$name"
echo "$out/$name"
