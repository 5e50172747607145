#!/bin/bash
# Entrypoint of the locally built Neo4j image: what the official image's entrypoint does that deployments and
# the backup rely on, written for this image (not a copy):
#   - started as root: /data and /logs owned by neo4j, and everything below runs as neo4j (uid 7474);
#   - NEO4J_<setting> variables become neo4j.conf settings (`_` -> `.`, `__` -> `_`), replacing the file's;
#   - image defaults that a setting does not override: listen on all addresses;
#   - NEO4J_AUTH (or the file named by NEO4J_AUTH_PATH): `none` disables authentication, `neo4j/<password>`
#     sets the initial password (kept off the command line through neo4j-admin's @file argument);
#   - a stale pid file from a previous container run is removed;
#   - `neo4j` (the default command) execs the server JVM itself from `neo4j console --dry-run`, so tini's
#     child is the JVM: when it exits, the container exits and its restart policy applies.
set -euo pipefail

cmd=${1:-neo4j}
conf="$NEO4J_HOME/conf/neo4j.conf"

if [ "$(id -u)" = 0 ]; then
  as_neo4j=(setpriv --reuid=neo4j --regid=neo4j --init-groups --)
  chown neo4j:neo4j /data /logs
  [ -z "$(find /data /logs -not -user neo4j -print -quit)" ] || chown -R neo4j:neo4j /data /logs
  chown -R neo4j:neo4j "$NEO4J_HOME/conf" "$NEO4J_HOME/run"
else
  as_neo4j=()
fi
run_as_neo4j() { if [ "${#as_neo4j[@]}" -gt 0 ]; then "${as_neo4j[@]}" "$@"; else "$@"; fi; }

# set_setting NAME VALUE: replaces NAME's lines (server.jvm.additional accumulates instead).
set_setting() {
  if [ "$1" != server.jvm.additional ]; then
    local kept
    kept=$(grep -v -F -e "$1=" "$conf" || true)
    printf '%s\n' "$kept" > "$conf"
  fi
  printf '%s=%s\n' "$1" "$2" >> "$conf"
}
default_setting() { grep -q -F -e "$1=" "$conf" || printf '%s=%s\n' "$1" "$2" >> "$conf"; }

if [ "$cmd" = neo4j ]; then
  control="NEO4J_AUTH NEO4J_AUTH_PATH NEO4J_EDITION NEO4J_HOME NEO4J_VERSION NEO4J_ACCEPT_LICENSE_AGREEMENT NEO4J_PLUGINS NEO4J_DEBUG"
  while IFS= read -r name; do
    [[ " $control " == *" $name "* ]] && continue
    value=${!name}
    [ -n "$value" ] || continue
    setting=${name#NEO4J_}
    setting=${setting//__/$'\1'}
    setting=${setting//_/.}
    setting=${setting//$'\1'/_}
    set_setting "$setting" "$value"
  done < <(compgen -e | grep '^NEO4J_' || true)
  default_setting server.default_listen_address 0.0.0.0

  auth=${NEO4J_AUTH:-}
  if [ -n "${NEO4J_AUTH_PATH:-}" ]; then
    [ -r "$NEO4J_AUTH_PATH" ] || { echo "NEO4J_AUTH_PATH: $NEO4J_AUTH_PATH is not a readable file" >&2; exit 1; }
    auth=$(cat "$NEO4J_AUTH_PATH")
  fi
  if [ "$auth" = none ]; then
    set_setting dbms.security.auth_enabled false
  elif [[ "$auth" =~ ^([^/]+)/(.+)$ ]]; then
    user=${BASH_REMATCH[1]} password=${BASH_REMATCH[2]}
    [ "$user" = neo4j ] || { echo "NEO4J_AUTH: the admin user must be neo4j, not $user" >&2; exit 1; }
    [ "$password" != neo4j ] || { echo "NEO4J_AUTH: the password cannot be 'neo4j'" >&2; exit 1; }
    argfile=$(mktemp)
    escaped=${password//\\/\\\\}
    printf '"%s"\n' "${escaped//\"/\\\"}" > "$argfile"
    [ "${#as_neo4j[@]}" -eq 0 ] || chown neo4j:neo4j "$argfile"
    run_as_neo4j neo4j-admin dbms set-initial-password "@$argfile" >/dev/null
    rm -f "$argfile"
  elif [ -n "$auth" ]; then
    echo "NEO4J_AUTH: expected neo4j/<password> or none" >&2
    exit 1
  fi
  rm -f "$NEO4J_HOME/run/neo4j.pid"

  server=$(run_as_neo4j neo4j console --dry-run)
  [ -n "$server" ] || { echo "neo4j console --dry-run printed no command" >&2; exit 1; }
  eval "exec ${as_neo4j[*]} $server"
fi
exec "${as_neo4j[@]}" "$@"
