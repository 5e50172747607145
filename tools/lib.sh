# Shared helpers for the toolchain scripts. Sourced, never run.
# shellcheck shell=bash

IHB_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=versions.env
. "$IHB_ROOT/tools/versions.env"

# Everything the bootstrap installs lives here, outside the work tree, so a re-run is fast.
IHB_CACHE="${IHB_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/infrahub-backup}"
IHB_TOOLS="$IHB_CACHE/tools"

say() { printf '[bootstrap] %s\n' "$*" >&2; }
die() { printf '[bootstrap] ERROR: %s\n' "$*" >&2; exit 1; }

# installed DIR: true when DIR was completely installed earlier (marker written last).
installed() { [ -f "$1/.installed" ]; }
mark_installed() { date -u +%FT%TZ > "$1/.installed"; }

# fresh_dir DIR: an empty staging directory next to DIR; promote_dir moves it into place atomically,
# so an interrupted install never leaves a half-populated tool directory that looks complete.
fresh_dir() { rm -rf "$1.partial"; mkdir -p "$1.partial"; printf '%s' "$1.partial"; }
promote_dir() { mark_installed "$1.partial"; rm -rf "$1"; mv "$1.partial" "$1"; }

# use_go: the Go toolchain for building project tools — module and build caches under $IHB_CACHE/go
# (outside the work tree), static, reproducible, and never a silently downloaded other toolchain.
use_go() {
  command -v go >/dev/null 2>&1 || PATH="/usr/local/go/bin:$PATH"
  command -v go >/dev/null 2>&1 || die "go not found (expected on PATH or in /usr/local/go/bin)"
  export GOMODCACHE="$IHB_CACHE/go/mod"
  export GOCACHE="$IHB_CACHE/go/build"
  export CGO_ENABLED=0
  export GOTOOLCHAIN=local
  export GOFLAGS="-trimpath -buildvcs=false"
}

# go_build_module_copy MODULE VERSION PACKAGE OUTPUT LDFLAGS: builds PACKAGE of MODULE@VERSION into OUTPUT from a
# writable copy of the downloaded module, so that module's go.mod applies (its replace/exclude directives make
# `go install module@version` refuse it). GOWORK=off: a module zip may carry a go.work naming nested modules that
# the zip leaves out (github.com/prometheus/prometheus does). Needs use_go first.
go_build_module_copy() {
  local module=$1 version=$2 package=$3 output=$4 ldflags=$5 src copy
  src=$(go mod download -json "$module@$version" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  [ -n "$src" ] && [ -d "$src" ] || die "Go module proxy: could not download $module@$version"
  copy=$(mktemp -d "${output%/*}/.src.XXXXXX")
  cp -r "$src/." "$copy" && chmod -R u+w "$copy"
  (cd "$copy" && GOWORK=off go build -ldflags="-s -w $ldflags" -o "$output" "$package") >&2 \
    || { rm -rf "$copy"; die "could not build $package of $module@$version"; }
  rm -rf "$copy"
}

# --- Containers (issue 19) ---
# The Docker engine the project starts when none answers (tools/docker-daemon.sh) keeps its images, pid file
# and log in the cache, so images built by one run are there for the next.
IHB_DOCKER_DIR="$IHB_CACHE/docker"

# docker_answers: true when a Docker daemon answers the docker client (DOCKER_HOST or the default socket).
docker_answers() { docker version --format '{{.Server.Version}}' >/dev/null 2>&1; }

# ihb_runc_dir: where tools/install/docker-engine.sh builds the runc wrapper (tools/go/ihb-runc), by source hash.
ihb_runc_dir() {
  local src="$IHB_ROOT/tools/go/ihb-runc"
  printf '%s/ihb-runc-%s' "$IHB_TOOLS" "$(cat "$src/go.mod" "$src"/*.go | sha256sum | cut -c1-16)"
}

# kube_ldflags VERSION: the version a Kubernetes binary reports (/version, --version), stamped as the
# Kubernetes release build does (tools/install/kube.sh, tools/install/kind.sh).
kube_ldflags() {
  local v=$1 minor pkg
  minor=$(cut -d. -f2 <<<"$v")
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    printf '%s ' "-X $pkg.gitVersion=$v" "-X $pkg.gitMajor=1" "-X $pkg.gitMinor=$minor" \
      "-X $pkg.gitTreeState=clean" "-X $pkg.buildDate=1970-01-01T00:00:00Z"
  done
}
