#!/usr/bin/env bash
# Builds the tool binaries local fleets run (kube-apiserver for two Kubernetes
# minors, kube-controller-manager for the older one, etcd, kwok) and the build's
# own tools (controller-gen, golangci-lint) into
# ${FLOTILLA_CACHE:-$HOME/.cache/flotilla}/bin, keyed by version. Idempotent:
# a binary already there is not rebuilt.
#   hack/tools.sh            build everything missing
#   hack/tools.sh controller-gen|golangci-lint   build that one tool
#   hack/tools.sh --print    print the paths, build nothing
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=hack/versions.env
source "$root/hack/versions.env"
cache=${FLOTILLA_CACHE:-$HOME/.cache/flotilla}
bin=$cache/bin
mkdir -p "$bin"

if [ "${1:-}" = "--print" ]; then
  for v in $KUBE_VERSIONS; do echo "$bin/kube-apiserver-$v"; done
  echo "$bin/kube-controller-manager-${KUBE_VERSIONS%% *}"
  echo "$bin/etcd-$ETCD_VERSION"
  echo "$bin/kwok-$KWOK_VERSION"
  echo "$bin/controller-gen-$CONTROLLER_GEN_VERSION"
  echo "$bin/kubectl-$KUBECTL_VERSION"
  echo "$bin/gojq-$GOJQ_VERSION"
  echo "$bin/golangci-lint-$GOLANGCI_LINT_VERSION"
  echo "$bin/helm-$HELM_VERSION"
  echo "$cache/path"
  exit 0
fi

log() { printf '==> %s\n' "$*" >&2; }

# install_atomically SRC DST: a half-written binary must never look built.
install_atomically() { chmod +x "$1" && mv -f "$1" "$2"; }

build_kube_apiserver() {
  local v=$1 out=$bin/kube-apiserver-$1
  [ -x "$out" ] && return 0
  local minor=${v#v1.}; minor=${minor%%.*}
  local mod=$root/hack/kube-apiserver/$v
  [ -f "$mod/go.mod" ] || { echo "no wrapper module for $v: run hack/kube-apiserver/generate-module.sh $v" >&2; exit 1; }
  log "building kube-apiserver $v (about 7 minutes cold on 2 cores)"
  local start=$SECONDS
  (cd "$mod" && go build -trimpath -o "$out.tmp" -ldflags "-s -w \
    -X k8s.io/component-base/version.gitVersion=$v \
    -X k8s.io/component-base/version.gitMajor=1 \
    -X k8s.io/component-base/version.gitMinor=$minor \
    -X k8s.io/component-base/version.gitTreeState=clean" .)
  install_atomically "$out.tmp" "$out"
  log "kube-apiserver $v built in $((SECONDS - start))s"
}

# build_kube_controller_manager VERSION: from the same wrapper module as
# kube-apiserver VERSION. Local clusters run only its namespace controller;
# the oldest version serves every cluster (a controller manager may be older
# than its API server, never newer).
build_kube_controller_manager() {
  local v=$1 out=$bin/kube-controller-manager-$1
  [ -x "$out" ] && return 0
  local minor=${v#v1.}; minor=${minor%%.*}
  local mod=$root/hack/kube-apiserver/$v
  log "building kube-controller-manager $v (a few minutes cold on 2 cores)"
  local start=$SECONDS
  (cd "$mod" && go build -trimpath -o "$out.tmp" -ldflags "-s -w \
    -X k8s.io/component-base/version.gitVersion=$v \
    -X k8s.io/component-base/version.gitMajor=1 \
    -X k8s.io/component-base/version.gitMinor=$minor \
    -X k8s.io/component-base/version.gitTreeState=clean" ./kube-controller-manager)
  install_atomically "$out.tmp" "$out"
  log "kube-controller-manager $v built in $((SECONDS - start))s"
}

build_etcd() {
  local out=$bin/etcd-$ETCD_VERSION
  [ -x "$out" ] && return 0
  log "building etcd $ETCD_VERSION"
  (cd "$root/hack/etcd" && go build -trimpath -ldflags "-s -w" -o "$out.tmp" .)
  install_atomically "$out.tmp" "$out"
}

# go_install NAME PACKAGE VERSION: `go install` into a private GOBIN, then into the cache.
go_install() {
  local out=$bin/$1-$3
  [ -x "$out" ] && return 0
  log "building $1 $3"
  local gobin
  gobin=$(mktemp -d)
  GOBIN=$gobin go install -trimpath -ldflags "-s -w" "$2@$3"
  install_atomically "$gobin/$1" "$out"
  rm -rf "$gobin"
}

build_kubectl() {
  local out=$bin/kubectl-$KUBECTL_VERSION
  [ -x "$out" ] && return 0
  log "building kubectl $KUBECTL_VERSION"
  local minor=${KUBECTL_VERSION#v1.}; minor=${minor%%.*}
  (cd "$root/hack/kubectl" && go build -trimpath -o "$out.tmp" -ldflags "-s -w \
    -X k8s.io/component-base/version.gitVersion=$KUBECTL_VERSION \
    -X k8s.io/component-base/version.gitMajor=1 \
    -X k8s.io/component-base/version.gitMinor=$minor" .)
  install_atomically "$out.tmp" "$out"
}

# build_helm: helm's version is stamped the way its own Makefile does it.
build_helm() {
  local out=$bin/helm-$HELM_VERSION
  [ -x "$out" ] && return 0
  log "building helm $HELM_VERSION (a few minutes cold on 2 cores)"
  local gobin
  gobin=$(mktemp -d)
  GOBIN=$gobin CGO_ENABLED=0 go install -trimpath -ldflags "-s -w \
    -X helm.sh/helm/v4/internal/version.version=$HELM_VERSION \
    -X helm.sh/helm/v4/internal/version.gitTreeState=clean" "helm.sh/helm/v4/cmd/helm@$HELM_VERSION"
  install_atomically "$gobin/helm" "$out"
  rm -rf "$gobin"
}

# link_path makes $cache/path hold kubectl and jq under their plain names, for
# the PATH of health-check scripts.
link_path() {
  mkdir -p "$cache/path"
  ln -sfn "$bin/kubectl-$KUBECTL_VERSION" "$cache/path/kubectl"
  ln -sfn "$bin/gojq-$GOJQ_VERSION" "$cache/path/jq"
}

build_golangci_lint() {
  go_install golangci-lint github.com/golangci/golangci-lint/v2/cmd/golangci-lint "$GOLANGCI_LINT_VERSION"
}

case "${1:-all}" in
  helm) build_helm ;;
  controller-gen) go_install controller-gen sigs.k8s.io/controller-tools/cmd/controller-gen "$CONTROLLER_GEN_VERSION" ;;
  golangci-lint) build_golangci_lint ;;
  all)
    build_etcd
    go_install kwok sigs.k8s.io/kwok/cmd/kwok "$KWOK_VERSION"
    go_install controller-gen sigs.k8s.io/controller-tools/cmd/controller-gen "$CONTROLLER_GEN_VERSION"
    for v in $KUBE_VERSIONS; do build_kube_apiserver "$v"; done
    oldest=${KUBE_VERSIONS%% *}
    build_kube_controller_manager "$oldest"
    build_kubectl
    go_install gojq github.com/itchyny/gojq/cmd/gojq "$GOJQ_VERSION"
    build_golangci_lint
    build_helm
    link_path ;;
  *) echo "usage: hack/tools.sh [all|controller-gen|golangci-lint|helm|--print]" >&2; exit 2 ;;
esac
