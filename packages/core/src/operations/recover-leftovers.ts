import type { Environment } from "../environment/environment.js";
import { findNeo4jCredentials, type HostEnv } from "./deployment.js";
import { type EventSink, ignoreEvents } from "./events.js";
import { waitForLeftFrozenNeo4j } from "./left-frozen.js";
import { warning } from "./warning.js";

/** Options of `recoverLeftovers`. */
export interface RecoverLeftoversOptions {
  /** The deployment a killed operation may have left stopped. */
  environment: Environment;
  /** Where credentials not found in the deployment come from (as for the operations). */
  hostEnv?: HostEnv;
  /** Ends the wait for Neo4j with the signal's reason. */
  signal?: AbortSignal;
  /** Warnings (code LOCK): what was brought back, a lock taken over. */
  onEvent?: EventSink;
}

/**
 * Brings back what an operation that was killed left behind, and changes nothing else — for a run that
 * must fail before its own operation starts (a restore whose archive is gone), so that it does not leave
 * Infrahub stopped. Taking the operation lock scales back the services the dead run stopped; when the lock
 * was taken over from it, this waits until Neo4j serves again (the dead run's freeze ends with its lease,
 * putting back a store it had set aside).
 */
export async function recoverLeftovers(options: RecoverLeftoversOptions): Promise<void> {
  const { environment, signal } = options;
  const onEvent = options.onEvent ?? ignoreEvents;
  await using lock = await environment.lock({
    operation: "restore",
    onWarning: (message) => onEvent(warning("LOCK", message)),
    ...(signal ? { signal } : {}),
  });
  if (lock.tookOverFrom === undefined) return;
  const credentials = await findNeo4jCredentials(environment, options.hostEnv ?? {}, onEvent);
  await waitForLeftFrozenNeo4j(await environment.executor("database"), credentials, onEvent, signal);
}
