#!/bin/sh
set -eu
echo "10-finish $(date +%s%N)" >> /var/log/devbox-order.log
