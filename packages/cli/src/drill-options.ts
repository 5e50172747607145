import type { DrillUserCheck } from "@infrahub-backup/core";
import { BackupError } from "@infrahub-backup/core";
import type { MonitoringOptions } from "./monitoring/monitoring-options.js";
import {
  bool,
  duration,
  type FlagSpec,
  type HostEnvironment,
  resolveFlags,
  sourceOf,
  str,
} from "./options.js";
import type { ArchiveSource, GlobalOptions } from "./parse.js";

/** `drill`'s own flags (the storage flags are global). */
export const DRILL_FLAGS = {
  "decrypt-key": { type: "string", describe: "Private key (PKCS#8 PEM) for .tar.gz.enc archives" },
  "exclude-taskmanager": {
    type: "boolean",
    env: false,
    describe: "Do not load the Prefect dump (it is still verified)",
  },
  latest: {
    type: "boolean",
    env: false,
    describe: "Drill the newest archive (local directory, or S3 with --s3)",
  },
  s3: { type: "boolean", env: false, describe: "With --latest: look in --s3-bucket/--s3-prefix" },
  "drill-neo4j-home": {
    type: "string",
    describe: "NEO4J_HOME of a Neo4j 5.26 installation the throwaway graph database runs from",
    defaultText: "$NEO4J_HOME",
  },
  "drill-neo4j-heap": {
    type: "string",
    describe: "Heap of the throwaway Neo4j, e.g. 2g",
    defaultText: "512m",
  },
  "drill-neo4j-pagecache": {
    type: "string",
    describe: "Page cache of the throwaway Neo4j, e.g. 1g",
    defaultText: "256m",
  },
  "drill-pg-bin": {
    type: "string",
    describe:
      "PostgreSQL's bin directory (initdb, postgres, pg_restore, psql) for the throwaway task-manager database; needed when the archive has a Prefect dump",
  },
  "drill-pg-user": {
    type: "string",
    describe: "OS user the throwaway PostgreSQL runs as when infrahub-backup runs as root",
    defaultText: "postgres, else nobody",
  },
  "drill-work-dir": {
    type: "string",
    describe: "Where the drill's temp directory is made (room for both loaded databases; removed at the end)",
    defaultText: "the OS temp directory",
  },
  "drill-exchange-dir": {
    type: "string",
    describe:
      "Run the throwaway databases in the drill pod's neo4j and postgres containers (drill-agent.sh), through this directory shared with them, instead of from --drill-neo4j-home / --drill-pg-bin",
  },
  "drill-agent-timeout": {
    type: "string",
    describe: "With --drill-exchange-dir: how long the agents' containers may take to show up (Go duration)",
    defaultText: "10m",
  },
  "drill-start-timeout": {
    type: "string",
    describe: "How long the throwaway Neo4j may take to serve the loaded database (Go duration)",
    defaultText: "3m",
  },
  "check-cypher": {
    type: "string",
    env: false,
    describe: "A Cypher check: 'QUERY==EXPECTED' (expected output as cypher-shell's plain rows print it)",
  },
  "check-sql": {
    type: "string",
    env: false,
    describe: "An SQL check on the Prefect database: 'QUERY==EXPECTED' (psql's unaligned rows)",
  },
  "checks-file": {
    type: "string",
    env: "INFRAHUB_DRILL_CHECKS_FILE",
    describe: 'JSON file of checks: [{"name": …, "cypher" | "sql": …, "expect": …}, …]',
  },
} as const satisfies Record<string, FlagSpec>;

/** `drill`, parsed. */
export interface DrillCommand {
  command: "drill";
  global: GlobalOptions;
  source: ArchiveSource;
  decryptKey: string | undefined;
  excludeTaskManager: boolean;
  neo4jHome: string | undefined;
  neo4jHeap: string | undefined;
  neo4jPageCache: string | undefined;
  pgBin: string | undefined;
  pgUser: string | undefined;
  workDir: string | undefined;
  exchangeDir: string | undefined;
  agentTimeoutMs: number;
  startTimeoutMs: number;
  /** From --check-cypher and --check-sql; --checks-file is read when the command runs. */
  checks: DrillUserCheck[];
  checksFile: string | undefined;
  monitoring: MonitoringOptions;
}

const DEFAULT_START_TIMEOUT_MS = 180_000;
const DEFAULT_AGENT_TIMEOUT_MS = 600_000;

/** `QUERY==EXPECTED`, split at the last `==` (neither Cypher nor SQL compares with `==`). */
function flagCheck(value: string | undefined, kind: "cypher" | "sql"): DrillUserCheck[] {
  if (value === undefined) return [];
  const at = value.lastIndexOf("==");
  const query = at < 0 ? "" : value.slice(0, at).trim();
  if (query === "") {
    throw new BackupError(
      "INVALID_ARGUMENT",
      `--check-${kind} needs QUERY==EXPECTED, got ${JSON.stringify(value)}`,
      {
        hint: `e.g. --check-${kind} '${kind === "cypher" ? "MATCH (n:Root) RETURN count(n)" : "SELECT count(*) FROM flow_run"}==1'`,
      },
    );
  }
  return [{ name: `${kind}-flag`, [kind]: query, expect: value.slice(at + 2).trim() }];
}

/** Builds the drill command from yargs' raw arguments (global, source and monitoring options resolved by the caller). */
export function parseDrill(
  raw: Record<string, unknown>,
  env: HostEnvironment,
  resolve: {
    global: GlobalOptions;
    source: (latest: boolean, s3: boolean) => ArchiveSource;
    monitoring: MonitoringOptions;
  },
): DrillCommand {
  const f = resolveFlags(raw, DRILL_FLAGS, env);
  const from = (flag: keyof typeof DRILL_FLAGS) => sourceOf(raw, flag, DRILL_FLAGS[flag]);
  return {
    command: "drill",
    global: resolve.global,
    source: resolve.source(bool(f.latest), bool(f.s3)),
    decryptKey: str(f["decrypt-key"]),
    excludeTaskManager: bool(f["exclude-taskmanager"]),
    neo4jHome: str(f["drill-neo4j-home"]) ?? str(env.NEO4J_HOME),
    neo4jHeap: str(f["drill-neo4j-heap"]),
    neo4jPageCache: str(f["drill-neo4j-pagecache"]),
    pgBin: str(f["drill-pg-bin"]),
    pgUser: str(f["drill-pg-user"]),
    workDir: str(f["drill-work-dir"]),
    exchangeDir: str(f["drill-exchange-dir"]),
    agentTimeoutMs: duration(f["drill-agent-timeout"], from("drill-agent-timeout"), DEFAULT_AGENT_TIMEOUT_MS),
    startTimeoutMs: duration(f["drill-start-timeout"], from("drill-start-timeout"), DEFAULT_START_TIMEOUT_MS),
    checks: [...flagCheck(str(f["check-cypher"]), "cypher"), ...flagCheck(str(f["check-sql"]), "sql")],
    checksFile: str(f["checks-file"]),
    monitoring: resolve.monitoring,
  };
}
