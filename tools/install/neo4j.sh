#!/usr/bin/env bash
# Neo4j Community ($NEO4J_VERSION: server + neo4j-admin) and cypher-shell ($CYPHER_SHELL_VERSION), built into a
# distribution home from Maven Central jars only (no tarball download): $IHB_TOOLS/neo4j-$NEO4J_VERSION with
#   lib/              server and neo4j-admin classpath (org.neo4j:neo4j and its runtime dependencies)
#   cypher-shell/lib/ cypher-shell's own classpath (it pins other netty/driver versions than the server)
#   conf/neo4j.conf   a default configuration; instances point NEO4J_CONF at their own copy
#   bin/neo4j, bin/neo4j-admin, bin/cypher-shell  launchers honouring NEO4J_HOME / NEO4J_CONF / JAVA_HOME
# Maven's local repository stays in the cache ($IHB_CACHE/m2), never in the work tree.
set -euo pipefail
. "$(dirname "$0")/../lib.sh"

[ -n "${NEO4J_VERSION:-}" ] || die "tools/versions.env: NEO4J_VERSION is empty"
[ -n "${CYPHER_SHELL_VERSION:-}" ] || die "tools/versions.env: CYPHER_SHELL_VERSION is empty"

neo4j_dir="$IHB_TOOLS/neo4j-$NEO4J_VERSION"
if installed "$neo4j_dir"; then
  say "neo4j $NEO4J_VERSION + cypher-shell $CYPHER_SHELL_VERSION: cached"
  exit 0
fi

command -v mvn >/dev/null || die "mvn not found: Neo4j is assembled from Maven Central with Maven (apt-get install maven)"
java_cmd="${JAVA_HOME:+$JAVA_HOME/bin/}java"
command -v "$java_cmd" >/dev/null || die "java not found: Neo4j $NEO4J_VERSION needs Java 17 (apt-get install openjdk-17-jre-headless)"
java_major=$("$java_cmd" -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java\.specification\.version = //p')
[ "${java_major:-0}" -ge 17 ] 2>/dev/null || die "Neo4j $NEO4J_VERSION needs Java 17 or later, found '${java_major:-unknown}' ($java_cmd)"

say "neo4j $NEO4J_VERSION + cypher-shell $CYPHER_SHELL_VERSION: assembling from Maven Central"
start=$(date +%s)
stage=$(fresh_dir "$neo4j_dir")
poms="$IHB_ROOT/tools/neo4j"
m2="$IHB_CACHE/m2"
mkdir -p "$m2"

# copy_jars POM PROPERTY VERSION DEST ARTIFACT: the artifact and all its runtime dependencies, as jars, into DEST.
copy_jars() {
  local log="$stage/.mvn-$5.log"
  if ! mvn -B -q -f "$1" "-Dmaven.repo.local=$m2" "-D$2=$3" \
      dependency:copy-dependencies -DincludeScope=runtime "-DoutputDirectory=$4" >"$log" 2>&1; then
    grep -E '^\[ERROR\]' "$log" | head -5 >&2 || true
    die "Maven Central: could not resolve org.neo4j:$5:$3 (log: $log)"
  fi
  [ -f "$4/$5-$3.jar" ] || die "Maven Central: org.neo4j:$5:$3 resolved, but $5-$3.jar is missing from $4"
}
copy_jars "$poms/server.pom.xml" neo4j.version "$NEO4J_VERSION" "$stage/lib" neo4j
copy_jars "$poms/cypher-shell.pom.xml" cypher-shell.version "$CYPHER_SHELL_VERSION" "$stage/cypher-shell/lib" cypher-shell
rm -f "$stage"/.mvn-*.log

mkdir -p "$stage/bin" "$stage/conf" "$stage/plugins" "$stage/import" "$stage/data" "$stage/logs" "$stage/run"

# Launchers. NEO4J_HOME defaults to the directory above bin/ (symlinks resolved), NEO4J_CONF to $NEO4J_HOME/conf;
# the Neo4j bootloader itself reads both from the environment. JAVA_OPTS is Neo4j's: the bootloader passes it to the
# JVM it forks (server / admin tool), so the bootloader JVM takes IHB_BOOTLOADER_JAVA_OPTS instead. JVM log output
# goes to stderr: `neo4j-admin database dump --to-stdout` and `cypher-shell --format plain` own stdout.
# A class-data-sharing archive in $NEO4J_HOME/cds/ (made after install, see below) is used when present.
launcher() {
  local name=$1 classpath=$2 main=$3 jvm_opts=$4 extra_opts_var=$5 cds=$6
  cat >"$stage/bin/$name" <<SH
#!/bin/sh
# $name, assembled by tools/install/neo4j.sh from Maven Central jars.
set -eu
script=\$(readlink -f "\$0")
NEO4J_HOME=\${NEO4J_HOME:-\$(cd "\$(dirname "\$script")/.." && pwd)}
NEO4J_CONF=\${NEO4J_CONF:-\$NEO4J_HOME/conf}
export NEO4J_HOME NEO4J_CONF
if [ -n "\${JAVA_HOME:-}" ]; then java_cmd="\$JAVA_HOME/bin/java"; else java_cmd=java; fi
cds_opts=
if [ -f "\$NEO4J_HOME/cds/$cds.jsa" ]; then cds_opts="-XX:SharedArchiveFile=\$NEO4J_HOME/cds/$cds.jsa -Xshare:auto"; fi
# Option variables are split on purpose (several options in one variable, as in the official scripts).
# shellcheck disable=SC2086
exec "\$java_cmd" $jvm_opts -Xlog:disable -Xlog:all=warning:stderr \$cds_opts \${$extra_opts_var:-} \\
  -cp "$classpath" -Dbasedir="\$NEO4J_HOME" -Dfile.encoding=UTF-8 $main "\$@"
SH
  chmod 755 "$stage/bin/$name"
}
# The bootloaders (neo4j, neo4j-admin) are short-lived front JVMs that fork the real server / admin JVM with the
# settings of neo4j.conf: a small serial-GC C1-only JVM starts fastest.
boot_opts="-XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Xss2m"
launcher neo4j '$NEO4J_HOME/lib/*' org.neo4j.server.startup.Neo4jCommand "$boot_opts" IHB_BOOTLOADER_JAVA_OPTS bootloader
launcher neo4j-admin '$NEO4J_HOME/lib/*' org.neo4j.server.startup.Neo4jAdminCommand "$boot_opts" IHB_BOOTLOADER_JAVA_OPTS bootloader
launcher cypher-shell '$NEO4J_HOME/cypher-shell/lib/*' org.neo4j.shell.Main \
  "-XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Xmx256m" JAVA_OPTS cypher-shell

cp "$poms/neo4j.conf" "$stage/conf/neo4j.conf"
cp "$poms/server-logs.xml" "$poms/user-logs.xml" "$stage/conf/"

# Smoke test before promoting: every launcher starts its main class.
env -u NEO4J_HOME -u NEO4J_CONF "$stage/bin/neo4j" version >/dev/null 2>&1 || die "neo4j $NEO4J_VERSION: 'neo4j version' failed on $java_cmd"
env -u NEO4J_HOME -u NEO4J_CONF "$stage/bin/neo4j-admin" --version >/dev/null 2>&1 || die "neo4j $NEO4J_VERSION: 'neo4j-admin --version' failed"
"$stage/bin/cypher-shell" --version >/dev/null 2>&1 || die "cypher-shell $CYPHER_SHELL_VERSION: 'cypher-shell --version' failed"

promote_dir "$neo4j_dir"

# Class-data-sharing archives: JVM start dominates the cost of every neo4j, neo4j-admin and cypher-shell call
# (server start ~40% less CPU with them). They record the classes one real run loads, so they are made from the
# promoted home (CDS checks the classpath) by starting a throwaway server once. Optional: a JVM that cannot use an
# archive (e.g. after a JDK update) ignores it, so a failure here only costs speed.
make_cds() {
  local home=$1 work cds port="" boot pid tries
  work=$(mktemp -d "${TMPDIR:-/tmp}/ihb-neo4j-cds.XXXXXX")
  cds="$home/cds.partial"
  rm -rf "$cds" && mkdir -p "$cds" "$work/conf"
  for tries in 1 2 3 4 5 6 7 8 9 10; do
    port=$(( 20000 + RANDOM % 40000 ))
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || break
  done
  {
    grep -v -E '^server\.(directories\.(data|logs|run)|bolt\.listen_address|http\.enabled)=|=-XX:\+UseG1GC$' \
      "$home/conf/neo4j.conf"
    printf '%s\n' "server.directories.data=$work/data" "server.directories.logs=$work/logs" \
      "server.directories.run=$work/run" "server.bolt.listen_address=127.0.0.1:$port" "server.http.enabled=false" \
      "dbms.security.auth_enabled=false" "internal.server.bolt.connection_shutdown_wait_time=0s" \
      "internal.server.bolt.thread_pool_shutdown_wait_time=0s" "server.jvm.additional=-XX:+UseSerialGC" \
      "server.jvm.additional=-XX:TieredStopAtLevel=1" "server.jvm.additional=-XX:ArchiveClassesAtExit=$cds/server.jsa"
  } >"$work/conf/neo4j.conf"
  NEO4J_CONF="$work/conf" IHB_BOOTLOADER_JAVA_OPTS="-XX:ArchiveClassesAtExit=$cds/bootloader.jsa" \
    "$home/bin/neo4j" console >"$work/console.log" 2>&1 &
  boot=$!
  for tries in $(seq 1 600); do
    kill -0 "$boot" 2>/dev/null || break
    if JAVA_OPTS="-XX:ArchiveClassesAtExit=$cds/cypher-shell.jsa" "$home/bin/cypher-shell" \
        -a "bolt://127.0.0.1:$port" --format plain "CREATE (n:Warmup) RETURN count(n)" >/dev/null 2>&1; then
      break
    fi
    sleep 0.5
  done
  pid=$(cat "$work/run/neo4j.pid" 2>/dev/null || true)
  if [ -n "$pid" ]; then kill -TERM "$pid" 2>/dev/null || true; else kill -TERM "$boot" 2>/dev/null || true; fi
  wait "$boot" 2>/dev/null || true
  if [ -s "$cds/server.jsa" ] && [ -s "$cds/bootloader.jsa" ] && [ -s "$cds/cypher-shell.jsa" ]; then
    rm -rf "$home/cds" && mv "$cds" "$home/cds"
    say "neo4j $NEO4J_VERSION: class-data-sharing archives in $home/cds"
  else
    rm -rf "$cds"
    say "WARNING: neo4j $NEO4J_VERSION: could not make class-data-sharing archives (slower JVM starts); log:"
    tail -5 "$work/console.log" >&2 || true
  fi
  rm -rf "$work"
}
make_cds "$neo4j_dir"
say "neo4j $NEO4J_VERSION + cypher-shell $CYPHER_SHELL_VERSION: installed in $(( $(date +%s) - start ))s, $(du -sh "$neo4j_dir" | cut -f1)"
