import { boltPortListening } from "../engines/neo4j/bolt-probe.js";
import type { Neo4jCredentials } from "../engines/neo4j/credentials.js";
import { waitForNeo4j } from "../engines/neo4j/wait.js";
import type { Executor } from "../exec/executor.js";
import type { EventSink } from "./events.js";
import { warning } from "./warning.js";

/**
 * After taking over the lock of a holder that died: it may have left Neo4j paused (a paused Neo4j has
 * closed its Bolt port), which its freeze helper resumes once the holder's lease runs out (20 s by
 * default). Then the operation waits until Neo4j serves its user database again (at most 5 min) before it
 * asks Neo4j anything; a listening port (or one the container cannot report) is left to the preflight.
 */
export async function waitForLeftFrozenNeo4j(
  executor: Executor,
  credentials: Neo4jCredentials,
  onEvent: EventSink,
  signal: AbortSignal | undefined,
): Promise<void> {
  const sig = signal ? { signal } : {};
  if ((await boltPortListening(executor, sig)) !== false) return;
  onEvent(
    warning(
      "LOCK",
      "Neo4j's Bolt port is closed: the operation whose lock was taken over may have paused it; waiting until Neo4j serves again (its freeze ends on its own once its holder's lease runs out)",
    ),
  );
  await waitForNeo4j(executor, credentials, sig);
}
