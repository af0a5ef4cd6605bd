#!/bin/bash
set -eu
echo "00-pre-checks $(date +%s%N)" >> /var/log/devbox-order.log
test -d /etc
