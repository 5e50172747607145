/** One measurement of the estimate: its bytes, or why it could not be taken. */
export type Measurement = { bytes: number } | { problem: string };

/** What a backup is expected to weigh at most: the Neo4j store and the PostgreSQL database, summed. */
export interface SizeEstimate {
  bytes: number;
  neo4jStore: number;
  /** Absent when the task-manager database is left out. */
  postgres?: number;
}

/**
 * Runs a measurement; a failure becomes its reason (an estimate is never worth a failed backup), a
 * cancellation stays one.
 */
export async function measure(
  probe: () => Promise<number>,
  signal: AbortSignal | undefined,
): Promise<Measurement> {
  try {
    return { bytes: await probe() };
  } catch (error) {
    signal?.throwIfAborted();
    return { problem: error instanceof Error ? error.message : String(error) };
  }
}

/** The estimate, or why there is none: each measurement the backup needs must have been taken. */
export function sizeEstimate(
  neo4jStore: Measurement,
  postgres: Measurement | undefined,
): { estimate: SizeEstimate } | { problem: string } {
  if ("problem" in neo4jStore) return { problem: `the Neo4j store: ${neo4jStore.problem}` };
  if (postgres && "problem" in postgres) return { problem: `the PostgreSQL database: ${postgres.problem}` };
  return {
    estimate: {
      bytes: neo4jStore.bytes + (postgres?.bytes ?? 0),
      neo4jStore: neo4jStore.bytes,
      ...(postgres ? { postgres: postgres.bytes } : {}),
    },
  };
}
