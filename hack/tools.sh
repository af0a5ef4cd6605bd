#!/usr/bin/env bash
# Builds the project's tools from the Go module proxy into a per-version cache outside the repository
# and links them into bin/. A tool already in the cache is linked, never rebuilt, so a fresh clone on
# the same machine gets its tools in seconds.
#
#   hack/tools.sh kube-apiserver kubectl etcd controller-gen kustomize helm
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
bin="$root/bin"
cache="${LXCTM_TOOLS_CACHE:-$HOME/.cache/lxc-template-manager/tools}"

KUBE_VERSION=${KUBE_VERSION:-v1.37.2}
ETCD_VERSION=${ETCD_VERSION:-v3.6.16}
CONTROLLER_GEN_VERSION=${CONTROLLER_GEN_VERSION:-v0.23.0}
KUSTOMIZE_VERSION=${KUSTOMIZE_VERSION:-v5.8.2}
HELM_VERSION=${HELM_VERSION:-v3.22.0}

export GOTOOLCHAIN=local GOFLAGS=-buildvcs=false

log() { printf '[tools] %s\n' "$*" >&2; }

# link NAME DIR: point bin/NAME at the cached DIR/NAME.
link() {
  mkdir -p "$bin"
  ln -sfn "$2/$1" "$bin/$1"
}

# cached NAME VERSION BUILD-FUNCTION: run the build only when the cache lacks the binary.
cached() {
  local name=$1 version=$2 build=$3
  local dir="$cache/$name-$version"
  if [ ! -x "$dir/$name" ]; then
    mkdir -p "$cache"
    exec 9>"$cache/.$name-$version.lock"
    flock 9
    if [ ! -x "$dir/$name" ]; then
      log "building $name $version (cached in $dir)"
      local tmp
      tmp=$(mktemp -d "$cache/.build-$name.XXXXXX")
      local start=$SECONDS
      "$build" "$version" "$tmp"
      mkdir -p "$dir"
      mv "$tmp/$name" "$dir/$name"
      rm -rf "$tmp"
      log "built $name $version in $((SECONDS - start))s"
    fi
    exec 9>&-
  fi
  link "$name" "$dir"
}

# kube_wrapper DIR VERSION: a module that requires k8s.io/kubernetes and replaces every staging
# module with its published v0.X.Y, since k8s.io/kubernetes itself points them into its own tree.
kube_wrapper() {
  local dir=$1 version=$2 minor=${2#v1.}
  local staging=v0.$minor
  mkdir -p "$dir"
  (
    cd "$dir"
    [ -f go.mod ] && return 0
    go mod init lxctm.local/kubetools >/dev/null 2>&1
    go mod edit -require="k8s.io/kubernetes@$version"
    local gomod
    gomod=$(go mod download -json "k8s.io/kubernetes@$version" | sed -n 's/.*"GoMod": "\(.*\)",/\1/p')
    for m in $(sed -n 's#^\s*\(k8s.io/[a-z0-9-]*\) => ./staging.*#\1#p' "$gomod"); do
      go mod edit -replace="$m=$m@$staging"
    done
    cat >tools.go <<'GO'
//go:build tools

package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
GO
    go mod tidy >/dev/null
  )
}

kube_ldflags() {
  local version=$1 minor=${1#v1.}
  minor=${minor%%.*}
  echo "-s -w -X k8s.io/component-base/version.gitVersion=$version -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor -X k8s.io/component-base/version.gitTreeState=clean -X k8s.io/component-base/version.buildDate=1970-01-01T00:00:00Z"
}

build_kube() {
  local cmd=$1 version=$2 out=$3
  local wrapper="$cache/kube-wrapper-$version"
  kube_wrapper "$wrapper" "$version"
  (cd "$wrapper" && go build -trimpath -ldflags "$(kube_ldflags "$version")" -o "$out/$cmd" "k8s.io/kubernetes/cmd/$cmd")
}
build_kube_apiserver() { build_kube kube-apiserver "$1" "$2"; }
build_kubectl() { build_kube kubectl "$1" "$2"; }

build_etcd() {
  local version=$1 out=$2
  (
    cd "$out"
    go mod init lxctm.local/etcdtool >/dev/null 2>&1
    go mod edit -require="go.etcd.io/etcd/server/v3@$version"
    printf '//go:build tools\n\npackage tools\n\nimport _ "go.etcd.io/etcd/server/v3"\n' >tools.go
    go mod tidy >/dev/null
    go build -trimpath -ldflags "-s -w" -o "$out/etcd" go.etcd.io/etcd/server/v3
  )
}

go_install() {
  local pkg=$1 out=$2
  GOBIN="$out" go install -trimpath -ldflags "-s -w" "$pkg"
}
build_controller_gen() { go_install "sigs.k8s.io/controller-tools/cmd/controller-gen@$1" "$2"; }
build_kustomize() { go_install "sigs.k8s.io/kustomize/kustomize/v5@$1" "$2"; }
build_helm() { go_install "helm.sh/helm/v3/cmd/helm@$1" "$2"; }

for tool in "$@"; do
  case "$tool" in
    kube-apiserver) cached kube-apiserver "$KUBE_VERSION" build_kube_apiserver ;;
    kubectl) cached kubectl "$KUBE_VERSION" build_kubectl ;;
    etcd) cached etcd "$ETCD_VERSION" build_etcd ;;
    controller-gen) cached controller-gen "$CONTROLLER_GEN_VERSION" build_controller_gen ;;
    kustomize) cached kustomize "$KUSTOMIZE_VERSION" build_kustomize ;;
    helm) cached helm "$HELM_VERSION" build_helm ;;
    *) echo "hack/tools.sh: unknown tool $tool" >&2; exit 2 ;;
  esac
done
