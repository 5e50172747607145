#!/usr/bin/env bash
# Local Kubernetes control plane for the issue 6 test bed, compiled from the Go module proxy:
# etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubectl and kwok (fake nodes and pods),
# plus kwok's CRDs.
# A step of tools/bootstrap.sh. Caches under $IHB_CACHE/go, as tools/install/go-tools.sh.
# Cold builds are slow (see tools/go/README.md for measured times); a re-run with the markers present is instant.
set -euo pipefail
. "$(dirname "$0")/../lib.sh"

use_go

built=()
cached=()

# wrapper_version NAME MODULE: the version of MODULE that the wrapper module tools/go/NAME resolves.
wrapper_version() {
  (cd "$IHB_ROOT/tools/go/$1" && go list -m -f '{{.Version}}' "$2") \
    || die "Go module proxy: could not resolve $2 in tools/go/$1/go.mod"
}

# kube_tool NAME[:WRAPPER] VERSION_KEY MODULE LDFLAGS PACKAGE=BINARY...
# Builds every PACKAGE into $IHB_TOOLS/NAME-$VERSION/bin/BINARY unless that directory is installed.
# With tools/go/WRAPPER/go.mod (WRAPPER defaults to NAME), the packages are built from that wrapper module
# (which must resolve MODULE at exactly $VERSION); without it, with `go install PACKAGE@$VERSION`.
kube_tool() {
  local name=${1%%:*} wrapper_name=${1#*:} key=$2 module=$3 ldflags=$4
  shift 4
  local version=${!key:-}
  [ -n "$version" ] || die "tools/versions.env: $key is empty"
  local dir="$IHB_TOOLS/$name-$version"
  if installed "$dir"; then
    say "$name $version: cached"
    cached+=("$name")
    return
  fi
  local wrapper="$IHB_ROOT/tools/go/$wrapper_name" stage spec package binary start produced
  if [ -f "$wrapper/go.mod" ]; then
    local required
    required=$(wrapper_version "$wrapper_name" "$module")
    [ "$required" = "$version" ] \
      || die "tools/go/$wrapper_name/go.mod resolves $module $required but $key=$version: update the wrapper module"
  fi
  stage=$(fresh_dir "$dir")
  for spec in "$@"; do
    package=${spec%%=*}
    binary=${spec#*=}
    say "$binary $version: building $package (Go module proxy)"
    start=$(date +%s)
    if [ -f "$wrapper/go.mod" ]; then
      (cd "$wrapper" && GOBIN="$stage/bin" go install -ldflags "-s -w $ldflags" "$package") >&2 \
        || die "Go module proxy: could not build $package@$version (wrapper module tools/go/$wrapper_name)"
    else
      GOBIN="$stage/bin" go install -ldflags "-s -w $ldflags" "$package@$version" >&2 \
        || die "Go module proxy: could not build $package@$version"
    fi
    produced="${package##*/}"
    [[ $produced =~ ^v[0-9]+$ ]] && produced=$(basename "${package%/*}")
    [ "$produced" = "$binary" ] || mv "$stage/bin/$produced" "$stage/bin/$binary"
    [ -x "$stage/bin/$binary" ] || die "$package@$version: build produced no $binary binary"
    say "$binary $version: built in $(($(date +%s) - start))s"
  done
  if declare -F "after_$name" >/dev/null; then "after_$name" "$stage" "$version"; fi
  promote_dir "$dir"
  built+=("$name")
}

# kwok has no built-in stages (it exits with "no stages found"): ship the defaults that kwokctl
# writes (node-initialize, node-heartbeat-with-lease, pod ready/complete/delete from kustomize/stage of
# the pinned release) as <kwok dir>/etc/stages.yaml, for `kwok --config <that file>`.
after_kwok() {
  local source stage
  source=$(go mod download -json "sigs.k8s.io/kwok@$2" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p') \
    || die "Go module proxy: could not download sigs.k8s.io/kwok@$2"
  [ -d "$source/kustomize/stage" ] || die "sigs.k8s.io/kwok@$2: no kustomize/stage in the module source"
  mkdir -p "$1/etc"
  for stage in node/fast/node-initialize node/heartbeat-with-lease/node-heartbeat-with-lease \
    pod/fast/pod-ready pod/fast/pod-complete pod/fast/pod-delete; do
    [ -f "$source/kustomize/stage/$stage.yaml" ] || die "sigs.k8s.io/kwok@$2: no kustomize/stage/$stage.yaml"
    printf -- '---\n'
    cat "$source/kustomize/stage/$stage.yaml"
  done > "$1/etc/stages.yaml"
}

kube_tool etcd ETCD_VERSION go.etcd.io/etcd/server/v3 \
  "-X go.etcd.io/etcd/api/v3/version.GitSHA=${ETCD_VERSION}" \
  go.etcd.io/etcd/server/v3=etcd
kube_tool kubernetes KUBERNETES_VERSION k8s.io/kubernetes "$(kube_ldflags "$KUBERNETES_VERSION")" \
  k8s.io/kubernetes/cmd/kube-apiserver=kube-apiserver \
  k8s.io/kubernetes/cmd/kube-controller-manager=kube-controller-manager \
  k8s.io/kubernetes/cmd/kube-scheduler=kube-scheduler
# kubectl in its own directory (so the control-plane directory above stays valid): same wrapper module.
kube_tool kubectl:kubernetes KUBERNETES_VERSION k8s.io/kubernetes "$(kube_ldflags "$KUBERNETES_VERSION")" \
  k8s.io/kubernetes/cmd/kubectl=kubectl
kube_tool kwok KWOK_VERSION sigs.k8s.io/kwok \
  "-X sigs.k8s.io/kwok/pkg/consts.Version=${KWOK_VERSION#v}" \
  sigs.k8s.io/kwok/cmd/kwok=kwok

# kwok's CRDs (kustomize/crd/bases of the pinned release) for `kwok --enable-crds=…`: the test bed applies
# them before kwok starts, to configure exec and logs per pod through the API (packages/testkit/src/kube).
kwok_crds() {
  local dir="$IHB_TOOLS/kwok-crds-$KWOK_VERSION" stage source
  if installed "$dir"; then
    say "kwok CRDs $KWOK_VERSION: cached"
    cached+=(kwok-crds)
    return
  fi
  source=$(go mod download -json "sigs.k8s.io/kwok@$KWOK_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p') \
    || die "Go module proxy: could not download sigs.k8s.io/kwok@$KWOK_VERSION"
  [ -d "$source/kustomize/crd/bases" ] || die "sigs.k8s.io/kwok@$KWOK_VERSION: no kustomize/crd/bases"
  stage=$(fresh_dir "$dir")
  cp "$source"/kustomize/crd/bases/*.yaml "$stage/"
  chmod 0644 "$stage"/*.yaml
  promote_dir "$dir"
  built+=(kwok-crds)
}
kwok_crds

say "kube tools: built [${built[*]:-}] cached [${cached[*]:-}]"
