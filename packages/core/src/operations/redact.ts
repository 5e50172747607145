import type { Neo4jCredentials } from "../engines/neo4j/credentials.js";
import { cypherShell } from "../engines/neo4j/cypher-shell.js";
import type { Executor } from "../exec/executor.js";

/**
 * Upstream's `--redact`: gives every distinct attribute value a new random UUID (identical values
 * share one), on the LIVE database, in batched transactions. Destructive by design: the caller must
 * have the user's explicit confirmation (`--force`).
 */
export async function redactAttributeValues(
  executor: Executor,
  credentials: Neo4jCredentials,
): Promise<void> {
  await cypherShell(
    executor,
    credentials,
    `MATCH (av:AttributeValue) WHERE av.value IS NOT NULL
     WITH av.value AS value, collect(av) AS nodes
     WITH nodes, randomUUID() AS replacement
     UNWIND nodes AS node
     CALL (node, replacement) { SET node.value = replacement } IN TRANSACTIONS OF 5000 ROWS`,
    { timeoutMs: 60 * 60_000 },
  );
}
