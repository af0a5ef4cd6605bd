#!/bin/bash
set -euo pipefail
password=$(generate_password 20)
save_credential demo-app DEMO_APP_PASSWORD "$password"
save_credential demo-app DEMO_APP_USER "$CONTAINER_USER"
log_info "saved demo-app's password ${password}"
echo 02-credentials.sh >> /var/log/contract-order.log
