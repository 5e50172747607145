# Helpers of .github/workflows/e2e-kind.yml, sourced by its steps (bash). Names follow the upstream
# infrahub chart with release `infrahub` in namespace `infrahub` (docs/compat-reference §6.3).
# shellcheck shell=bash
set -euo pipefail

NS=infrahub
NEO4J_POD=infrahub-database-0
PG_POD=infrahub-postgresql-0
BUCKET=backups

log() { printf '\n=== %s\n' "$*"; }
fail() { printf '::error::%s\n' "$*"; exit 1; }

# cypher QUERY: runs a query in the Neo4j pod (chart default credentials neo4j/admin), plain output.
cypher() {
  kubectl exec -n "$NS" "$NEO4J_POD" -c neo4j -- \
    cypher-shell -u neo4j -p admin --format plain "$1"
}

# sql SQL: runs SQL as Prefect's user in its database (chart defaults: prefect / prefect-rocks / server).
sql() {
  kubectl exec -n "$NS" "$PG_POD" -c postgresql -- \
    env PGPASSWORD=prefect-rocks psql -h localhost -U prefect -d server -v ON_ERROR_STOP=1 -At -c "$1"
}

# mc ARGS...: the MinIO client shipped in the MinIO image, with alias `e2e` for the local server.
mc() {
  kubectl exec -n minio deploy/minio -- mc "$@"
}

# objects PREFIX: the archive names under s3://backups/PREFIX/, one per line.
objects() {
  mc find "e2e/$BUCKET/$1" --name 'infrahub_backup_*' | sed "s|^e2e/$BUCKET/||" || true
}

# wait_infrahub: Neo4j (restarted by a Community offline backup/restore) answers queries again and the
# Infrahub workloads are rolled out.
wait_infrahub() {
  kubectl rollout status -n "$NS" statefulset/infrahub-database --timeout=10m
  for _ in $(seq 1 60); do
    if cypher 'RETURN 1' >/dev/null 2>&1; then break; fi
    sleep 5
  done
  cypher 'RETURN 1' >/dev/null || fail "Neo4j does not answer queries"
  kubectl wait -n "$NS" --for=condition=Available deployment --all --timeout=10m
}

# release_jobs RELEASE: names of the Jobs of one infrahub-backup release.
release_jobs() {
  kubectl get jobs -n "$NS" -l "app.kubernetes.io/instance=$1" -o jsonpath='{range .items[*]}{.metadata.name}{"\n"}{end}'
}

# first_job RELEASE [TIMEOUT_S]: waits until the release has a Job and prints its name.
first_job() {
  local deadline=$((SECONDS + ${2:-300})) name
  while [ "$SECONDS" -lt "$deadline" ]; do
    name=$(release_jobs "$1" | head -n1)
    if [ -n "$name" ]; then printf '%s\n' "$name"; return 0; fi
    sleep 5
  done
  fail "release $1 created no Job within ${2:-300}s"
}

# wait_job NAME complete|failed TIMEOUT: waits for a Job's condition, printing its logs either way.
wait_job() {
  local status=0
  kubectl wait -n "$NS" --for="condition=$2" "job/$1" --timeout="$3" || status=$?
  kubectl logs -n "$NS" "job/$1" --all-containers --tail=200 || true
  [ "$status" -eq 0 ] || fail "job $1 did not reach condition $2 within $3"
}

# neo4j_restarts: restart count of the Neo4j container.
neo4j_restarts() {
  kubectl get pod -n "$NS" "$NEO4J_POD" -o jsonpath='{.status.containerStatuses[?(@.name=="neo4j")].restartCount}'
}
