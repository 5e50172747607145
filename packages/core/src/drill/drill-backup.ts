import type { KeyObject } from "node:crypto";
import { rmSync } from "node:fs";
import { chmod, mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import type { Readable } from "node:stream";
import { type ArchiveFileEntry, readArchive } from "../archive/archive-reader.js";
import { NEO4J_DUMP_MAGICS } from "../engines/neo4j/offline.js";
import { PG_DUMP_MAGIC } from "../engines/postgres/postgres-engine.js";
import { BackupError, isBackupError } from "../errors.js";
import { checked, fedFrom, pipeline } from "../operations/dump-check.js";
import { type EventSink, ignoreEvents } from "../operations/events.js";
import type { BackupStore } from "../storage/backup-store.js";
import {
  type DrillCheckResult,
  type DrillUserCheck,
  graphChecks,
  taskManagerChecks,
  userCheck,
} from "./drill-checks.js";
import { agentDrillHost, type DrillHost, localDrillHost } from "./drill-host.js";
import { DrillExchange, type DrillExchangeOptions, type ExchangeAgent } from "./exchange-agent.js";
import { untilExit } from "./server-process.js";
import { type DrillNeo4jOptions, ThrowawayNeo4j } from "./throwaway-neo4j.js";
import { type DrillPostgresOptions, ThrowawayPostgres } from "./throwaway-postgres.js";

/** Options of drillBackup. The live deployment is never involved: only the store is read. */
export interface DrillBackupOptions {
  /** Where the archive is read from. */
  store: BackupStore;
  /** The archive's name in the store. */
  name: string;
  /**
   * The Neo4j installation the throwaway graph database runs from. With `exchange`, `home` defaults to
   * the neo4j agent's $NEO4J_HOME.
   */
  neo4j: Omit<DrillNeo4jOptions, "home"> & { home?: string };
  /**
   * The PostgreSQL installation for the task-manager database; needed when the archive has its dump. With
   * `exchange`, the postgres agent's (`binDir` defaults to where its `initdb` is).
   */
  postgres?: DrillPostgresOptions;
  /**
   * Run the databases in other containers of the drill pod, through the agents there
   * (charts/infrahub-backup/files/drill-agent.sh) and the directory shared with them, instead of as local
   * processes. `workDir` is not used then.
   */
  exchange?: DrillExchangeOptions;
  /** Private key for `.tar.gz.enc` archives. */
  decryptKey?: string | KeyObject;
  /** Leave the task-manager dump out (it is still verified when present). */
  excludeTaskManager?: boolean;
  /** The user's checks, run after the built-in ones. */
  checks?: readonly DrillUserCheck[];
  /**
   * Where the drill's temp directory (both stores, configuration, logs) is made; it needs room for the
   * loaded databases and is removed on every exit path. Default: the OS temp directory.
   */
  workDir?: string;
  /** Aborts the drill (rejects with the signal's reason); the databases are stopped and removed. */
  signal?: AbortSignal;
  /** Receives every progress event (OperationEvent). Default: none. */
  onEvent?: EventSink;
}

/** What a drill found. */
export interface DrillBackupResult {
  /** Where the archive was read from. */
  location: string;
  /** From its metadata. */
  backupId: string;
  /** From its metadata. */
  infrahubVersion: string;
  /** True when no check failed (`unknown` is not a failure). */
  ok: boolean;
  /** Every check, built-in first, in order. */
  checks: DrillCheckResult[];
  /** The task-manager database: loaded, absent from the archive, or left out (`excludeTaskManager`). */
  postgres: "loaded" | "no-dump" | "excluded";
  /** Wall-clock durations in milliseconds. */
  durations: { totalMs: number; loadMs: number; startMs: number; checksMs: number };
}

const LOAD_HINT =
  "the archive's checksums are right, but this dump is not a loadable database: this backup cannot be restored; take a new backup and drill it";

/**
 * Restores an archive into throwaway Neo4j and PostgreSQL instances started for it (free loopback ports,
 * a temp directory), checks that both serve and hold Infrahub's data, then removes them — on success,
 * failure and abort alike. One pass over the archive: every checksum is verified while the dumps load.
 * Rejects with DRILL_LOAD_FAILED when a dump does not load or the loaded graph does not start; failed
 * checks are in the result (`ok: false`), not an error.
 */
export async function drillBackup(options: DrillBackupOptions): Promise<DrillBackupResult> {
  const started = Date.now();
  const onEvent = options.onEvent ?? ignoreEvents;
  const { store, name, signal } = options;
  const sig = signal ? { signal } : {};
  const info = await store.head(name);
  const exchange = options.exchange ? await DrillExchange.open(options.exchange) : undefined;
  let root: string;
  if (exchange) {
    root = join(exchange.dir, `infrahub-backup-drill-${process.pid}`);
    await mkdir(root, { recursive: true });
  } else {
    const parent = options.workDir ?? tmpdir();
    await mkdir(parent, { recursive: true });
    root = await mkdtemp(join(parent, "infrahub-backup-drill-"));
    // PostgreSQL runs unprivileged when this process is root: it must reach its own directory.
    if (process.getuid?.() === 0) await chmod(root, 0o711);
  }
  const drillId = basename(root);
  const withdrawRemoval = untilExit(() => rmSync(root, { recursive: true, force: true }));
  const agents = exchange
    ? { neo4j: exchange.agent("neo4j"), postgres: exchange.agent("postgres") }
    : undefined;
  const neo4jHost: DrillHost = agents ? agentDrillHost(agents.neo4j) : localDrillHost;
  const postgresHost: DrillHost = agents ? agentDrillHost(agents.postgres) : localDrillHost;
  let neo4j: ThrowawayNeo4j | undefined;
  let postgres: ThrowawayPostgres | undefined;
  try {
    onEvent({
      type: "phase-started",
      phase: "drill-load",
      subject: { location: info.location, size: info.size },
    });
    const load = async (
      entry: ArchiveFileEntry,
      magics: readonly Buffer[],
      into: (input: Readable) => Promise<void>,
    ) => {
      const refuse = (head: Buffer) =>
        new BackupError(
          "DRILL_LOAD_FAILED",
          `${entry.path} does not start like a dump: ${JSON.stringify(head.toString("latin1"))}`,
          { hint: LOAD_HINT },
        );
      try {
        await fedFrom(entry, into(pipeline(entry.body, checked(entry.path, magics, onEvent, refuse))));
      } catch (error) {
        if (signal?.aborted || !isBackupError(error, "DATABASE_COMMAND_FAILED")) throw error;
        throw new BackupError("DRILL_LOAD_FAILED", `${entry.path} does not load: ${error.message}`, {
          cause: error,
          hint: LOAD_HINT,
        });
      }
    };
    const state: { postgres: DrillBackupResult["postgres"] } = {
      postgres: options.excludeTaskManager ? "excluded" : "no-dump",
    };
    const report = await readArchive(await store.get(name, { pin: info, ...sig }), {
      ...(options.decryptKey !== undefined ? { decryptKey: options.decryptKey } : {}),
      ...(options.excludeTaskManager ? { excludeTaskManager: true } : {}),
      ...sig,
      onEntry: async (entry) => {
        if (entry.path === "prefect.dump") {
          if (options.excludeTaskManager) return;
          const pgOptions = agents
            ? { binDir: await agentCommandDir(agents.postgres, "initdb"), ...options.postgres }
            : options.postgres;
          if (!pgOptions) {
            throw new BackupError(
              "DRILL_SETUP_FAILED",
              "the archive has a task-manager dump, but no PostgreSQL installation was given",
              {
                hint: "give PostgreSQL's bin directory with --drill-pg-bin (INFRAHUB_DRILL_PG_BIN), or leave the dump out with --exclude-taskmanager",
              },
            );
          }
          const pgDir = agents ? agents.postgres.workDir : join(root, "postgres");
          if (!agents) await mkdir(pgDir);
          const cluster = await ThrowawayPostgres.start(pgDir, pgOptions, drillId, signal, postgresHost);
          postgres = cluster;
          const loadStarted = Date.now();
          onEvent({
            type: "phase-started",
            phase: "restore-postgres",
            subject: { database: cluster.credentials.database },
          });
          await load(entry, [PG_DUMP_MAGIC], (input) => cluster.restore(input, entry.size, signal));
          onEvent({
            type: "phase-finished",
            phase: "restore-postgres",
            durationMs: Date.now() - loadStarted,
            bytes: entry.size,
            subject: { database: cluster.credentials.database },
          });
          state.postgres = "loaded";
          return;
        }
        if (!entry.path.startsWith("database/")) return;
        const dump = /^database\/([^/]+)\.dump$/.exec(entry.path)?.[1];
        if (dump === undefined || neo4j) {
          throw new BackupError(
            "INCOMPATIBLE_BACKUP",
            `${entry.path}: a drill loads one Community dump (database/<db>.dump); this archive holds a Neo4j Enterprise online backup`,
            {
              hint: "drill Community archives; restore Enterprise backups into a Neo4j Enterprise test deployment",
            },
          );
        }
        const neo4jDir = agents ? agents.neo4j.workDir : join(root, "neo4j");
        if (!agents) await mkdir(neo4jDir);
        const home = options.neo4j.home ?? (agents ? await agentHome(agents.neo4j) : undefined);
        if (home === undefined) {
          throw new BackupError("DRILL_SETUP_FAILED", "no Neo4j installation was given", {
            hint: "give its NEO4J_HOME with --drill-neo4j-home (INFRAHUB_DRILL_NEO4J_HOME)",
          });
        }
        const instance = await ThrowawayNeo4j.prepare(
          neo4jDir,
          dump,
          { ...options.neo4j, home },
          drillId,
          signal,
          neo4jHost,
        );
        neo4j = instance;
        const loadStarted = Date.now();
        onEvent({ type: "phase-started", phase: "load-neo4j", subject: { database: dump } });
        await load(entry, NEO4J_DUMP_MAGICS, (input) => instance.load(input, entry.size, signal));
        onEvent({
          type: "phase-finished",
          phase: "load-neo4j",
          durationMs: Date.now() - loadStarted,
          bytes: entry.size,
          subject: { database: dump },
        });
      },
    });
    const loadMs = Date.now() - started;
    onEvent({
      type: "phase-finished",
      phase: "drill-load",
      durationMs: loadMs,
      bytes: info.size,
      subject: { location: info.location, backupId: report.metadata.backupId },
    });
    const graph = neo4j as ThrowawayNeo4j | undefined;
    if (!graph)
      throw new BackupError("ARCHIVE_MISSING_FILE", "the archive holds no Neo4j dump under backup/database/");
    if (state.postgres !== "loaded")
      onEvent({ type: "drill-skipped", component: "postgres", reason: state.postgres });

    const startStarted = Date.now();
    onEvent({
      type: "phase-started",
      phase: "drill-start",
      subject: { database: graph.credentials.database },
    });
    await graph.start(signal);
    const startMs = Date.now() - startStarted;
    onEvent({
      type: "phase-finished",
      phase: "drill-start",
      durationMs: startMs,
      subject: { database: graph.credentials.database },
    });

    const checksStarted = Date.now();
    onEvent({ type: "phase-started", phase: "drill-checks" });
    const checks: DrillCheckResult[] = [];
    const record = (check: DrillCheckResult) => {
      checks.push(check);
      onEvent({ type: "drill-check", check });
    };
    const cypher = (query: string) => graph.query(query, signal);
    const cluster = postgres as ThrowawayPostgres | undefined;
    const sql = cluster ? (query: string) => cluster.query(query) : undefined;
    for (const check of await graphChecks(cypher)) record(check);
    if (sql) for (const check of await taskManagerChecks(sql)) record(check);
    let n = 0;
    for (const check of options.checks ?? []) {
      n += 1;
      const kind = check.cypher !== undefined ? "cypher" : "sql";
      record(await userCheck(check, check.name ?? `${kind}-${n}`, kind === "cypher" ? cypher : sql));
    }
    const checksMs = Date.now() - checksStarted;
    onEvent({ type: "phase-finished", phase: "drill-checks", durationMs: checksMs });
    return {
      location: info.location,
      backupId: report.metadata.backupId,
      infrahubVersion: report.metadata.infrahubVersion,
      ok: checks.every((check) => check.status !== "failed"),
      checks,
      postgres: state.postgres,
      durations: { totalMs: Date.now() - started, loadMs, startMs, checksMs },
    };
  } finally {
    const graph = neo4j as ThrowawayNeo4j | undefined;
    const cluster = postgres as ThrowawayPostgres | undefined;
    // Both are stopped whatever the other does; a stop that failed has killed its process group anyway.
    await Promise.allSettled([graph?.stop(), cluster?.stop()]);
    await exchange?.close();
    await rm(root, { recursive: true, force: true, maxRetries: 3 });
    withdrawRemoval();
  }
}

/** The agent's $NEO4J_HOME (the official image's /var/lib/neo4j). */
async function agentHome(agent: ExchangeAgent): Promise<string> {
  return await agentAnswer(agent, 'printf %s "$NEO4J_HOME"', "NEO4J_HOME is not set");
}

/** The directory of `command` on the agent's PATH (the official PostgreSQL image has its bin dir there). */
async function agentCommandDir(agent: ExchangeAgent, command: string): Promise<string> {
  return await agentAnswer(agent, `dirname "$(command -v ${command})"`, `no ${command} on its PATH`);
}

async function agentAnswer(agent: ExchangeAgent, script: string, missing: string): Promise<string> {
  const result = await agent.executor({}).exec({ argv: ["sh", "-c", script], timeoutMs: 60_000 });
  const answer = result.stdout.toString("utf8").trim();
  if (result.exitCode !== 0 || answer === "" || answer === ".") {
    throw new BackupError("DRILL_SETUP_FAILED", `the drill's ${agent.name} container: ${missing}`, {
      hint: "run the drill's database containers from the official neo4j and postgres images (or images with the same layout)",
    });
  }
  return answer;
}
