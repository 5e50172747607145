#!/usr/bin/env bash
# Builds the project's own Neo4j freeze helper (packages/image/neo4j-freeze) as static binaries for
# linux/amd64 and linux/arm64, cached by a hash of its source so a change rebuilds it.
set -euo pipefail
. "$(dirname "$0")/../lib.sh"

src="$IHB_ROOT/packages/image/neo4j-freeze"
hash=$(cat "$src/go.mod" "$src"/*.go | sha256sum | cut -c1-16)
dir="$IHB_TOOLS/neo4j-freeze-$hash"
if installed "$dir"; then
  say "neo4j-freeze $hash: cached"
  exit 0
fi
use_go
say "neo4j-freeze $hash: building (linux/amd64, linux/arm64)"
stage=$(fresh_dir "$dir")
for arch in amd64 arm64; do
  (cd "$src" && GOOS=linux GOARCH=$arch go build -ldflags='-s -w' -o "$stage/neo4j-freeze-linux-$arch" .) \
    || die "could not build neo4j-freeze for linux/$arch"
done
promote_dir "$dir"
