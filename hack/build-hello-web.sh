#!/usr/bin/env bash
# Builds the hello-web Debian package (a small web service with a systemd unit listening on
# port 8080) into a flat apt repository: OUT/hello-web_1.0_amd64.deb, OUT/Packages, OUT/Release.
# Containers install it from that repository, served on the simulator's bridge.
#
#   hack/build-hello-web.sh OUT
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:?usage: build-hello-web.sh OUT}
version=1.0
mkdir -p "$out"
out=$(cd "$out" && pwd)
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT

mkdir -p "$stage/DEBIAN" "$stage/usr/bin" "$stage/lib/systemd/system" "$stage/var/www/hello"
(cd "$root" && CGO_ENABLED=0 GOTOOLCHAIN=local go build -trimpath -ldflags "-s -w" -o "$stage/usr/bin/hello-web" ./hack/hello-web)

cat >"$stage/lib/systemd/system/hello-web.service" <<'UNIT'
[Unit]
Description=hello-web, a small web service
After=network.target

[Service]
ExecStart=/usr/bin/hello-web -listen :8080
User=nobody
Restart=on-failure

[Install]
WantedBy=multi-user.target
UNIT

cat >"$stage/DEBIAN/control" <<CONTROL
Package: hello-web
Version: $version
Architecture: amd64
Maintainer: LXC Template Manager <noreply@templatemanager.dev>
Section: web
Priority: optional
Description: a small web service for LXC Template Manager's demo and tests
 Serves /var/www/hello on port 8080.
CONTROL

cat >"$stage/DEBIAN/postinst" <<'POSTINST'
#!/bin/sh
set -e
if [ "$1" = configure ] && [ -d /run/systemd/system ]; then
  systemctl daemon-reload
  systemctl enable --now hello-web.service
fi
POSTINST
cat >"$stage/DEBIAN/prerm" <<'PRERM'
#!/bin/sh
set -e
if [ -d /run/systemd/system ]; then
  systemctl disable --now hello-web.service || true
fi
PRERM
chmod 0755 "$stage/DEBIAN/postinst" "$stage/DEBIAN/prerm"

dpkg-deb --root-owner-group --build "$stage" "$out/hello-web_${version}_amd64.deb" >/dev/null
(cd "$out" && dpkg-scanpackages --multiversion . /dev/null 2>/dev/null >Packages && gzip -9c Packages >Packages.gz)

# A flat repository's Release names its index files with their sizes and checksums.
{
  echo "Origin: lxc-template-manager"
  echo "Label: lxc-template-manager"
  echo "Suite: local"
  echo "Codename: local"
  echo "Architectures: amd64"
  echo "Date: $(LC_ALL=C date -u '+%a, %d %b %Y %H:%M:%S UTC')"
  echo "SHA256:"
  for f in Packages Packages.gz; do
    printf ' %s %s %s\n' "$(sha256sum "$out/$f" | cut -d' ' -f1)" "$(stat -c %s "$out/$f")" "$f"
  done
} >"$out/Release"
echo "$out"
