#!/bin/bash
set -euo pipefail
log_info "10-order.sh runs"
echo 10-order.sh >> /var/log/contract-order.log
