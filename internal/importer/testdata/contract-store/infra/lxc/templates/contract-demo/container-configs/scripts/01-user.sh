#!/bin/bash
# Uses the helpers without defining them, as the original's scripts do.
set -euo pipefail
log_info "preparing ${CONTAINER_USER} on ${CONTAINER_OS} ${CONTAINER_OS_VERSION} at ${CONTAINER_IP}"
is_installed bash
wait_for_apt_lock
ensure_installed bash
id -u "$CONTAINER_USER" >/dev/null
run_as_user sh -c 'id -un > "$HOME/whoami"; echo "$HOME" >> "$HOME/whoami"'
echo "$CONTAINER_OS $CONTAINER_OS_VERSION $CONTAINER_IP" > /var/log/contract-env.log
echo 01-user.sh >> /var/log/contract-order.log
