import { BackupError } from "../errors.js";

/** `passed` and `failed` are verdicts; `unknown`: the drill cannot tell from this data (not a failure). */
export type DrillCheckStatus = "passed" | "failed" | "unknown";

/** The outcome of one check of a drill. */
export interface DrillCheckResult {
  /** Stable name of a built-in check (`neo4j-nodes`, `infrahub-root` …) or the user's name for theirs. */
  name: string;
  /** The verdict. */
  status: DrillCheckStatus;
  /** What was found, in words. */
  message: string;
  /** What the query returned (counts are numbers). */
  value?: string | number;
  /** What a user check expected. */
  expected?: string;
}

/** A check of the user's: a read query on one of the drilled databases and the output it must give. */
export interface DrillUserCheck {
  /** Names it in the results. Default: `cypher-<n>` / `sql-<n>`. */
  name?: string;
  /** A Cypher query on the graph database. Exactly one of `cypher` and `sql`. */
  cypher?: string;
  /** An SQL query on the task-manager database. */
  sql?: string;
  /**
   * The expected output, compared after trimming: the rows joined by newlines, each row as cypher-shell's
   * plain format prints it (`1, "a"`; a single string value without quotes) or psql's unaligned one (`1|a`).
   */
  expect: string;
}

/** Runs a query on a drilled database and returns its rows. */
export type QueryRows = (query: string) => Promise<string[]>;

const count = (rows: string[]): number | undefined => {
  const value = Number(rows[0]);
  return rows.length === 1 && Number.isInteger(value) ? value : undefined;
};

/**
 * The graph checks: it holds data, and it is Infrahub's — one `:Root` node (Infrahub creates it at its first
 * start, and `--reset-deployment-id` rewrites it); `:Branch` and schema nodes are reported when present,
 * `unknown` when absent, since what an Infrahub version stores there is not fixed by this tool.
 */
export async function graphChecks(query: QueryRows): Promise<DrillCheckResult[]> {
  // One query: every cypher-shell run is a JVM start.
  const [row = ""] = await query(
    `CALL { MATCH (n) RETURN count(n) AS nodes }
     CALL { MATCH ()-[r]->() RETURN count(r) AS relationships }
     CALL { MATCH (r:Root) RETURN count(r) AS roots }
     CALL { MATCH (b:Branch) RETURN count(b) AS branches }
     CALL { MATCH (s:SchemaNode) RETURN count(s) AS schema }
     RETURN nodes, relationships, roots, branches, schema`,
  );
  const counts = row.split(",").map((value) => Number(value.trim()));
  if (counts.length !== 5 || counts.some((value) => !Number.isInteger(value))) {
    throw new BackupError(
      "DATABASE_COMMAND_FAILED",
      `unexpected answer to the graph counts: ${JSON.stringify(row)}`,
    );
  }
  const [nodes = 0, relationships = 0, roots = 0, branches = 0, schema = 0] = counts;
  return [
    nodes > 0
      ? { name: "neo4j-nodes", status: "passed", message: `${nodes} nodes`, value: nodes }
      : { name: "neo4j-nodes", status: "failed", message: "the graph is empty", value: 0 },
    {
      name: "neo4j-relationships",
      status: "passed",
      message: `${relationships} relationships`,
      value: relationships,
    },
    roots === 1
      ? { name: "infrahub-root", status: "passed", message: "one :Root node", value: 1 }
      : {
          name: "infrahub-root",
          status: "failed",
          message:
            roots === 0 ? "no :Root node: not an Infrahub graph" : `${roots} :Root nodes, Infrahub has one`,
          value: roots,
        },
    branches > 0
      ? { name: "infrahub-branches", status: "passed", message: `${branches} :Branch nodes`, value: branches }
      : { name: "infrahub-branches", status: "unknown", message: "no :Branch nodes", value: 0 },
    schema > 0
      ? { name: "infrahub-schema", status: "passed", message: `${schema} :SchemaNode nodes`, value: schema }
      : { name: "infrahub-schema", status: "unknown", message: "no :SchemaNode nodes", value: 0 },
  ];
}

/** Prefect's tables whose rows a drill counts, when the restored database has them. */
export const PREFECT_TABLES = ["flow_run", "task_run", "deployment", "log"] as const;

/**
 * The task-manager checks: the restore made tables; rows of Prefect's main tables. A database without any
 * of them is `unknown` (a Prefect version may name them otherwise), one without tables a failure.
 */
export async function taskManagerChecks(query: QueryRows): Promise<DrillCheckResult[]> {
  const tables = await query(
    "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY 1",
  );
  if (tables.length === 0) {
    return [
      { name: "postgres-tables", status: "failed", message: "the restored database has no tables", value: 0 },
    ];
  }
  const results: DrillCheckResult[] = [
    { name: "postgres-tables", status: "passed", message: `${tables.length} tables`, value: tables.length },
  ];
  const present = PREFECT_TABLES.filter((table) => tables.includes(table));
  if (present.length === 0) {
    results.push({
      name: "prefect-tables",
      status: "unknown",
      message: `none of ${PREFECT_TABLES.join(", ")}`,
    });
  }
  for (const table of present) {
    const rows = count(await query(`SELECT count(*) FROM public.${table}`)) ?? 0;
    results.push({
      name: `prefect-${table.replaceAll("_", "-")}-rows`,
      status: "passed",
      message: `${rows} rows in ${table}`,
      value: rows,
    });
  }
  return results;
}

/** One user check against its database; `query` is undefined when that database was not drilled. */
export async function userCheck(
  check: DrillUserCheck,
  name: string,
  query: QueryRows | undefined,
): Promise<DrillCheckResult> {
  const expected = check.expect.trim();
  if (!query) {
    return {
      name,
      status: "unknown",
      message: "the archive has no task-manager database to query",
      expected,
    };
  }
  let rows: string[];
  try {
    rows = await query((check.cypher ?? check.sql) as string);
  } catch (error) {
    return { name, status: "failed", message: `the query failed: ${(error as Error).message}`, expected };
  }
  const value = rows.join("\n").trim();
  return value === expected
    ? { name, status: "passed", message: `returned ${JSON.stringify(value)}`, value, expected }
    : {
        name,
        status: "failed",
        message: `returned ${JSON.stringify(value)}, expected ${JSON.stringify(expected)}`,
        value,
        expected,
      };
}

/** Checks a user check's shape; INVALID_ARGUMENT naming what is wrong. */
export function validateUserCheck(check: unknown, where: string): DrillUserCheck {
  const c = check as Partial<DrillUserCheck> | null;
  const invalid = (why: string) =>
    new BackupError("INVALID_ARGUMENT", `${where}: ${why}`, {
      hint: 'a check is {"name"?: string, "cypher" | "sql": string, "expect": string | number | boolean}',
    });
  if (typeof c !== "object" || c === null) throw invalid("not an object");
  if ((typeof c.cypher === "string") === (typeof c.sql === "string"))
    throw invalid("give exactly one of cypher and sql");
  const expect = (c as { expect?: unknown }).expect;
  if (!["string", "number", "boolean"].includes(typeof expect)) throw invalid("expect is missing");
  if (c.name !== undefined && typeof c.name !== "string") throw invalid("name is not a string");
  return {
    ...(c.name ? { name: c.name } : {}),
    ...(c.cypher ? { cypher: c.cypher } : { sql: c.sql as string }),
    expect: String(expect),
  };
}
