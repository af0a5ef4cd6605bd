#!/bin/bash
set -eu
echo "01-setup-user $(date +%s%N)" >> /var/log/devbox-order.log
id dev >/dev/null 2>&1 || useradd --create-home --shell /bin/bash dev
