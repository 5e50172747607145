#!/usr/bin/env bash
# The docker CLI plugins the project uses, built from their Go modules at the pins of tools/versions.env:
#   docker compose (COMPOSE_VERSION)  — Compose v2; Debian does not package it
#   docker buildx  (BUILDX_VERSION)   — BuildKit builds (`docker build`): the docker 23+ client has no other way
# `go install module@version` refuses both (their go.mod has exclude/replace directives), so each is built with
# `go mod download` of the module and `go build` inside a writable copy of it (its go.mod then applies):
# go_build_module_copy of tools/lib.sh.
# Binaries land in $IHB_TOOLS/docker-<plugin>-<version>/; ${DOCKER_CONFIG:-~/.docker}/cli-plugins/docker-<plugin>
# is made a symlink to them, unless a plugin that is not ours is already there (then it is left alone).
set -euo pipefail
. "$(dirname "$0")/../lib.sh"

# build_plugin NAME MODULE VERSION PACKAGE LDFLAGS
build_plugin() {
  local name=$1 module=$2 version=$3 package=$4 ldflags=$5
  [ -n "$version" ] || die "tools/versions.env: the version of docker-$name is empty"
  local dir="$IHB_TOOLS/docker-$name-$version"
  if installed "$dir"; then
    say "docker $name $version: cached"
  else
    use_go
    say "docker $name $version: building from $module@$version"
    local start stage
    start=$(date +%s)
    stage=$(fresh_dir "$dir")
    go_build_module_copy "$module" "$version" "$package" "$stage/docker-$name" "$ldflags"
    promote_dir "$dir"
    say "docker $name $version: built in $(( $(date +%s) - start ))s"
  fi
  local plugins="${DOCKER_CONFIG:-$HOME/.docker}/cli-plugins" link
  link="$plugins/docker-$name"
  mkdir -p "$plugins"
  if [ -e "$link" ] && ! { [ -L "$link" ] && [[ "$(readlink "$link")" == "$IHB_TOOLS"/docker-"$name"-* ]]; }; then
    say "WARNING: $link is not ours: left alone (docker $name: $(docker "$name" version 2>/dev/null | head -1))"
    return 0
  fi
  ln -sfn "$dir/docker-$name" "$link"
}

build_plugin compose github.com/docker/compose/v2 "$COMPOSE_VERSION" ./cmd \
  "-X github.com/docker/compose/v2/internal.Version=$COMPOSE_VERSION"
build_plugin buildx github.com/docker/buildx "$BUILDX_VERSION" ./cmd/buildx \
  "-X github.com/docker/buildx/version.Version=$BUILDX_VERSION -X github.com/docker/buildx/version.Package=github.com/docker/buildx"
