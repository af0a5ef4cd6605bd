#!/bin/bash
set -euo pipefail
log_info "9-order.sh runs"
echo 9-order.sh >> /var/log/contract-order.log
