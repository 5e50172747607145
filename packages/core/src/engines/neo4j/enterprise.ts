import type { ExecRequest } from "../../exec/executor.js";
import type { Neo4jCredentials } from "./credentials.js";

/**
 * Neo4j Enterprise procedures (compat-reference §3.3, §3.5) as data: each step is the exact command and
 * what it is for, so the sequence is reviewable and unit-tested here; it runs for real only in the kind
 * tier (no Enterprise server can be installed on the test machines). The operations run them
 * (operations/enterprise-capture.ts); single instances only — a cluster is refused.
 */
export interface EnterpriseStep {
  what: string;
  request: ExecRequest;
}

/** Where Neo4j writes the metadata script of a backup restored with --include-metadata (path segment is literal). */
export const RESTORE_METADATA_SCRIPT = "/data/scripts/neo4j/restore_metadata.cypher";

function cypher(
  credentials: Neo4jCredentials,
  database: string,
  query: string,
  extra: string[] = [],
): ExecRequest {
  return {
    argv: ["cypher-shell", "-u", credentials.user, "-d", database, "--format", "plain", ...extra, query],
    env: { NEO4J_PASSWORD: credentials.password },
  };
}

/** Online backup into a fresh work directory; the caller then streams each file in it into the archive. */
export function enterpriseBackupSteps(options: {
  database: string;
  includeMetadata: string;
  workDir: string;
  adminUser?: string;
}): EnterpriseStep[] {
  const user = options.adminUser ? { user: options.adminUser } : {};
  return [
    {
      what: "create a fresh work directory",
      request: { argv: ["mkdir", "-m", "0700", options.workDir], ...user },
    },
    {
      what: `neo4j-admin database backup of ${options.database}`,
      request: {
        argv: [
          "neo4j-admin",
          "database",
          "backup",
          "--expand-commands",
          `--include-metadata=${options.includeMetadata}`,
          `--to-path=${options.workDir}`,
          options.database,
        ],
        ...user,
      },
    },
    {
      what: "list the backup artefacts (size and name)",
      request: { argv: ["find", options.workDir, "-maxdepth", "1", "-type", "f", "-printf", "%s %f\\n"] },
    },
  ];
}

/** Reads `find -printf '%s %f\n'` output: the artefacts to stream, in name order. */
export function parseArtefactList(output: string): { name: string; size: number }[] {
  return output
    .split("\n")
    .filter((line) => line.trim() !== "")
    .map((line) => {
      const space = line.indexOf(" ");
      return { size: Number(line.slice(0, space)), name: line.slice(space + 1) };
    })
    .filter((a) => Number.isInteger(a.size) && a.size >= 0 && a.name && !a.name.includes("/"))
    .sort((a, b) => a.name.localeCompare(b.name));
}

/**
 * Restore on a single instance: artefacts are written into a fresh work directory first (byte-counted,
 * by the caller), then: stop database → neo4j-admin restore → optional migrate → metadata replay (users,
 * roles, privileges) → start database → remove the work directory.
 */
export function enterpriseRestoreSteps(options: {
  credentials: Neo4jCredentials;
  workDir: string;
  migrateFormat?: boolean;
  adminUser?: string;
}): EnterpriseStep[] {
  const { credentials, workDir } = options;
  const database = credentials.database;
  const user = options.adminUser ? { user: options.adminUser } : {};
  return [
    ...(options.adminUser
      ? [
          {
            what: "hand the artefacts to the neo4j user",
            request: { argv: ["chown", "-R", `${options.adminUser}:${options.adminUser}`, workDir] },
          },
        ]
      : []),
    {
      what: `stop database ${database}`,
      request: cypher(credentials, "system", `STOP DATABASE \`${database}\``),
    },
    {
      what: `neo4j-admin database restore of ${database}`,
      request: {
        argv: [
          "neo4j-admin",
          "database",
          "restore",
          "--expand-commands",
          "--overwrite-destination=true",
          `--from-path=${workDir}`,
          database,
        ],
        ...user,
      },
    },
    ...(options.migrateFormat
      ? [
          {
            what: `migrate ${database} to the block format`,
            request: {
              argv: [
                "neo4j-admin",
                "database",
                "migrate",
                "--expand-commands",
                "--to-format=block",
                database,
              ],
              ...user,
            },
          },
        ]
      : []),
    {
      what: "replay users, roles and privileges",
      request: {
        argv: [
          "cypher-shell",
          "-u",
          credentials.user,
          "-d",
          "system",
          "--param",
          `database => '${database.replace(/'/g, "\\'")}'`,
          "-f",
          RESTORE_METADATA_SCRIPT,
        ],
        env: { NEO4J_PASSWORD: credentials.password },
      },
    },
    {
      what: `start database ${database}`,
      request: cypher(credentials, "system", `START DATABASE \`${database}\``),
    },
    { what: "remove the work directory", request: { argv: ["rm", "-rf", workDir] } },
  ];
}
