#!/bin/bash
set -euo pipefail
password=$(generate_password 20)
save_credential demo-app DEMO_APP_PASSWORD "$password"
# A credential's value is redacted wherever it appears: the app's own login, not the container user.
save_credential demo-app DEMO_APP_USER "demo-admin"
log_info "saved demo-app's password ${password}"
echo 02-credentials.sh >> /var/log/contract-order.log
