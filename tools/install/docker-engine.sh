#!/usr/bin/env bash
# The Docker engine (issue 19). When no daemon answers: Debian's docker.io (dockerd, containerd, runc; the
# package's own service start is held off by policy-rc.d, tools/docker-daemon.sh starts dockerd with the
# project's settings). Always: debootstrap (test-images/ builds its base root fs with it) and ihb-runc
# (tools/go/ihb-runc), the runtime dockerd runs containers with, which drops CAP_SYS_RESOURCE where the
# host's bounding set lacks it (privileged containers, needed by kind).
set -euo pipefail
. "$(dirname "$0")/../lib.sh"

apt_install() {
  [ "$(id -u)" = 0 ] || die "Debian packages: $* missing and installing needs root (apt-get install $*)"
  export DEBIAN_FRONTEND=noninteractive
  # No service may start from a package's postinst: policy-rc.d answers 101 ("action forbidden").
  local policy=/usr/sbin/policy-rc.d own_policy=""
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod 755 "$policy" && own_policy=1
  fi
  local status=0
  { apt-get update -qq >&2 && apt-get install -y -qq --no-install-recommends "$@" >&2; } || status=$?
  [ -z "$own_policy" ] || rm -f "$policy"
  [ "$status" = 0 ] || die "Debian packages: could not install $*"
}

missing=()
if ! docker_answers; then
  command -v dockerd >/dev/null || missing+=(docker.io)
  command -v docker >/dev/null || missing+=(docker.io)
fi
command -v debootstrap >/dev/null || [ -x /usr/sbin/debootstrap ] || missing+=(debootstrap)
if [ "${#missing[@]}" -gt 0 ]; then
  mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
  say "docker engine: installing ${missing[*]} from Debian packages"
  start=$(date +%s)
  apt_install "${missing[@]}"
  say "docker engine: installed ${missing[*]} in $(( $(date +%s) - start ))s"
else
  say "docker engine: $(docker_answers && echo 'a daemon answers' || echo "dockerd $(dockerd --version | sed 's/^Docker version //')"), debootstrap present"
fi

dir=$(ihb_runc_dir)
if installed "$dir"; then
  say "ihb-runc: cached"
else
  use_go
  say "ihb-runc: building (tools/go/ihb-runc)"
  stage=$(fresh_dir "$dir")
  (cd "$IHB_ROOT/tools/go/ihb-runc" && go build -ldflags='-s -w' -o "$stage/ihb-runc" .) || die "could not build ihb-runc"
  promote_dir "$dir"
fi
