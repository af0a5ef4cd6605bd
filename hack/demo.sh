#!/usr/bin/env bash
# The main job on the local stack: a control plane (etcd + kube-apiserver), pvesim with real LXC
# containers, the hello-web apt repository on the simulator's bridge, bin/manager and bin/console
# (with a token for a demo user in .local/console-token); then the samples, followed until the
# container is Ready and its web service answers.
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
console_addr=127.0.0.1:8090
# The samples' namespace, the demo user's only one.
demo_namespace=default
demo_user=console-demo

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

say "bin/console on http://$console_addr"
# The console holds no permission: it reads only the API server's address and CA from the
# kubeconfig and acts with each signed-in user's token. The cookie key is kept, so that sessions
# survive a re-run.
if [ ! -s "$state/console-cookie-key" ]; then
  (umask 077; head -c 32 /dev/urandom >"$state/console-cookie-key")
fi
if ! running console; then
  "$bin/console" --listen "$console_addr" --kubeconfig "$kubeconfig" --cookie-key-file "$state/console-cookie-key" \
    >"$state/console.log" 2>&1 &
  echo $! >"$state/console.pid"
fi
for _ in $(seq 1 100); do
  curl -fsS --max-time 2 "http://$console_addr/healthz" >/dev/null 2>&1 && break
  running console || { tail -n 20 "$state/console.log" >&2; exit 1; }
  sleep 0.2
done
curl -fsS --max-time 2 "http://$console_addr/healthz" >/dev/null || { echo "bin/console does not answer on $console_addr; see $state/console.log" >&2; exit 1; }

# The demo user: a ServiceAccount holding the editor roles in the demo namespace only — the
# built-in edit role and this API's editor rules (in a cluster the chart aggregates those into
# edit). The local stack runs no kube-controller-manager, whose aggregation controller fills the
# built-in edit role, so the roles it aggregates are bound too.
kubectl -n "$demo_namespace" create serviceaccount "$demo_user" --dry-run=client -o yaml | kubectl apply -f - >/dev/null
for f in config/rbac/*_editor_role.yaml; do
  case $f in *proxmoxcluster*) continue ;; esac # cluster admins' only, as in the chart
  kubectl apply -f "$f" >/dev/null
done
for role in edit system:aggregate-to-edit system:aggregate-to-view $(sed -n 's/^  name: \(.*-editor-role\)$/\1/p' config/rbac/*_editor_role.yaml | grep -v proxmoxcluster); do
  kubectl -n "$demo_namespace" create rolebinding "$demo_user-${role//:/-}" --clusterrole="$role" \
    --serviceaccount="$demo_namespace:$demo_user" --dry-run=client -o yaml | kubectl apply -f - >/dev/null
done
(umask 077; kubectl -n "$demo_namespace" create token "$demo_user" --duration=24h >"$state/console-token.new")
mv "$state/console-token.new" "$state/console-token"
chmod 600 "$state/console-token"
echo "Console: http://$console_addr/"
echo "  sign in as $demo_namespace/$demo_user (an editor of namespace $demo_namespace) with the token in $state/console-token"

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
The console (address above) follows web-1 too; sign in with the token in $state/console-token.
Logs: $state/manager.log, $state/pvesim.log, $state/console.log.  Stop everything with: make local-down
EOF_USAGE
