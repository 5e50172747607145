import { boltPortListening } from "../engines/neo4j/bolt-probe.js";
import {
  type Neo4jCredentials,
  neo4jCredentialsFromEnv,
  neo4jCredentialsIncomplete as neo4jIncomplete,
  parseNeo4jAuth,
  resolveNeo4jCredentials,
} from "../engines/neo4j/credentials.js";
import { cypherShell } from "../engines/neo4j/cypher-shell.js";
import {
  exitedBeforePause,
  type FreezeOptions,
  type FrozenNeo4j,
  freezeNeo4j,
} from "../engines/neo4j/freeze.js";
import {
  credentialsFromEnv,
  postgresCredentialsIncomplete as incomplete,
  type PostgresCredentials,
  resolvePostgresCredentials,
} from "../engines/postgres/credentials.js";
import type { Environment } from "../environment/environment.js";
import type { ServiceName } from "../environment/services.js";
import { BackupError } from "../errors.js";
import type { EventSink } from "./events.js";

export type HostEnv = Readonly<Record<string, string | undefined>>;

async function envOf(
  environment: Environment,
  service: ServiceName,
  onEvent: EventSink,
): Promise<Record<string, string>> {
  if (!(await environment.has(service))) return {};
  try {
    return await environment.serviceEnv(service);
  } catch (error) {
    onEvent({
      type: "warning",
      message: `could not read the environment of ${service}; using defaults`,
      fields: { error: error instanceof Error ? error.message : String(error) },
    });
    return {};
  }
}

/**
 * Neo4j credentials as upstream finds them: host env first, then infrahub-server's env while anything is
 * missing; then the database container's NEO4J_AUTH; then Infrahub's defaults.
 */
export async function findNeo4jCredentials(
  environment: Environment,
  hostEnv: HostEnv,
  onEvent: EventSink,
): Promise<Neo4jCredentials> {
  const fromHost = neo4jCredentialsFromEnv(hostEnv);
  const sources = [fromHost];
  if (neo4jIncomplete(fromHost)) {
    sources.push(neo4jCredentialsFromEnv(await envOf(environment, "infrahub-server", onEvent)));
    const databaseEnv = await envOf(environment, "database", onEvent);
    sources.push(parseNeo4jAuth(databaseEnv.NEO4J_AUTH));
  }
  return resolveNeo4jCredentials(...sources);
}

/** PostgreSQL credentials: host env, then task-manager's env, then upstream's defaults. */
export async function findPostgresCredentials(
  environment: Environment,
  hostEnv: HostEnv,
  onEvent: EventSink,
): Promise<PostgresCredentials> {
  const fromHost = credentialsFromEnv(hostEnv);
  const sources = [fromHost];
  if (incomplete(fromHost))
    sources.push(credentialsFromEnv(await envOf(environment, "task-manager", onEvent)));
  return resolvePostgresCredentials(...sources);
}

/** The installed Infrahub version, asked of infrahub-server as upstream does; "unknown" when it can't say. */
export async function probeInfrahubVersion(environment: Environment): Promise<string> {
  if (!(await environment.has("infrahub-server"))) return "unknown";
  try {
    const executor = await environment.executor("infrahub-server");
    const result = await executor.exec({
      argv: ["python", "-c", "import infrahub; print(infrahub.__version__)"],
      timeoutMs: 30_000,
    });
    const version = result.stdout.toString().trim();
    return result.exitCode === 0 && version ? version : "unknown";
  } catch {
    return "unknown";
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Between two cheap Bolt-port checks while Neo4j starts. */
const PORT_POLL_MS = 200;
/** A query is still tried this often while the port check says "not listening", in case it looked at the wrong port. */
const QUERY_ANYWAY_MS = 3_000;
/** After a failed query (port open, database not online yet). */
const QUERY_RETRY_MS = 500;

/**
 * Waits until Neo4j answers a query again (after a freeze, its container or supervisor restarts it).
 * Queries (each a cypher-shell JVM) wait for the Bolt port to listen: on a small machine a JVM started
 * every half second slows the Neo4j JVM it waits for by seconds.
 */
export async function waitForNeo4j(
  environment: Environment,
  credentials: Neo4jCredentials,
  options: { timeoutMs?: number; signal?: AbortSignal } = {},
): Promise<void> {
  const signal = options.signal;
  const deadline = Date.now() + (options.timeoutMs ?? 300_000);
  const executor = await environment.executor("database");
  let last: unknown;
  let queryAnywayAt = Date.now() + QUERY_ANYWAY_MS;
  while (Date.now() < deadline) {
    signal?.throwIfAborted();
    const listening = await boltPortListening(executor, signal ? { signal } : {});
    if (listening === false && Date.now() < queryAnywayAt) {
      await sleep(PORT_POLL_MS);
      continue;
    }
    try {
      // The system database answers as soon as the server is up, whatever the user database is called.
      await cypherShell(executor, credentials, "SHOW DATABASES YIELD name RETURN name", {
        database: "system",
        timeoutMs: 20_000,
        ...(signal ? { signal } : {}),
      });
      return;
    } catch (error) {
      signal?.throwIfAborted();
      last = error;
      queryAnywayAt = Date.now() + QUERY_ANYWAY_MS;
      await sleep(QUERY_RETRY_MS);
    }
  }
  if (last instanceof Error) throw last;
  throw new BackupError("DATABASE_UNAVAILABLE", "Neo4j did not come back: its Bolt port never listened", {
    hint: "look at the Neo4j container's log; its supervisor or the container runtime restarts it",
  });
}

/** Freezes tried in all when the helper loses its race with the exiting JVM. */
const FREEZE_ATTEMPTS = 3;

/**
 * `freezeNeo4j`, tried again when the JVM exited before the helper could pause it: that failure leaves
 * the data untouched and Neo4j restarting, so once it serves again the freeze starts over.
 */
export async function freezeNeo4jRetrying(
  environment: Environment,
  credentials: Neo4jCredentials,
  options: FreezeOptions & { onEvent: EventSink },
): Promise<FrozenNeo4j> {
  const { onEvent, ...freezeOptions } = options;
  const executor = await environment.executor("database");
  for (let attempt = 1; ; attempt++) {
    try {
      return await freezeNeo4j(executor, freezeOptions);
    } catch (error) {
      if (!exitedBeforePause(error) || attempt >= FREEZE_ATTEMPTS) throw error;
      onEvent({
        type: "warning",
        message: `Neo4j exited before it could be paused (attempt ${attempt} of ${FREEZE_ATTEMPTS}); trying again once it serves again`,
      });
      await waitForNeo4j(environment, credentials, options.signal ? { signal: options.signal } : {});
    }
  }
}
