#!/usr/bin/env bash
# Starts etcd and kube-apiserver on loopback, as the tests' envtest does, and writes an admin
# kubeconfig to .local/kubeconfig. hack/local-down.sh stops exactly what this started.
#
# Ports: LOCAL_APISERVER_PORT (default 6443) and LOCAL_ETCD_PORT (default 2379); state in
# LOCAL_STATE_DIR (default .local/); LOCAL_APISERVER_ARGS adds kube-apiserver flags (such as
# --event-ttl=1m).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
bin="$root/bin"
state="${LOCAL_STATE_DIR:-$root/.local}"
apiserver_port=${LOCAL_APISERVER_PORT:-6443}
etcd_port=${LOCAL_ETCD_PORT:-2379}
kubeconfig="$state/kubeconfig"

log() { printf '[local-up] %s\n' "$*" >&2; }

running() { [ -f "$state/$1.pid" ] && kill -0 "$(cat "$state/$1.pid")" 2>/dev/null; }

ready() { "$bin/kubectl" --kubeconfig "$kubeconfig" get --raw /readyz >/dev/null 2>&1; }

for tool in etcd kube-apiserver kubectl; do
  [ -x "$bin/$tool" ] || { echo "bin/$tool is missing: run 'make envtest-tools'" >&2; exit 1; }
done
mkdir -p "$state/etcd" "$state/pki"

if running kube-apiserver && ready; then
  log "already running; kubeconfig: $kubeconfig"
  exit 0
fi

# Certificates: a CA, the serving certificate for 127.0.0.1, and an admin client certificate.
pki="$state/pki"
if [ ! -f "$pki/admin.crt" ]; then
  (
    cd "$pki"
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=lxctm-local-ca" \
      -keyout ca.key -out ca.crt 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -subj "/CN=kube-apiserver" -keyout apiserver.key -out apiserver.csr 2>/dev/null
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' >apiserver.ext
    openssl x509 -req -in apiserver.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 3650 \
      -extfile apiserver.ext -out apiserver.crt 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -subj "/O=system:masters/CN=admin" -keyout admin.key -out admin.csr 2>/dev/null
    printf 'extendedKeyUsage=clientAuth\n' >admin.ext
    openssl x509 -req -in admin.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 3650 \
      -extfile admin.ext -out admin.crt 2>/dev/null
    openssl genrsa -out sa.key 2048 2>/dev/null
    openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
    rm -f ./*.csr ./*.ext
  )
fi

if ! running etcd; then
  log "starting etcd on 127.0.0.1:$etcd_port"
  "$bin/etcd" --data-dir "$state/etcd" --name local \
    --listen-client-urls "http://127.0.0.1:$etcd_port" --advertise-client-urls "http://127.0.0.1:$etcd_port" \
    --listen-peer-urls "http://127.0.0.1:${LOCAL_ETCD_PEER_PORT:-$((etcd_port + 1))}" \
    --initial-advertise-peer-urls "http://127.0.0.1:${LOCAL_ETCD_PEER_PORT:-$((etcd_port + 1))}" \
    --initial-cluster "local=http://127.0.0.1:${LOCAL_ETCD_PEER_PORT:-$((etcd_port + 1))}" --unsafe-no-fsync \
    >"$state/etcd.log" 2>&1 &
  echo $! >"$state/etcd.pid"
fi

if ! running kube-apiserver; then
  log "starting kube-apiserver on 127.0.0.1:$apiserver_port"
  "$bin/kube-apiserver" \
    --etcd-servers "http://127.0.0.1:$etcd_port" \
    --bind-address 127.0.0.1 --advertise-address 127.0.0.1 --secure-port "$apiserver_port" \
    --cert-dir "$pki" --tls-cert-file "$pki/apiserver.crt" --tls-private-key-file "$pki/apiserver.key" \
    --client-ca-file "$pki/ca.crt" \
    --service-account-issuer https://kubernetes.default.svc --service-account-key-file "$pki/sa.pub" \
    --service-account-signing-key-file "$pki/sa.key" \
    --authorization-mode RBAC --service-cluster-ip-range 10.0.0.0/24 --allow-privileged \
    --disable-admission-plugins ServiceAccount --endpoint-reconciler-type none \
    ${LOCAL_APISERVER_ARGS:-} \
    >"$state/kube-apiserver.log" 2>&1 &
  echo $! >"$state/kube-apiserver.pid"
fi

cat >"$kubeconfig" <<KUBECONFIG
apiVersion: v1
kind: Config
clusters:
- name: local
  cluster:
    server: https://127.0.0.1:$apiserver_port
    certificate-authority: $pki/ca.crt
users:
- name: admin
  user:
    client-certificate: $pki/admin.crt
    client-key: $pki/admin.key
contexts:
- name: local
  context: {cluster: local, user: admin}
current-context: local
KUBECONFIG

for _ in $(seq 1 120); do
  if ready; then
    log "ready; export KUBECONFIG=$kubeconfig"
    exit 0
  fi
  running kube-apiserver || { tail -n 30 "$state/kube-apiserver.log" >&2; exit 1; }
  sleep 0.5
done
echo "kube-apiserver did not become ready; see $state/kube-apiserver.log" >&2
exit 1
