import { runCommand } from "../../exec/command.js";
import type { Executor } from "../../exec/executor.js";
import type { Neo4jCredentials } from "./credentials.js";

export interface CypherOptions {
  /** Database to run against; defaults to the credentials' database. */
  database?: string;
  /** `--param` values; strings are quoted as Cypher string literals. */
  params?: Readonly<Record<string, string | number>>;
  timeoutMs?: number;
  signal?: AbortSignal;
}

/** A Cypher string literal (single quotes, backslash escapes). */
export function cypherString(value: string): string {
  return `'${value.replace(/\\/g, "\\\\").replace(/'/g, "\\'")}'`;
}

/**
 * Runs one query with cypher-shell next to the database. The password travels in NEO4J_PASSWORD, not
 * in `-p` on argv as upstream does. Returns the plain-format output.
 */
export async function cypherShell(
  executor: Executor,
  credentials: Neo4jCredentials,
  query: string,
  options: CypherOptions = {},
): Promise<string> {
  const params = Object.entries(options.params ?? {}).flatMap(([name, value]) => [
    "--param",
    `${name} => ${typeof value === "number" ? String(value) : cypherString(value)}`,
  ]);
  return await runCommand(
    executor,
    {
      argv: [
        "cypher-shell",
        "-u",
        credentials.user,
        "-d",
        options.database ?? credentials.database,
        "--format",
        "plain",
        ...params,
        query,
      ],
      env: { NEO4J_PASSWORD: credentials.password },
      timeoutMs: options.timeoutMs ?? 60_000,
      ...(options.signal ? { signal: options.signal } : {}),
    },
    {
      what: "cypher-shell",
      failureCode: "DATABASE_UNAVAILABLE",
      hint: "check that Neo4j is running and that INFRAHUB_DB_USERNAME / INFRAHUB_DB_PASSWORD are right",
    },
  );
}

/** The rows of plain-format output, header dropped, quotes stripped from single values. */
export function plainRows(output: string): string[] {
  const lines = output
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l.length > 0);
  return lines.slice(1).map((l) => l.replace(/^"(.*)"$/, "$1"));
}
