# Source this file to put the project's pinned toolchain first on PATH:  . tools/env.sh
# shellcheck shell=bash
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"

ihb_path=""
ihb_add() { [ -d "$1" ] && ihb_path="${ihb_path:+$ihb_path:}$1"; return 0; }
ihb_add "$IHB_TOOLS/node-$NODE_VERSION/bin"
ihb_add "$IHB_TOOLS/pnpm-$PNPM_VERSION/bin"
ihb_add "$IHB_TOOLS/helm-$HELM4_VERSION/bin"
ihb_add "$IHB_TOOLS/helm3-$HELM3_VERSION/bin"
ihb_add "$IHB_TOOLS/ct-$CT_VERSION/bin"
ihb_add "$IHB_TOOLS/yq-$YQ_VERSION/bin"
ihb_add "$IHB_TOOLS/minio-$MINIO_VERSION/bin"
ihb_add "$IHB_TOOLS/actionlint-$ACTIONLINT_VERSION/bin"
ihb_add "$IHB_TOOLS/hadolint-$HADOLINT_VERSION/bin"
ihb_add "$IHB_TOOLS/mc-$MC_VERSION/bin"
ihb_add "$IHB_TOOLS/pushgateway-$PUSHGATEWAY_VERSION/bin"
ihb_add "$IHB_TOOLS/pytools-$YAMLLINT_VERSION-$YAMALE_VERSION-$KUBERNETES_VALIDATE_VERSION/bin"
ihb_add "$IHB_TOOLS/neo4j-$NEO4J_VERSION/bin"
ihb_add "$IHB_TOOLS/kubectl-$KUBERNETES_VERSION/bin"
ihb_add "$IHB_TOOLS/promtool-$PROMETHEUS_VERSION/bin"
ihb_add "/usr/lib/postgresql/$POSTGRES_MAJOR/bin"
export PATH="$ihb_path:$PATH"
export IHB_CACHE IHB_TOOLS
# Turbo's task cache outside the work tree, so a fresh clone (every CI run) replays the build, typecheck and lint
# of packages whose inputs did not change instead of repeating them (~1 min of CPU). turbo.json names the root
# files every task depends on (globalDependencies); a failed task is never cached.
export TURBO_CACHE_DIR="${TURBO_CACHE_DIR:-$IHB_CACHE/turbo}"
# Where charts/tests find the Kubernetes JSON schemas shipped by the kubernetes-validate package.
export IHB_PYTOOLS="$IHB_TOOLS/pytools-$YAMLLINT_VERSION-$YAMALE_VERSION-$KUBERNETES_VALIDATE_VERSION"
# Where the testkit finds the Neo4j distribution (home with lib/ and conf/) built by the bootstrap.
export IHB_NEO4J_HOME="$IHB_TOOLS/neo4j-$NEO4J_VERSION"
unset ihb_path
