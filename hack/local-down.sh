#!/usr/bin/env bash
# Stops what hack/local-up.sh started (and, when present, what hack/demo.sh started), by the
# process ids it recorded; nothing else is touched. LOCAL_DOWN_PURGE=1 also removes the state.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
state="${LOCAL_STATE_DIR:-$root/.local}"

stop() {
  local name=$1 pidfile="$state/$1.pid"
  [ -f "$pidfile" ] || return 0
  local pid
  pid=$(cat "$pidfile")
  if kill -0 "$pid" 2>/dev/null; then
    printf '[local-down] stopping %s (pid %s)\n' "$name" "$pid" >&2
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$pidfile"
}

# Containers the demo provisioned go first, while the manager can still destroy them.
if [ -f "$state/manager.pid" ] && kill -0 "$(cat "$state/manager.pid")" 2>/dev/null && [ -x "$root/bin/kubectl" ]; then
  "$root/bin/kubectl" --kubeconfig "$state/kubeconfig" delete lxccontainers --all --all-namespaces \
    --timeout=2m >/dev/null 2>&1 || true
fi

# The console and the manager before the simulator before the control plane.
stop console
stop manager
stop apt-repo
stop pvesim
# The simulator leaves its containers running when it stops; nothing of the demo should outlive
# local-down.
if [ -d "$state/pvesim/lxc" ]; then
  for ct in "$state"/pvesim/lxc/*/config; do
    [ -f "$ct" ] || continue
    lxc-stop -P "$state/pvesim/lxc" -n "$(basename "$(dirname "$ct")")" -k >/dev/null 2>&1 || true
  done
fi
stop kube-apiserver
stop etcd

if [ "${LOCAL_DOWN_PURGE:-0}" = 1 ]; then
  rm -rf "$state"
fi
