#!/bin/sh
set -eu
mkdir -p /srv/www/hello
printf '<h1>%s</h1>\n' "$SITE_TITLE" > /srv/www/hello/index.html
systemctl reload nginx
