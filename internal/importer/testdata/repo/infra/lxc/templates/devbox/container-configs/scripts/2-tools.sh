#!/bin/sh
set -eu
echo "2-tools $(date +%s%N)" >> /var/log/devbox-order.log
