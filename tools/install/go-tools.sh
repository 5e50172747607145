#!/usr/bin/env bash
# Go-built tools (helm v4, helm v3 as helm3, ct, yq, minio, mc, pushgateway), compiled from the Go module proxy.
# Module and build caches live under $IHB_CACHE/go, so nothing is written into the work tree.
set -euo pipefail
. "$(dirname "$0")/../lib.sh"

use_go

built=()
cached=()

# go_tool NAME VERSION_KEY PACKAGE BINARY [LDFLAGS]
# Installs `go install PACKAGE@$VERSION` as $IHB_TOOLS/NAME-$VERSION/bin/BINARY unless already there.
# When tools/go/NAME/go.mod exists (a module whose `go install @version` cannot work here), PACKAGE is
# built from that wrapper module instead, which must require exactly $VERSION.
go_tool() {
  local name=$1 key=$2 package=$3 binary=$4 ldflags=${5:-}
  local version=${!key:-}
  [ -n "$version" ] || die "tools/versions.env: $key is empty"
  local dir="$IHB_TOOLS/$name-$version"
  if installed "$dir"; then
    say "$binary $version: cached"
    cached+=("$binary")
    return
  fi
  say "$binary $version: building $package@$version (Go module proxy)"
  local stage start
  stage=$(fresh_dir "$dir")
  start=$(date +%s)
  local wrapper="$IHB_ROOT/tools/go/$name"
  if [ -f "$wrapper/go.mod" ]; then
    local required
    required=$(cd "$wrapper" && go list -f '{{.Module.Version}}' "$package") \
      || die "Go module proxy: could not resolve the modules of $wrapper/go.mod"
    [ "$required" = "$version" ] \
      || die "$wrapper/go.mod requires $required but $key=$version: run 'go get -tool $package@$version' there"
    (cd "$wrapper" && GOBIN="$stage/bin" go install -ldflags "-s -w $ldflags" "$package") >&2 \
      || die "Go module proxy: could not build $package@$version (wrapper module tools/go/$name)"
  else
    GOBIN="$stage/bin" go install -ldflags "-s -w $ldflags" "$package@$version" >&2 \
      || die "Go module proxy: could not build $package@$version"
  fi
  local produced="${package##*/}"
  # `go install` names the binary after the last path element that is not a major-version suffix.
  [[ $produced =~ ^v[0-9]+$ ]] && produced=$(basename "${package%/*}")
  [ "$produced" = "$binary" ] || mv "$stage/bin/$produced" "$stage/bin/$binary"
  [ -x "$stage/bin/$binary" ] || die "$package@$version: build produced no $binary binary"
  if declare -F "after_$name" >/dev/null; then "after_$name" "$stage" "$package"; fi
  promote_dir "$dir"
  say "$binary $version: built in $(($(date +%s) - start))s"
  built+=("$binary")
}

# go_mod_require MODULE@VERSION DEPENDENCY: the version of DEPENDENCY that MODULE's go.mod requires.
go_mod_require() {
  local gomod
  gomod=$(go mod download -json "$1" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",\{0,1\}$/\1/p') \
    || die "Go module proxy: could not download $1"
  awk -v dep="$2" '$1 == dep { print $2; exit }' "$gomod"
}

# Helm 4 reads its default Kubernetes version from the build info; Helm 3 needs it as ldflags
# (as its Makefile does), otherwise `helm3 template` assumes Kubernetes v1.20.
helm3_ldflags() {
  local version=${1#v} client_go major minor
  client_go=$(go_mod_require "helm.sh/helm/v3@v$version" k8s.io/client-go)
  [ -n "$client_go" ] || die "helm.sh/helm/v3@v$version: go.mod does not require k8s.io/client-go"
  client_go=${client_go#v}
  major=$((${client_go%%.*} + 1))
  minor=$(cut -d. -f2 <<<"$client_go")
  printf '%s ' \
    "-X helm.sh/helm/v3/internal/version.version=v$version" \
    "-X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=$major" \
    "-X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=$minor" \
    "-X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=$major" \
    "-X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=$minor"
}

# MinIO pins are pseudo-versions v0.0.0-YYYYMMDDhhmmss-<commit>; report them like a release build.
minio_ldflags() {
  local pkg=$1 pseudo=$2 stamp commit iso
  stamp=$(cut -d- -f2 <<<"$pseudo")
  commit=$(cut -d- -f3 <<<"$pseudo")
  iso="${stamp:0:4}-${stamp:4:2}-${stamp:6:2}T${stamp:8:2}:${stamp:10:2}:${stamp:12:2}Z"
  printf '%s ' \
    "-X $pkg/cmd.Version=$iso" \
    "-X $pkg/cmd.ReleaseTag=DEVELOPMENT.${iso//:/-}" \
    "-X $pkg/cmd.CommitID=$commit" \
    "-X $pkg/cmd.ShortCommitID=$commit"
}

# ct looks for chart_schema.yaml and lintconf.yaml (yamale schema, yamllint rules) in fixed places:
# ship the ones of the pinned release in <ct dir>/etc, for `--chart-yaml-schema`/`--lint-conf` or CT_CONFIG_DIR.
after_ct() {
  local source
  source=$(cd "$IHB_ROOT/tools/go/ct" && go list -f '{{.Module.Dir}}' "$2") || die "ct: module source not found"
  mkdir -p "$1/etc"
  cp "$source/etc/chart_schema.yaml" "$source/etc/lintconf.yaml" "$1/etc/"
}

go_tool helm "HELM4_VERSION" helm.sh/helm/v4/cmd/helm helm \
  "-X helm.sh/helm/v4/internal/version.version=$HELM4_VERSION"
installed "$IHB_TOOLS/helm3-$HELM3_VERSION" || helm3_flags=$(helm3_ldflags "$HELM3_VERSION")
go_tool helm3 "HELM3_VERSION" helm.sh/helm/v3/cmd/helm helm3 "${helm3_flags:-}"
go_tool ct "CT_VERSION" github.com/helm/chart-testing/v3/ct ct \
  "-X github.com/helm/chart-testing/v3/ct/cmd.Version=$CT_VERSION"
go_tool yq "YQ_VERSION" github.com/mikefarah/yq/v4 yq
go_tool actionlint "ACTIONLINT_VERSION" github.com/rhysd/actionlint/cmd/actionlint actionlint
go_tool minio "MINIO_VERSION" github.com/minio/minio minio \
  "$(minio_ldflags github.com/minio/minio "$MINIO_VERSION")"
go_tool mc "MC_VERSION" github.com/minio/mc mc \
  "$(minio_ldflags github.com/minio/mc "$MC_VERSION")"
go_tool pushgateway "PUSHGATEWAY_VERSION" github.com/prometheus/pushgateway pushgateway \
  "-X github.com/prometheus/common/version.Version=${PUSHGATEWAY_VERSION#v}"

say "go tools: built [${built[*]:-}] cached [${cached[*]:-}]"
