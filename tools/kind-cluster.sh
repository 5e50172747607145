#!/usr/bin/env bash
# A kind cluster on the node image built here (issue 27; the e2e/kind tests start theirs with it).
#   tools/kind-cluster.sh up NAME KUBECONFIG   build what is missing (tools/install/kind.sh), create the cluster,
#                                              wait until every pod is Ready; the kubeconfig goes to KUBECONFIG
#   tools/kind-cluster.sh load NAME IMAGE...   copy local images into the node's containerd (one archive)
#   tools/kind-cluster.sh down NAME            delete the cluster, and the docker network once nothing is on it
#   tools/kind-cluster.sh prune PREFIX         delete every cluster whose name starts with PREFIX; print their names
# The node container gets --cpu-shares $IHB_KIND_CPU_SHARES (cgroup v1 weight; default 2, like nice 19 for its
# processes: tests and builds on the host come first; a test that waits on the node's pods gives it a normal
# weight instead). Figures and the facts behind the node image: docs/kind-node-image.md.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

NETWORK=ihb-kind-net
export KIND_EXPERIMENTAL_DOCKER_NETWORK=$NETWORK
KIND="$IHB_TOOLS/kind-$KIND_VERSION/bin/kind"
KUBECTL="$IHB_TOOLS/kubectl-$KUBERNETES_VERSION/bin/kubectl"

up() {
  local name=$1 kubeconfig=$2 refs node_image waiter start
  refs=$(bash "$IHB_ROOT/tools/install/kind.sh")
  node_image=$(sed -n 's/^NODE_IMAGE=//p' <<<"$refs")
  [ -n "$node_image" ] || die "tools/install/kind.sh printed no NODE_IMAGE"
  start=$(date +%s)
  # Lower the node's CPU weight as soon as its container exists (kind creates it, then bootstraps it for ~30 s).
  ( for _ in $(seq 1 600); do
      docker update --cpu-shares "${IHB_KIND_CPU_SHARES:-2}" "$name-control-plane" >/dev/null 2>&1 && exit 0
      sleep 0.2
    done ) &
  waiter=$!
  nice -n 19 "$KIND" create cluster --name "$name" --image "$node_image" \
    --config "$IHB_ROOT/test-images/kind-base/kind-config.yaml" --kubeconfig "$kubeconfig" --wait 5m >&2 \
    || { kill "$waiter" 2>/dev/null || true; die "kind create cluster $name failed (output above)"; }
  wait "$waiter" || true
  "$KUBECTL" --kubeconfig "$kubeconfig" wait --for=condition=Ready pod --all --all-namespaces --timeout=180s >/dev/null \
    || die "kind cluster $name: pods not Ready after 180 s"
  say "kind cluster $name: every pod Ready $(($(date +%s) - start)) s after create (kubeconfig $kubeconfig)"
}

down() {
  local name=$1
  "$KIND" delete cluster --name "$name" >&2
  if [ -z "$(docker network inspect "$NETWORK" --format '{{range .Containers}}x{{end}}' 2>/dev/null)" ]; then
    docker network rm "$NETWORK" >/dev/null 2>&1 || true
  fi
}

load() {
  local name=$1; shift
  "$KIND" load docker-image --name "$name" "$@" >&2
}

prune() {
  local prefix=$1 name
  [ -x "$KIND" ] || return 0
  for name in $("$KIND" get clusters 2>/dev/null); do
    [[ "$name" == "$prefix"* ]] || continue
    printf '%s\n' "$name"
    down "$name" >/dev/null 2>&1 || say "kind cluster $name: delete failed"
  done
}

case ${1:-} in
  prune) [ $# -eq 2 ] || die "usage: $0 prune PREFIX"; prune "$2" ;;
  load) [ $# -ge 3 ] || die "usage: $0 load NAME IMAGE..."; shift; load "$@" ;;
  up) [ $# -eq 3 ] || die "usage: $0 up NAME KUBECONFIG"; up "$2" "$3" ;;
  down) [ $# -eq 2 ] || die "usage: $0 down NAME"; down "$2" ;;
  *) die "usage: $0 up NAME KUBECONFIG | load NAME IMAGE... | down NAME | prune PREFIX" ;;
esac
