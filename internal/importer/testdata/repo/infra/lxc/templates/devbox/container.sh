#!/usr/bin/env bash
# Creates the container on Proxmox (replaced by the controller).
source "$(dirname "$0")/template.conf"
echo "creating ${TEMPLATE_APP}"
