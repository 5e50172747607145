#!/bin/bash
# Image build step: a class-data-sharing archive of the classes one real server start loads (as
# tools/install/neo4j.sh makes for the host instances; ~40% less start CPU, and the backup tests stop and start
# this server several times). It is made from this image's JRE and $NEO4J_HOME/lib, the paths the container's
# server runs with, by starting a throwaway server once (as neo4j, on a scratch data directory, loopback only).
# Optional: without an archive the server only starts slower, so a failure here warns and leaves the conf alone.
set -uo pipefail
conf="$NEO4J_HOME/conf/neo4j.conf"
cds="$NEO4J_HOME/cds"
work=$(mktemp -d)
mkdir -p "$cds" "$work/conf"
chown -R neo4j:neo4j "$cds" "$work"
{
  grep -v -E '^server\.(directories\.(data|logs|run)|http\.enabled)=' "$conf"
  printf '%s\n' "server.directories.data=$work/data" "server.directories.logs=$work/logs" \
    "server.directories.run=$work/run" "server.default_listen_address=127.0.0.1" "server.http.enabled=false" \
    "dbms.security.auth_enabled=false" "server.jvm.additional=-XX:ArchiveClassesAtExit=$cds/server.jsa"
} >"$work/conf/neo4j.conf"
as_neo4j=(setpriv --reuid=neo4j --regid=neo4j --init-groups --)
NEO4J_CONF="$work/conf" "${as_neo4j[@]}" neo4j console >"$work/console.log" 2>&1 &
boot=$!
for _ in $(seq 1 600); do
  kill -0 "$boot" 2>/dev/null || break
  "${as_neo4j[@]}" cypher-shell -a bolt://127.0.0.1:7687 --format plain "CREATE (n:Warmup) RETURN count(n)" \
    >/dev/null 2>&1 && break
  sleep 0.5
done
pid=$(cat "$work/run/neo4j.pid" 2>/dev/null || true)
kill -TERM "${pid:-$boot}" 2>/dev/null || true
wait "$boot" 2>/dev/null || true
if [ -s "$cds/server.jsa" ]; then
  chmod 0644 "$cds/server.jsa"
  printf '%s\n' "server.jvm.additional=-XX:SharedArchiveFile=$cds/server.jsa" \
    "server.jvm.additional=-Xlog:cds*=off:stderr" >>"$conf"
  echo "neo4j: class-data-sharing archive $cds/server.jsa ($(du -h "$cds/server.jsa" | cut -f1))"
else
  echo "WARNING: neo4j: no class-data-sharing archive (slower server starts); log:" >&2
  tail -20 "$work/console.log" >&2 || true
fi
rm -rf "$work"
