import { BackupError } from "../../errors.js";
import { commandFailure } from "../../exec/command.js";
import type { ExecRequest, Executor } from "../../exec/executor.js";
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

/** What to check when Neo4j refuses the login: the variables the credentials come from. */
export const NEO4J_AUTH_HINT =
  "check INFRAHUB_DB_USERNAME / INFRAHUB_DB_PASSWORD (host environment, or infrahub-server's), or NEO4J_AUTH of the database container, against the password Neo4j was set up with";

/** cypher-shell's messages for a refused login (wrong user/password, or locked out after too many). */
const AUTH_REFUSED =
  /unauthorized due to authentication failure|incorrect authentication details too many times|Neo\.ClientError\.Security\.(Unauthorized|AuthenticationRateLimit)/i;

/**
 * Runs one query with cypher-shell next to the database. The password travels in NEO4J_PASSWORD, not
 * in `-p` on argv as upstream does. Returns the plain-format output. A refused login is DATABASE_AUTH,
 * naming the user and the variables to check (never the password).
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
  const request: ExecRequest = {
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
  };
  const result = await executor.exec(request);
  if (result.exitCode === 0) return result.stdout.toString("utf8");
  if (AUTH_REFUSED.test(result.stderrTail)) {
    const lockedOut = /too many times/i.test(result.stderrTail);
    throw new BackupError(
      "DATABASE_AUTH",
      `Neo4j refused the login of user ${JSON.stringify(credentials.user)} on ${executor.target}: ${
        lockedOut
          ? "too many failed attempts (Neo4j blocks the user for a while)"
          : "wrong user name or password"
      }`,
      { hint: NEO4J_AUTH_HINT, details: { user: credentials.user, target: executor.target } },
    );
  }
  throw commandFailure(executor, request, result, {
    what: "cypher-shell",
    failureCode: "DATABASE_UNAVAILABLE",
    hint: "check that Neo4j is running and that INFRAHUB_DB_USERNAME / INFRAHUB_DB_PASSWORD are right",
  });
}

/** The rows of plain-format output, header dropped, quotes stripped from single values. */
export function plainRows(output: string): string[] {
  const lines = output
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l.length > 0);
  return lines.slice(1).map((l) => l.replace(/^"(.*)"$/, "$1"));
}
