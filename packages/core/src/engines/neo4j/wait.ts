import { setTimeout as sleep } from "node:timers/promises";
import { BackupError } from "../../errors.js";
import type { Executor } from "../../exec/executor.js";
import { boltPortListening } from "./bolt-probe.js";
import type { Neo4jCredentials } from "./credentials.js";
import { cypherShell, plainRows } from "./cypher-shell.js";

/** Between two cheap Bolt-port checks while Neo4j starts. */
const PORT_POLL_MS = 200;
/** A query is still tried this often while the port check says "not listening", in case it looked at the wrong port. */
const QUERY_ANYWAY_MS = 3_000;
/** After a failed query (port open, database not online yet). */
const QUERY_RETRY_MS = 500;
/** The server answers but reports the user database failed: seen this long, it is not a slow start. */
const FAILED_FOR_MS = 10_000;

export interface WaitForNeo4jOptions {
  /** Default 5 min. */
  timeoutMs?: number;
  signal?: AbortSignal;
  /**
   * How long the database must be reported failed before this gives up (default 10 s: a slow start is not a
   * failure). 0 when the caller knows the running server started on a store that was not free.
   */
  failedForMs?: number;
}

/**
 * Waits until Neo4j serves the user database (the credentials' database answers a query) — not merely
 * until the server answers: a server whose database failed to start (its store locked by a leftover
 * `neo4j-admin`, a damaged store) answers on `system` while Infrahub's graph is down. Queries (each a
 * cypher-shell JVM) wait for the Bolt port to listen: on a small machine a JVM started every half second
 * slows the Neo4j JVM it waits for by seconds. Fails early when the server reports the database as
 * failed for a while, with the server's own status message.
 */
export async function waitForNeo4j(
  executor: Executor,
  credentials: Neo4jCredentials,
  options: WaitForNeo4jOptions = {},
): Promise<void> {
  const signal = options.signal;
  const sig = signal ? { signal } : {};
  const deadline = Date.now() + (options.timeoutMs ?? 300_000);
  let last: unknown;
  let failedSince: number | undefined;
  let queryAnywayAt = Date.now() + QUERY_ANYWAY_MS;
  while (Date.now() < deadline) {
    signal?.throwIfAborted();
    const listening = await boltPortListening(executor, sig);
    if (listening === false && Date.now() < queryAnywayAt) {
      await sleep(PORT_POLL_MS);
      continue;
    }
    try {
      await cypherShell(executor, credentials, "RETURN 1 AS ok", { timeoutMs: 20_000, ...sig });
      return;
    } catch (error) {
      signal?.throwIfAborted();
      last = error;
    }
    const status = await databaseStatus(executor, credentials, sig);
    if (status?.failed) {
      failedSince ??= Date.now();
      if (Date.now() - failedSince >= (options.failedForMs ?? FAILED_FOR_MS)) {
        throw new BackupError(
          "DATABASE_UNAVAILABLE",
          `Neo4j runs, but database ${credentials.database} is ${status.currentStatus}: ${status.message}`,
          {
            hint: "look at the Neo4j log (debug.log); a store locked by another process or a damaged store keeps it from starting",
            details: {
              database: credentials.database,
              currentStatus: status.currentStatus,
              failedStart: true,
            },
          },
        );
      }
    } else {
      failedSince = undefined;
    }
    queryAnywayAt = Date.now() + QUERY_ANYWAY_MS;
    await sleep(QUERY_RETRY_MS);
  }
  if (last instanceof Error) {
    throw new BackupError(
      "DATABASE_UNAVAILABLE",
      `Neo4j did not serve database ${credentials.database} again in time: ${last.message}`,
      {
        cause: last,
        hint: "look at the Neo4j container's log; its supervisor or the container runtime restarts it",
      },
    );
  }
  throw new BackupError("DATABASE_UNAVAILABLE", "Neo4j did not come back: its Bolt port never listened", {
    hint: "look at the Neo4j container's log; its supervisor or the container runtime restarts it",
  });
}

/** The error `waitForNeo4j` throws when the server runs but reports the user database as failed to start. */
export function isFailedStart(error: unknown): boolean {
  return error instanceof BackupError && error.details?.failedStart === true;
}

interface DatabaseStatus {
  currentStatus: string;
  message: string;
  /** Asked to be online, yet offline/quarantined with a message: a start that failed. */
  failed: boolean;
}

/** The user database's status as the system database reports it; undefined while the server does not answer. */
async function databaseStatus(
  executor: Executor,
  credentials: Neo4jCredentials,
  sig: { signal?: AbortSignal },
): Promise<DatabaseStatus | undefined> {
  try {
    const out = await cypherShell(
      executor,
      credentials,
      // One value per row: plain format quotes each value, and a message may hold ", ".
      "SHOW DATABASES YIELD name, requestedStatus, currentStatus, statusMessage WHERE name = $name RETURN requestedStatus + '|' + currentStatus + '|' + statusMessage AS status",
      { database: "system", params: { name: credentials.database }, timeoutMs: 20_000, ...sig },
    );
    const row = plainRows(out)[0];
    if (!row) return undefined;
    const [requested = "", current = "", ...rest] = row.split("|");
    const message = rest.join("|");
    return {
      currentStatus: current,
      message,
      failed:
        requested === "online" && (current === "offline" || current === "quarantined") && message !== "",
    };
  } catch {
    // The server itself does not answer yet: nothing to tell beyond the failed query above.
    return undefined;
  }
}
