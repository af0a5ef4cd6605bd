#!/usr/bin/env bash
# The main job on the local stack: a control plane (etcd + kube-apiserver), pvesim with real LXC
# containers, the hello-web apt repository on the simulator's bridge, and bin/manager; then the
# samples, followed until the container is Ready and its web service answers.
# Re-running reuses whatever is already running. hack/local-down.sh stops it all.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
state=.local
bin=$root/bin
kubeconfig=$state/kubeconfig
kubectl() { "$bin/kubectl" --kubeconfig "$kubeconfig" "$@"; }
say() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
running() { [ -f "$state/$1.pid" ] && kill -0 "$(cat "$state/$1.pid")" 2>/dev/null; }

namespace=lxc-template-manager-system
pvesim_addr=127.0.0.1:8006
bridge=lxctmdemo
subnet=169.254.100.0/24
repo_addr=169.254.100.1:8099

[ "$(id -u)" -eq 0 ] || { echo "make demo runs LXC containers and needs root" >&2; exit 1; }

say "Control plane"
hack/local-up.sh
kubectl apply --server-side -f config/crd/bases >/dev/null
kubectl wait --for=condition=Established --timeout=60s \
  crd/lxccontainers.lxc.templatemanager.dev crd/lxctemplates.lxc.templatemanager.dev \
  crd/packagebuckets.lxc.templatemanager.dev crd/proxmoxclusters.lxc.templatemanager.dev >/dev/null

say "pvesim (lxc backend) on https://$pvesim_addr"
mkdir -p "$state/pvesim"
if [ ! -s "$state/pvesim-token" ]; then
  printf 'root@pam!lxctm=%s\n' "$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')" >"$state/pvesim-token"
  chmod 600 "$state/pvesim-token"
fi
token=$(cat "$state/pvesim-token")
if ! running pvesim; then
  "$bin/pvesim" --listen "$pvesim_addr" --backend lxc --state-dir "$state/pvesim" --nodes pve1,pve2 \
    --api-token "$token" --template-dir "$bin/ostemplates" --bridge "$bridge" --subnet "$subnet" \
    >"$state/pvesim.log" 2>&1 &
  echo $! >"$state/pvesim.pid"
fi
for _ in $(seq 1 100); do
  [ -s "$state/pvesim/ca.pem" ] && (exec 3<>"/dev/tcp/${pvesim_addr%:*}/${pvesim_addr#*:}") 2>/dev/null && break
  running pvesim || { tail -n 20 "$state/pvesim.log" >&2; exit 1; }
  sleep 0.2
done

say "hello-web apt repository on http://$repo_addr"
if ! running apt-repo; then
  hack/build-hello-web.sh "$state/repo" >/dev/null
  go build -o "$bin/aptrepo" ./hack/aptrepo
  for _ in $(seq 1 50); do ip -4 addr show dev "$bridge" 2>/dev/null | grep -q "${repo_addr%:*}" && break; sleep 0.2; done
  "$bin/aptrepo" --listen "$repo_addr" --dir "$state/repo" >"$state/apt-repo.log" 2>&1 &
  echo $! >"$state/apt-repo.pid"
fi

say "Credentials for the cluster"
kubectl create namespace "$namespace" --dry-run=client -o yaml | kubectl apply -f - >/dev/null
kubectl -n "$namespace" create secret generic pve-credentials \
  --from-literal=tokenID="${token%%=*}" --from-literal=secret="${token#*=}" \
  --dry-run=client -o yaml | kubectl apply -f - >/dev/null
kubectl -n "$namespace" create secret generic pve-ca --from-file=ca.crt="$state/pvesim/ca.pem" \
  --dry-run=client -o yaml | kubectl apply -f - >/dev/null

say "bin/manager"
if ! running manager; then
  KUBECONFIG=$kubeconfig "$bin/manager" --namespace "$namespace" --metrics-bind-address=127.0.0.1:8443 \
    --health-probe-bind-address=127.0.0.1:8081 --task-poll-interval=1s >"$state/manager.log" 2>&1 &
  echo $! >"$state/manager.pid"
fi

say "Applying the samples (config/demo: the samples plus the local package source)"
"$bin/kustomize" build --load-restrictor=LoadRestrictionsNone config/demo | kubectl apply -f -

say "Following lxcc/web-1 until Ready"
# The demo gives up, and says why, when the container makes no progress (no condition changes
# its status or reason) for stall_after seconds, goes Stalled, or keeps failing; the stack stays
# up for a look.
stall_after=${DEMO_STALL_AFTER:-180}
diagnose() {
  echo >&2
  echo "web-1 did not become Ready: $1" >&2
  echo "--- conditions" >&2
  kubectl get lxcc web-1 -o jsonpath='{range .status.conditions[*]}{.type}{"\t"}{.status}{"\t"}{.reason}{"\t"}{.message}{"\n"}{end}' >&2 || true
  kubectl get lxcc web-1 -o jsonpath='{.status.retry}{"\n"}' >&2 || true
  echo "--- last events" >&2
  kubectl get events --field-selector involvedObject.name=web-1 --sort-by=.metadata.creationTimestamp 2>/dev/null | tail -n 10 >&2 || true
  echo "--- $state/manager.log (last lines)" >&2
  tail -n 15 "$state/manager.log" >&2 || true
  echo "--- $state/pvesim.log (last lines)" >&2
  tail -n 15 "$state/pvesim.log" >&2 || true
  echo >&2
  echo "The stack is still up for inspection (KUBECONFIG=$root/$kubeconfig); stop it with: make local-down" >&2
  exit 1
}
last=""
progress=""
progress_at=$SECONDS
while :; do
  line=$(kubectl get lxcc web-1 --no-headers -o custom-columns='PHASE:.status.phase,READY:.status.conditions[?(@.type=="Ready")].status,MESSAGE:.status.conditions[?(@.type=="Ready")].message' 2>/dev/null || true)
  if [ "$line" != "$last" ] && [ -n "${line//[<>none ]/}" ]; then
    printf '  %s  %s\n' "$(date +%T)" "$line"
    last=$line
  fi
  ready=$(kubectl get lxcc web-1 -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null || true)
  [ "$ready" = True ] && break
  state_now=$(kubectl get lxcc web-1 -o jsonpath='{.status.phase}{range .status.conditions[*]}/{.type}={.status}:{.reason}{end}' 2>/dev/null || true)
  if [ "$state_now" != "$progress" ]; then
    progress=$state_now
    progress_at=$SECONDS
  fi
  stalled=$(kubectl get lxcc web-1 -o jsonpath='{.status.conditions[?(@.type=="Stalled")].status}' 2>/dev/null || true)
  attempts=$(kubectl get lxcc web-1 -o jsonpath='{.status.retry.attempts}' 2>/dev/null || true)
  [ "$stalled" = True ] && diagnose "it is Stalled"
  [ "${attempts:-0}" -ge 6 ] && diagnose "it failed $attempts times in a row"
  [ $((SECONDS - progress_at)) -ge "$stall_after" ] && diagnose "no progress for ${stall_after}s"
  running manager || diagnose "bin/manager exited"
  sleep 1
done
kubectl get lxcc,lxct,pkgb,pvec

url=$(kubectl get lxcc web-1 -o jsonpath='{.status.services[?(@.name=="hello-web")].url}')
say "web-1 serves hello-web at $url"
page=""
for _ in $(seq 1 20); do
  page=$(curl -fsS --max-time 5 "$url" 2>/dev/null) && break
  sleep 1
done
[ -n "$page" ] || { echo "the service at $url did not answer" >&2; exit 1; }
printf '%s\n' "$page"

cat <<EOF_USAGE

The stack keeps running:
  export KUBECONFIG=$root/$kubeconfig
  bin/kubectl get lxcc,lxct,pkgb,pvec
  bin/kubectl describe lxcc web-1
  curl $url
Logs: $state/manager.log, $state/pvesim.log.  Stop everything with: make local-down
EOF_USAGE
