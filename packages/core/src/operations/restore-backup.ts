import type { KeyObject } from "node:crypto";
import { randomUUID } from "node:crypto";
import { type ArchiveFileEntry, type ArchiveReport, readArchive } from "../archive/archive-reader.js";
import type { BackupMetadata } from "../archive/backup-metadata.js";
import { cypherShell } from "../engines/neo4j/cypher-shell.js";
import { assertNeo4jDatabaseExists, detectNeo4j, type Neo4jServerInfo } from "../engines/neo4j/edition.js";
import { type FrozenNeo4j, resumeNeo4j } from "../engines/neo4j/freeze.js";
import { loadNeo4j, NEO4J_DUMP_MAGICS } from "../engines/neo4j/offline.js";
import {
  PG_DUMP_MAGIC,
  postgresRestoreMode,
  restorePostgres,
  terminateSessions,
} from "../engines/postgres/postgres-engine.js";
import type { Environment, StoppedServices } from "../environment/environment.js";
import { APP_START_ORDER, APP_STOP_ORDER } from "../environment/services.js";
import { BackupError } from "../errors.js";
import type { BackupStore, ObjectInfo } from "../storage/backup-store.js";
import {
  findNeo4jCredentials,
  findPostgresCredentials,
  freezeNeo4jRetrying,
  type HostEnv,
  waitForNeo4j,
} from "./deployment.js";
import {
  applyEnterpriseRestore,
  assertSingleInstance,
  containerWorkDir,
  stageArtefact,
} from "./enterprise-capture.js";
import { type EventSink, ignoreEvents } from "./events.js";

export interface RestoreBackupOptions {
  environment: Environment;
  store: BackupStore;
  /** The archive's name in the store. */
  name: string;
  freezeHelper: (arch: "amd64" | "arm64") => string;
  hostEnv?: HostEnv;
  /** Private key for `.tar.gz.enc` archives. */
  decryptKey?: string | KeyObject;
  /** Do not restore PostgreSQL even if the archive has a dump (upstream `--exclude-taskmanager`). */
  excludeTaskManager?: boolean;
  /** Give the restored deployment a new deployment id (upstream `--reset-deployment-id`). */
  resetDeploymentId?: boolean;
  /** Convert the restored store to the `block` format (Enterprise only). */
  migrateFormat?: boolean;
  /** Validate and plan, then stop before changing anything. */
  dryRun?: boolean;
  signal?: AbortSignal;
  onEvent?: EventSink;
}

export interface RestorePlan {
  name: string;
  location: string;
  size: number;
  metadata: BackupMetadata;
  neo4j: {
    /** The archive's Neo4j entries: one `<db>.dump` (Community) or the online-backup artefacts (Enterprise). */
    entries: string[];
    bytes: number;
    /** `community-load`: freeze + `neo4j-admin database load`; `enterprise-restore`: stop database + restore + metadata replay. */
    method: "community-load" | "enterprise-restore";
    running: Neo4jServerInfo;
  };
  postgres?: { entry: string; bytes: number; database: string; mode: "recreate" | "in-place" };
  /** What the destructive phase will do, in order. */
  steps: string[];
}

export interface RestoreBackupResult {
  plan: RestorePlan;
  dryRun: boolean;
  durations: { totalMs: number; validateMs: number; neo4jDowntimeMs?: number };
}

type Progress = {
  postgres: "untouched" | "restoring" | "restored";
  neo4j: "untouched" | "loading" | "restored";
};

/** Says in plain words what state the databases are in after a failure in the destructive phase. */
function describeState(progress: Progress, plan: RestorePlan): string {
  const pg = !plan.postgres
    ? "PostgreSQL was not part of this restore"
    : progress.postgres === "restored"
      ? "PostgreSQL was restored from the backup"
      : progress.postgres === "restoring"
        ? "PostgreSQL restore failed part-way: the task-manager database may be missing or incomplete"
        : "PostgreSQL was not touched";
  const neo =
    progress.neo4j === "restored"
      ? "Neo4j was restored from the backup"
      : progress.neo4j === "loading"
        ? "Neo4j load failed part-way: the graph database may be empty or incomplete"
        : "Neo4j was not touched and holds its previous data";
  return `${pg}; ${neo}`;
}

/**
 * Restores an archive onto the deployment. Pass 1 reads and verifies the whole archive (every checksum,
 * the metadata, edition compatibility) and checks the databases are reachable — nothing is changed
 * until all of that passed. Pass 2 reads the same bytes again (pinned) and streams each dump into its
 * load command while re-hashing. On any failure after the first change, services are put back and the
 * error says exactly what state each database is in.
 */
export async function restoreBackup(options: RestoreBackupOptions): Promise<RestoreBackupResult> {
  const started = Date.now();
  const onEvent = options.onEvent ?? ignoreEvents;
  const { environment, store, signal, name } = options;
  const hostEnv = options.hostEnv ?? {};
  const sig = signal ? { signal } : {};
  const readOptions = {
    ...(options.decryptKey !== undefined ? { decryptKey: options.decryptKey } : {}),
    ...(options.excludeTaskManager ? { excludeTaskManager: true } : {}),
    ...sig,
  };

  // Pass 1: validate everything. The deployment's Neo4j is probed meanwhile (read-only; cypher-shell
  // is a JVM that takes seconds to start), but a bad archive is still the error reported first.
  const info: ObjectInfo = await store.head(name);
  onEvent({ type: "step", message: `verifying ${info.location} (${info.size} bytes)` });
  const deploymentProbe = probeDeployment(environment, hostEnv, onEvent);
  deploymentProbe.catch(() => undefined);
  const report: ArchiveReport = await readArchive(await store.get(name, { pin: info, ...sig }), {
    ...readOptions,
    // Beyond checksums: the dumps must be what their load commands expect.
    onEntry: async (entry: ArchiveFileEntry) => {
      const magics =
        entry.path === "prefect.dump"
          ? [PG_DUMP_MAGIC]
          : entry.path.endsWith(".dump")
            ? NEO4J_DUMP_MAGICS
            : [];
      if (magics.length === 0) return;
      const head = await firstBytes(entry, 5);
      if (!magics.some((m) => head.subarray(0, m.length).equals(m))) {
        throw new BackupError(
          "ARCHIVE_CORRUPT",
          `${entry.path} does not start like a ${entry.path === "prefect.dump" ? "pg_dump custom-format archive" : "Neo4j dump"}`,
          {
            hint: "the archive is not restorable; nothing was changed",
          },
        );
      }
    },
  }).catch(async (error: unknown) => {
    await deploymentProbe.catch(() => undefined);
    throw error;
  });
  const validateMs = Date.now() - started;
  const metadata = report.metadata;
  onEvent({
    type: "step",
    message: `archive verified in ${validateMs} ms`,
    fields: { backupId: metadata.backupId },
  });

  const { neo4jCredentials, databaseExec, running } = await deploymentProbe;
  const files = report.entries.filter((e) => e.type === "file" && e.path.startsWith("database/"));
  const isDump = files.length === 1 && files[0]?.path.endsWith(".dump") === true;
  const method: RestorePlan["neo4j"]["method"] =
    metadata.neo4jEdition === "enterprise" || !isDump ? "enterprise-restore" : "community-load";
  if (files.length === 0) {
    throw new BackupError("ARCHIVE_MISSING_FILE", "the archive holds no Neo4j data under backup/database/");
  }
  if (method === "enterprise-restore" && running.edition === "community") {
    throw new BackupError(
      "INCOMPATIBLE_BACKUP",
      "cannot restore Enterprise backup on Community edition Neo4j",
      {
        hint: "restore it on Neo4j Enterprise; nothing was changed",
      },
    );
  }
  const dumpEntry = method === "community-load" ? files[0] : undefined;
  const expectedDump = `database/${neo4jCredentials.database}.dump`;
  if (dumpEntry && dumpEntry.path !== expectedDump) {
    throw new BackupError(
      "INCOMPATIBLE_BACKUP",
      `the archive's Neo4j dump is ${dumpEntry.path}, but the deployment's database is ${neo4jCredentials.database}`,
      { hint: "set INFRAHUB_DB_DATABASE to the database the backup was taken from; nothing was changed" },
    );
  }
  if (options.migrateFormat && method !== "enterprise-restore") {
    throw new BackupError(
      "INVALID_ARGUMENT",
      "--migrate-format converts a restored Enterprise backup to the block format; it does not apply to a Community dump",
      { hint: "drop --migrate-format; nothing was changed" },
    );
  }
  if (method === "enterprise-restore") await assertSingleInstance(databaseExec, neo4jCredentials);
  const enterpriseFiles = method === "enterprise-restore" ? files : [];
  const workDir = containerWorkDir();

  const pgEntry = options.excludeTaskManager
    ? undefined
    : report.entries.find((e) => e.type === "file" && e.path === "prefect.dump");
  let postgres: RestorePlan["postgres"];
  const postgresCredentials = pgEntry
    ? await findPostgresCredentials(environment, hostEnv, onEvent)
    : undefined;
  const postgresExec = pgEntry ? await environment.executor("task-manager-db") : undefined;
  if (pgEntry && postgresCredentials && postgresExec) {
    const mode = await postgresRestoreMode(postgresExec, postgresCredentials);
    postgres = { entry: pgEntry.path, bytes: pgEntry.size, database: postgresCredentials.database, mode };
  }
  const runtime = await environment.neo4jRuntime();

  const steps = [
    `stop running application services (${APP_STOP_ORDER.join(", ")})`,
    ...(postgres
      ? [
          `restore PostgreSQL database ${postgres.database} from ${postgres.entry} (${postgres.mode === "recreate" ? "drop and recreate" : "clean objects in place"})`,
        ]
      : []),
    dumpEntry
      ? `pause Neo4j and load ${dumpEntry.path} into database ${neo4jCredentials.database} (overwrites it)`
      : `stop database ${neo4jCredentials.database}, neo4j-admin restore of ${files.length} artefact(s) (overwrites it)${options.migrateFormat ? ", migrate to block format" : ""}, replay users and roles, start it`,
    ...(options.resetDeploymentId ? ["give the deployment a new deployment id"] : []),
    "start the application services again",
  ];
  const plan: RestorePlan = {
    name,
    location: info.location,
    size: info.size,
    metadata,
    neo4j: {
      entries: files.map((f) => f.path),
      bytes: files.reduce((sum, f) => sum + f.size, 0),
      method,
      running,
    },
    ...(postgres ? { postgres } : {}),
    steps,
  };
  onEvent({ type: "step", message: "restore plan", fields: { steps } });
  if (options.dryRun) {
    return { plan, dryRun: true, durations: { totalMs: Date.now() - started, validateMs } };
  }

  // Destructive phase.
  const progress: Progress = { postgres: "untouched", neo4j: "untouched" };
  let stopped: StoppedServices | undefined;
  let frozen: FrozenNeo4j | undefined;
  let neo4jDowntimeMs: number | undefined;
  const adminUser = runtime.adminUser ? { user: runtime.adminUser } : {};
  const bringBack = async (): Promise<string[]> => {
    const problems: string[] = [];
    if (frozen) {
      const thaw = frozen;
      frozen = undefined;
      try {
        await resumeNeo4j(databaseExec, thaw);
        await waitForNeo4j(environment, neo4jCredentials, sig);
        neo4jDowntimeMs = Date.now() - thaw.frozenAt;
      } catch (error) {
        problems.push(`Neo4j did not come back: ${(error as Error).message}`);
      }
    }
    if (stopped) {
      const back = stopped;
      stopped = undefined;
      try {
        await environment.start(back, APP_START_ORDER);
      } catch (error) {
        problems.push((error as Error).message);
      }
    }
    return problems;
  };

  // Community: Neo4j's clean shutdown (seconds of JVM work) overlaps the PostgreSQL restore when the
  // dump comes second; the application services are stopped by then, so nothing is served meanwhile.
  let freezing: Promise<FrozenNeo4j> | undefined;
  const startFreeze = (): Promise<FrozenNeo4j> => {
    freezing ??= freezeNeo4jRetrying(environment, neo4jCredentials, {
      pidFile: runtime.pidFile,
      helperPath: options.freezeHelper,
      onEvent,
      ...sig,
    }).then((f) => {
      frozen = f;
      return f;
    });
    freezing.catch(() => undefined);
    return freezing;
  };

  try {
    onEvent({ type: "step", message: "stopping application services" });
    stopped = await environment.stop(APP_STOP_ORDER);
    await readArchive(await store.get(name, { pin: info, ...sig }), {
      ...readOptions,
      onEntry: async (entry: ArchiveFileEntry) => {
        if (postgres && postgresExec && postgresCredentials && entry.path === postgres.entry) {
          onEvent({ type: "step", message: `restoring PostgreSQL database ${postgres.database}` });
          progress.postgres = "restoring";
          // Open sessions would block DROP DATABASE; a database that is already gone has none.
          await terminateSessions(postgresExec, postgresCredentials).catch(() => undefined);
          if (dumpEntry) void startFreeze();
          await restorePostgres(postgresExec, postgresCredentials, entry.body, entry.size, {
            mode: postgres.mode,
            ...sig,
          });
          await entry.digest;
          progress.postgres = "restored";
        } else if (enterpriseFiles.some((f) => f.path === entry.path)) {
          // Staged first; applied only after the whole second pass verified.
          await stageArtefact(
            databaseExec,
            workDir,
            entry.path.slice("database/".length),
            entry.body,
            entry.size,
            signal,
          );
          await entry.digest;
        } else if (dumpEntry && entry.path === dumpEntry.path) {
          onEvent({ type: "step", message: `loading Neo4j database ${neo4jCredentials.database}` });
          await startFreeze();
          progress.neo4j = "loading";
          await loadNeo4j(databaseExec, neo4jCredentials.database, entry.body, entry.size, {
            ...adminUser,
            ...sig,
          });
          await entry.digest;
          progress.neo4j = "restored";
        }
      },
    });
    if (method === "enterprise-restore") {
      progress.neo4j = "loading";
      await applyEnterpriseRestore(databaseExec, neo4jCredentials, workDir, {
        ...(options.migrateFormat ? { migrateFormat: true } : {}),
        ...(runtime.adminUser ? { adminUser: runtime.adminUser } : {}),
        onEvent,
        ...sig,
      });
      progress.neo4j = "restored";
      await waitForNeo4j(environment, neo4jCredentials, sig);
    }
    if (options.resetDeploymentId)
      await resetDeploymentId(environment, neo4jCredentials, bringBackNeo4jFirst);
    const problems = await bringBack();
    if (problems.length > 0) {
      throw new BackupError("SERVICES_NOT_RESTORED", `restore applied, but ${problems.join("; ")}`, {
        hint: "both databases hold the backup's data; start the services by hand",
      });
    }
    onEvent({ type: "step", message: "restore completed" });
    return {
      plan,
      dryRun: false,
      durations: {
        totalMs: Date.now() - started,
        validateMs,
        ...(neo4jDowntimeMs !== undefined ? { neo4jDowntimeMs } : {}),
      },
    };
  } catch (error) {
    if (error instanceof BackupError && error.code === "SERVICES_NOT_RESTORED") throw error;
    // A freeze still under way must have finished (or failed) before bringBack can thaw it.
    await freezing?.catch(() => undefined);
    if (method === "enterprise-restore") {
      await databaseExec.exec({ argv: ["rm", "-rf", workDir] }).catch(() => undefined);
      if (progress.neo4j === "loading") {
        // Whatever the store holds now, a stopped database helps nobody: try to start it again.
        await cypherShell(databaseExec, neo4jCredentials, `START DATABASE \`${neo4jCredentials.database}\``, {
          database: "system",
        }).catch(() => undefined);
      }
    }
    const problems = await bringBack();
    const state = describeState(progress, plan);
    const untouched = progress.postgres === "untouched" && progress.neo4j === "untouched";
    throw new BackupError(
      untouched && problems.length === 0
        ? error instanceof BackupError
          ? error.code
          : "INTERNAL"
        : "RESTORE_PARTIAL",
      `restore failed: ${error instanceof Error ? error.message : String(error)}. ${state}.${
        problems.length > 0
          ? ` Services not brought back: ${problems.join("; ")}.`
          : " Services were started again."
      }`,
      { cause: error, details: { postgres: progress.postgres, neo4j: progress.neo4j } },
    );
  }

  async function bringBackNeo4jFirst(): Promise<void> {
    if (frozen) {
      const thaw = frozen;
      frozen = undefined;
      await resumeNeo4j(databaseExec, thaw);
      neo4jDowntimeMs = Date.now() - thaw.frozenAt;
    }
    await waitForNeo4j(environment, neo4jCredentials, sig);
  }
}

/** Sets a new uuid on the :Root node (upstream #126), once Neo4j serves again, before the app starts. */
async function resetDeploymentId(
  environment: Environment,
  credentials: Awaited<ReturnType<typeof findNeo4jCredentials>>,
  neo4jUp: () => Promise<void>,
): Promise<void> {
  await neo4jUp();
  const executor = await environment.executor("database");
  const output = await cypherShell(
    executor,
    credentials,
    "MATCH (r:Root) SET r.uuid = $new_uuid, r.updated_at = $updated_at RETURN count(r) AS updated",
    { params: { new_uuid: randomUUID(), updated_at: new Date().toISOString().replace(/\.\d{3}Z$/, "Z") } },
  );
  if (!/\b1\b/.test(output)) {
    throw new BackupError(
      "DATABASE_COMMAND_FAILED",
      `expected one :Root node to reset, got: ${output.trim()}`,
    );
  }
}

/** The first `n` bytes of an entry (fewer if it is shorter); the reader drains and hashes the rest. */
async function firstBytes(entry: ArchiveFileEntry, n: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let length = 0;
  for await (const chunk of entry.body) {
    chunks.push(chunk as Buffer);
    length += (chunk as Buffer).length;
    if (length >= n) break;
  }
  return Buffer.concat(chunks).subarray(0, n);
}

/** Neo4j's credentials, executor and server info, with the user database checked to exist. */
async function probeDeployment(environment: Environment, hostEnv: HostEnv, onEvent: EventSink) {
  const neo4jCredentials = await findNeo4jCredentials(environment, hostEnv, onEvent);
  const databaseExec = await environment.executor("database");
  const checks = [
    detectNeo4j(databaseExec, neo4jCredentials),
    assertNeo4jDatabaseExists(databaseExec, neo4jCredentials),
  ] as const;
  // Both run at once; a failure of the first is the one reported, as when they ran in turn.
  for (const outcome of await Promise.allSettled(checks))
    if (outcome.status === "rejected") throw outcome.reason;
  return { neo4jCredentials, databaseExec, running: await checks[0] };
}
