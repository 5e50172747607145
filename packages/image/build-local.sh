#!/usr/bin/env bash
# Builds the product image from packages/image/Dockerfile with the Docker engine of this machine, on the
# locally built bases (test-images/: no image registry is reachable here), and prints its reference.
#   packages/image/build-local.sh [REF]        REF default: ihb-local/infrahub-backup:dev
# The npm registry is reached from inside the build: the machine's CA bundle (SSL_CERT_FILE, else Debian's)
# is passed as the optional build secret `ca-certificates`, for TLS-inspecting proxies. The build log goes
# to $IHB_CACHE/docker/build-infrahub-backup.log; BuildKit's layer and pnpm-store caches live in the
# daemon's data root, so a re-run after a source change redoes only the install, the bundle and the copies.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
. "$root/tools/lib.sh"

ref=${1:-ihb-local/infrahub-backup:dev}
declare -A base
while IFS='=' read -r name image; do base[$name]=$image; done < <("$root/test-images/build.sh" node golang)
[ -n "${base[node]:-}" ] && [ -n "${base[golang]:-}" ] || die "test-images/build.sh did not name the node and golang images"

args=(
  --build-arg "NODE_IMAGE=${base[node]}"
  --build-arg "GO_IMAGE=${base[golang]}"
  --build-arg "VERSION=$(sed -n 's/^  "version": "\(.*\)",$/\1/p' "$root/packages/cli/package.json")"
  --build-arg "REVISION=$(git -C "$root" rev-parse HEAD 2>/dev/null || echo unknown)"
)
ca=${SSL_CERT_FILE:-/etc/ssl/certs/ca-certificates.crt}
[ -s "$ca" ] && args+=(--secret "id=ca-certificates,src=$ca")

log="$IHB_DOCKER_DIR/build-infrahub-backup.log"
mkdir -p "$IHB_DOCKER_DIR"
start=$(date +%s)
say "image $ref: building from packages/image/Dockerfile (log: $log)"
if ! docker build --pull=false --progress=plain -f "$root/packages/image/Dockerfile" "${args[@]}" -t "$ref" "$root" >"$log" 2>&1; then
  tail -40 "$log" >&2
  die "image $ref: build failed (log: $log)"
fi
say "image $ref: built in $(( $(date +%s) - start ))s, $(docker image inspect --format '{{.Size}}' "$ref" | awk '{printf "%.1f MiB", $1 / 1048576}')"
printf '%s\n' "$ref"
