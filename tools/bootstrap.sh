#!/usr/bin/env bash
# Installs every pinned tool (tools/versions.env) that is missing into the cache outside the work tree
# ($IHB_CACHE, default ${XDG_CACHE_HOME:-~/.cache}/infrahub-backup) and says what it did.
# Idempotent: a second run only checks markers. Works on a fresh machine from the registries only.
#   tools/bootstrap.sh [--with-kind]   --with-kind: also kind's binaries (tools/install/kind.sh --binaries), for
#                                      the e2e-kind tier; tools/run-tests.sh asks for them
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
. "$here/lib.sh"
mkdir -p "$IHB_TOOLS"
start=$(date +%s)
# Two lanes run side by side. On a cold machine the toolchain is ~25 min of Go builds from source, which keep
# both cores busy only ~90 % of the time (module downloads, single-threaded links); the other lane fills those
# gaps. Lane 1 starts with the steps that mostly download (npm, Maven, PyPI, Debian packages: the apt steps
# stay in one lane, dpkg takes one lock), then the Go tools. Lane 2 holds the steps that build Kubernetes
# packages (kube, kind's node binaries), in order: run side by side, they would compile the same packages (the
# build cache deduplicates only what is already in it); helm, kwok and the rest pin other k8s.io versions.
# Measured cold with go-tools in lane 2 as well: 1663 s vs 1724 s one step after the other (that lane carried
# every large build and ran alone for its last 10 min); this split gives each lane about half (not measured yet).
lane1=(node postgres neo4j python-tools freeze-helper go-tools promtool)
lane2=(kube)
# The Docker engine and its CLI plugins (issue 19): installing the engine needs root; IHB_SKIP_DOCKER=1 leaves
# them out on a machine where someone else runs Docker, or none may (the image tests then skip, except in CI).
if [ "${IHB_SKIP_DOCKER:-}" != 1 ]; then
  lane1+=(docker-engine docker-plugins)
  [ "${1:-}" != --with-kind ] || lane2+=(kind-binaries)
fi

run_lane() {
  local step script
  for step in "$@"; do
    if [ "$step" = kind-binaries ]; then
      "$here/install/kind.sh" --binaries
      continue
    fi
    script="$here/install/$step.sh"
    [ -x "$script" ] || continue
    "$script"
  done
}

run_lane "${lane1[@]}" &
lane1_pid=$!
run_lane "${lane2[@]}" &
lane2_pid=$!
# Both lanes always run to their end (a failed step's message is already printed): a step killed halfway would
# leave only a *.partial directory, but its log would not say why it stopped.
status=0
wait "$lane1_pid" || status=$?
wait "$lane2_pid" || status=$?
[ "$status" = 0 ] || die "toolchain: a step failed (its error is above)"
say "toolchain ready in $(( $(date +%s) - start ))s (cache: $IHB_CACHE)"
