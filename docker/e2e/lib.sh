# Helpers of the e2e-compose workflow (.github/workflows/e2e-compose.yml), sourced by its steps; usable by
# hand too, from the repository root, once `docker compose -f docker/docker-compose.yml up -d --wait` ran.
# shellcheck shell=bash
COMPOSE_FILE=${COMPOSE_FILE:-docker/docker-compose.yml}
PROJECT=${PROJECT:-infrahub}
INFRAHUB_URL=${INFRAHUB_URL:-http://127.0.0.1:8000}
# The compose file's default admin token (INFRAHUB_INITIAL_ADMIN_TOKEN).
INFRAHUB_TOKEN=${INFRAHUB_TOKEN:-06438eb2-8019-4776-878c-0941b1f1d1ec}

log() { printf '\n=== %s\n' "$*"; }
fail() { printf '::error::%s\n' "$*"; exit 1; }

dc() { docker compose -f "$COMPOSE_FILE" -p "$PROJECT" "$@"; }

# cypher QUERY: runs a query in the database service (compose defaults neo4j/admin), plain output.
cypher() {
  dc exec -T database cypher-shell -u neo4j -p admin --format plain "$1"
}

# sql SQL: runs SQL in the task-manager database as its owner (compose defaults postgres/postgres/prefect).
sql() {
  dc exec -T -u postgres task-manager-db psql -d prefect -v ON_ERROR_STOP=1 -At -c "$1"
}

# graphql QUERY: a GraphQL request to Infrahub with the admin token; prints the JSON answer, fails on errors.
graphql() {
  local body answer
  body=$(jq -cn --arg q "$1" '{query: $q}')
  answer=$(curl -sS -f -X POST "$INFRAHUB_URL/graphql" -H 'content-type: application/json' \
    -H "X-INFRAHUB-KEY: $INFRAHUB_TOKEN" --data "$body") || return 1
  if jq -e '.errors' <<<"$answer" >/dev/null; then
    printf '%s\n' "$answer" >&2
    return 1
  fi
  printf '%s\n' "$answer"
}

# tag_count NAME: how many BuiltinTag objects have this name (0 or 1).
tag_count() {
  graphql "query { BuiltinTag(name__value: \"$1\") { count } }" | jq -r '.data.BuiltinTag.count'
}

# wait_infrahub: the API answers and its schema is loaded (a GraphQL query on a core kind works).
wait_infrahub() {
  local deadline=$((SECONDS + 900))
  until curl -sf -o /dev/null "$INFRAHUB_URL/api/config" && tag_count probe >/dev/null 2>&1; do
    [ "$SECONDS" -lt "$deadline" ] || { dc ps; fail "Infrahub did not answer within 15 min"; }
    sleep 5
  done
  deadline=$((SECONDS + 300))
  until cypher 'RETURN 1' >/dev/null 2>&1; do
    [ "$SECONDS" -lt "$deadline" ] || fail "Neo4j does not answer queries"
    sleep 3
  done
}

# cli ARGS...: the CLI bundle built from this checkout.
cli() {
  node packages/cli/dist/bundle/infrahub-backup.mjs "$@"
}
