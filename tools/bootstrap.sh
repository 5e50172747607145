#!/usr/bin/env bash
# Installs every pinned tool (tools/versions.env) that is missing into the cache outside the work tree
# ($IHB_CACHE, default ${XDG_CACHE_HOME:-~/.cache}/infrahub-backup) and says what it did.
# Idempotent: a second run only checks markers. Works on a fresh machine from the registries only.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
. "$here/lib.sh"
mkdir -p "$IHB_TOOLS"
start=$(date +%s)
steps=(node postgres neo4j go-tools python-tools freeze-helper kube promtool)
# The Docker engine and its CLI plugins (issue 19): installing the engine needs root; IHB_SKIP_DOCKER=1 leaves
# them out on a machine where someone else runs Docker, or none may (the image tests then skip, except in CI).
[ "${IHB_SKIP_DOCKER:-}" = 1 ] || steps+=(docker-engine docker-plugins)
for step in "${steps[@]}"; do
  script="$here/install/$step.sh"
  [ -x "$script" ] || continue
  "$script"
done
say "toolchain ready in $(( $(date +%s) - start ))s (cache: $IHB_CACHE)"
