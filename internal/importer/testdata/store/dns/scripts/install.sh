#!/bin/sh
set -eu
systemctl enable --now dnsmasq
