#!/bin/sh
set -eu
rm -f /etc/nginx/sites-enabled/default
systemctl enable --now nginx
