#!/usr/bin/env bash
# A kind cluster on the node image built here (issue 27, step 1 prototype: not run by .ci/run or the bootstrap).
#   tools/kind-cluster.sh up NAME KUBECONFIG   build what is missing (tools/install/kind.sh), create the cluster,
#                                              wait until every pod is Ready; the kubeconfig goes to KUBECONFIG
#   tools/kind-cluster.sh down NAME            delete the cluster, and the docker network once nothing is on it
# The node container gets --cpu-shares 2 (cgroup v1 weight, like nice 19 for its processes): tests and builds on
# the host come first. Figures and the facts behind the node image: docs/kind-node-image.md.
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
      docker update --cpu-shares 2 "$name-control-plane" >/dev/null 2>&1 && exit 0
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

case ${1:-} in
  up) [ $# -eq 3 ] || die "usage: $0 up NAME KUBECONFIG"; up "$2" "$3" ;;
  down) [ $# -eq 2 ] || die "usage: $0 down NAME"; down "$2" ;;
  *) die "usage: $0 up NAME KUBECONFIG | down NAME" ;;
esac
