import type { Executor } from "../../exec/executor.js";

/**
 * Whether something listens on Neo4j's Bolt port inside the database container, read from
 * /proc/net/tcp{,6} with sh and grep. The port is cypher-shell's NEO4J_ADDRESS, else
 * server.bolt.listen_address from neo4j.conf ($NEO4J_CONF, then $NEO4J_HOME/conf), else the image's
 * NEO4J_server_bolt_listen__address, else 7687. Exit 0: listening; 1: not listening; 3: cannot tell.
 */
const PROBE_SCRIPT = `
command -v grep >/dev/null 2>&1 || exit 3
[ -r /proc/net/tcp ] || exit 3
port=
[ -n "\${NEO4J_ADDRESS:-}" ] && port=\${NEO4J_ADDRESS##*:}
if [ -z "$port" ]; then
  for f in "\${NEO4J_CONF:-/nonexistent}/neo4j.conf" "\${NEO4J_HOME:-/var/lib/neo4j}/conf/neo4j.conf"; do
    [ -r "$f" ] || continue
    v=$(sed -n 's/^[[:space:]]*server\\.bolt\\.listen_address[[:space:]]*=[[:space:]]*//p' "$f" | tail -n 1 | tr -d '\\r ')
    if [ -n "$v" ]; then port=\${v##*:}; break; fi
  done
fi
[ -n "$port" ] || port=\${NEO4J_server_bolt_listen__address##*:}
[ -n "$port" ] || port=7687
case $port in ''|*[!0-9]*) exit 3;; esac
hex=$(printf '%04X' "$port")
grep -q "^ *[0-9]*: [0-9A-F]*:$hex [0-9A-F]*:0000 0A " /proc/net/tcp /proc/net/tcp6 2>/dev/null && exit 0
exit 1
`;

/**
 * True when the Bolt port listens, false when it does not, undefined when the container cannot say
 * (no grep, no /proc, a port we cannot read). A process start costs milliseconds where a cypher-shell
 * probe is a JVM start, which competes with the Neo4j JVM it waits for.
 */
export async function boltPortListening(
  executor: Executor,
  options: { signal?: AbortSignal } = {},
): Promise<boolean | undefined> {
  try {
    const result = await executor.exec({
      argv: ["sh", "-c", PROBE_SCRIPT],
      timeoutMs: 10_000,
      ...(options.signal ? { signal: options.signal } : {}),
    });
    if (result.exitCode === 0) return true;
    if (result.exitCode === 1) return false;
    return undefined;
  } catch {
    options.signal?.throwIfAborted();
    return undefined;
  }
}
