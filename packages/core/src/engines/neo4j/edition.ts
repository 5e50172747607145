import type { Neo4jEdition } from "../../archive/backup-metadata.js";
import { BackupError, isBackupError } from "../../errors.js";
import type { Executor } from "../../exec/executor.js";
import type { Neo4jCredentials } from "./credentials.js";
import { cypherShell, plainRows } from "./cypher-shell.js";

export type { Neo4jEdition };

/** What the running Neo4j reported about itself (`dbms.components()`). */
export interface Neo4jServerInfo {
  /** Community or Enterprise: decides offline dump/load or online backup/restore. */
  edition: Neo4jEdition;
  /** Neo4j's version, e.g. `5.26.1`. */
  version: string;
}

/** Edition and version, asked of the system database (it accepts only CALL … YIELD … RETURN: the row is picked out by parseComponents). */
export const COMPONENTS_QUERY =
  "CALL dbms.components() YIELD name, versions, edition RETURN name, versions, edition";

/** The server's database names, asked of the system database. */
export const DATABASES_QUERY = "SHOW DATABASES YIELD name RETURN name";

/**
 * Edition and version from `dbms.components()`. Unlike upstream v1.7.4, a failed detection is an error,
 * never a silent fall-back to the Community procedure (which would stop services for nothing).
 */
export async function detectNeo4j(
  executor: Executor,
  credentials: Neo4jCredentials,
): Promise<Neo4jServerInfo> {
  let output: string;
  try {
    output = await cypherShell(executor, credentials, COMPONENTS_QUERY, { database: "system" });
  } catch (error) {
    // A refused login says so (DATABASE_AUTH, with the variables to check), not "did not answer".
    if (isBackupError(error, "DATABASE_AUTH") || isBackupError(error, "CANCELLED")) throw error;
    throw new BackupError(
      "EDITION_UNKNOWN",
      `cannot determine the Neo4j edition: the database did not answer${isBackupError(error) ? ` (${error.message})` : ""}`,
      {
        cause: error,
        hint: "make sure the database service is running and the Neo4j credentials are right; nothing was stopped",
      },
    );
  }
  return parseComponents(output);
}

/** Reads `"Neo4j Kernel", ["5.26.30"], "community"` out of plain-format output. */
export function parseComponents(output: string): Neo4jServerInfo {
  const rows = plainRows(output);
  const row = rows.find((r) => r.includes("Neo4j Kernel")) ?? rows.at(-1) ?? "";
  const match = /\[\s*"?([^",\]]*)"?[^\]]*\]\s*,\s*"?(\w+)"?\s*$/.exec(row);
  const edition = match?.[2]?.toLowerCase();
  if (edition !== "community" && edition !== "enterprise") {
    throw new BackupError(
      "EDITION_UNKNOWN",
      `unexpected Neo4j edition in dbms.components(): ${JSON.stringify(row)}`,
    );
  }
  return { edition, version: match?.[1] || "unknown" };
}

/**
 * Fails unless `credentials.database` exists on the server (a misnamed INFRAHUB_DB_DATABASE, say). `known`:
 * the server's database names when already asked (server-facts.ts).
 */
export async function assertNeo4jDatabaseExists(
  executor: Executor,
  credentials: Neo4jCredentials,
  known?: readonly string[],
): Promise<void> {
  const names =
    known ?? plainRows(await cypherShell(executor, credentials, DATABASES_QUERY, { database: "system" }));
  if (!names.includes(credentials.database)) {
    throw new BackupError("DATABASE_UNAVAILABLE", `Neo4j has no database named ${credentials.database}`, {
      hint: `INFRAHUB_DB_DATABASE names the database to back up; the server has: ${names.join(", ")}`,
    });
  }
}
