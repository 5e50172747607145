import neo4j, {
  isDate,
  isDateTime,
  isDuration,
  isInt,
  isLocalDateTime,
  isLocalTime,
  isNode,
  isPoint,
  isRelationship,
  isTime,
} from "neo4j-driver";

export interface BoltQuery {
  url: string;
  user: string;
  password: string;
  database: string;
  query: string;
  params?: Record<string, string | number>;
  timeoutMs: number;
}

/**
 * Runs one Cypher statement over Bolt with the official JavaScript driver and renders the result as
 * `cypher-shell --format plain` does: a header of column names, then one line per row; strings in double
 * quotes, NULL, TRUE/FALSE, lists in brackets; no output at all for no rows. The tests' own queries (seeds,
 * digests, "does it serve" probes) used to start a cypher-shell JVM each: ~0.6 s of CPU and 1–3 s of wall on
 * the loaded CI machine, about a quarter of the cypher-shell JVMs sampled during CI. The tool under test still runs cypher-shell inside the database
 * container; only the tests' view of the server changes. A driver per call, closed after it: no pooled
 * connection outlives a restart of the server, so a query right after one behaves as a fresh cypher-shell.
 */
export async function boltQuery(request: BoltQuery): Promise<string> {
  const driver = neo4j.driver(request.url, neo4j.auth.basic(request.user, request.password), {
    maxConnectionPoolSize: 1,
    connectionTimeout: 10_000,
    connectionAcquisitionTimeout: 15_000,
  });
  try {
    const session = driver.session({ database: request.database });
    try {
      // Whole numbers as Cypher integers (a JavaScript number goes over Bolt as a float: range(1, $n) refuses it).
      const params = Object.fromEntries(
        Object.entries(request.params ?? {}).map(([k, v]) => [k, Number.isInteger(v) ? neo4j.int(v) : v]),
      );
      const { records } = await session.run(request.query, params, { timeout: request.timeoutMs });
      // cypher-shell prints nothing, not even the header, for a result without rows.
      const keys = records[0]?.keys ?? [];
      if (keys.length === 0) return "";
      const lines = [keys.join(", ")];
      for (const record of records) lines.push(keys.map((k) => plain(record.get(k))).join(", "));
      return `${lines.join("\n")}\n`;
    } finally {
      await session.close();
    }
  } catch (error) {
    // The server's code (e.g. Neo.ClientError.Security.Unauthorized) in the message, as cypher-shell prints it.
    const code = (error as { code?: unknown }).code;
    const message = error instanceof Error ? error.message : String(error);
    throw new Error(typeof code === "string" && code !== "" ? `${code}: ${message}` : message, {
      cause: error,
    });
  } finally {
    await driver.close();
  }
}

/** One value as cypher-shell's plain format shows it. */
function plain(value: unknown): string {
  if (value === null || value === undefined) return "NULL";
  if (typeof value === "string") return `"${value.replaceAll('"', '\\"')}"`;
  if (typeof value === "boolean") return value ? "TRUE" : "FALSE";
  // Cypher floats: Java's Double.toString keeps a ".0" on whole numbers.
  if (typeof value === "number") return Number.isInteger(value) ? value.toFixed(1) : String(value);
  if (isInt(value)) return value.toString();
  if (Array.isArray(value)) return `[${value.map(plain).join(", ")}]`;
  if (isNode(value)) return `(${value.labels.map((l) => `:${l}`).join("")} ${properties(value.properties)})`;
  if (isRelationship(value)) return `[:${value.type} ${properties(value.properties)}]`;
  if (
    isDate(value) ||
    isDateTime(value) ||
    isLocalDateTime(value) ||
    isLocalTime(value) ||
    isTime(value) ||
    isDuration(value) ||
    isPoint(value)
  ) {
    return String(value);
  }
  if (typeof value === "object") return properties(value as Record<string, unknown>);
  return String(value);
}

function properties(map: Record<string, unknown>): string {
  return `{${Object.entries(map)
    .map(([k, v]) => `${k}: ${plain(v)}`)
    .join(", ")}}`;
}
