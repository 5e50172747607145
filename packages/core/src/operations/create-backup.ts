import type { KeyObject } from "node:crypto";
import { pipeline as pipe, type Readable, Transform } from "node:stream";
import type { ArchiveSink } from "../archive/archive-sink.js";
import { ArchiveWriter, type WrittenEntry } from "../archive/archive-writer.js";
import { type BackupMetadata, formatCreatedAt } from "../archive/backup-metadata.js";
import { EncryptingSink } from "../archive/encryption.js";
import { assertNeo4jDatabaseExists, detectNeo4j, type Neo4jServerInfo } from "../engines/neo4j/edition.js";
import { type FrozenNeo4j, resumeNeo4j } from "../engines/neo4j/freeze.js";
import { dumpNeo4j, NEO4J_DUMP_MAGICS } from "../engines/neo4j/offline.js";
import { dumpPostgres, PG_DUMP_MAGIC, probePostgres } from "../engines/postgres/postgres-engine.js";
import type { Environment, StoppedServices } from "../environment/environment.js";
import { APP_START_ORDER, APP_STOP_ORDER } from "../environment/services.js";
import { BackupError } from "../errors.js";
import { formatArchiveName } from "../storage/archive-name.js";
import type { BackupStore } from "../storage/backup-store.js";
import {
  findNeo4jCredentials,
  findPostgresCredentials,
  freezeNeo4jRetrying,
  type HostEnv,
  probeInfrahubVersion,
  waitForNeo4j,
} from "./deployment.js";
import { captureEnterprise } from "./enterprise-capture.js";
import { type EventSink, ignoreEvents, type OperationEvent } from "./events.js";
import { redactAttributeValues } from "./redact.js";
import { waitForIdleTasks } from "./running-tasks.js";

export interface CreateBackupOptions {
  environment: Environment;
  store: BackupStore;
  /** Written as `tool_version`. */
  toolVersion: string;
  /** Local path of the Neo4j freeze helper for a container architecture (Community only). */
  freezeHelper: (arch: "amd64" | "arm64") => string;
  /** Variables of the host that take precedence over the containers' (INFRAHUB_DB_*, PREFECT_*). */
  hostEnv?: HostEnv;
  /** Do not wait for Infrahub's running tasks; confirms `redact`. As upstream `--force`. */
  force?: boolean;
  /** How long to wait for running tasks before giving up (TASKS_RUNNING). Default 30 min. */
  taskWaitTimeoutMs?: number;
  /**
   * Upstream `--redact`: replace every attribute value in the LIVE graph with a random UUID before the
   * backup. Destructive; requires `force`.
   */
  redact?: boolean;
  /** Enterprise: `--include-metadata` of the online backup (`all`, `none`, `users`, `roles`). Default `all`. */
  neo4jMetadata?: string;
  /** Skip the PostgreSQL (task-manager) dump, as upstream `--exclude-taskmanager`. */
  excludeTaskManager?: boolean;
  /** Encrypt to this recipient public key (upstream ECIES v2); the name gets `.enc`. */
  encryptTo?: KeyObject;
  /** Expected archive size: sizes S3 parts and drives the local free-space preflight. */
  sizeHint?: number;
  /** Clock for the archive name and `created_at`. Default: now. */
  now?: () => Date;
  signal?: AbortSignal;
  onEvent?: EventSink;
}

export interface CreateBackupResult {
  name: string;
  location: string;
  size: number;
  metadata: BackupMetadata;
  entries: WrittenEntry[];
  neo4j: Neo4jServerInfo;
  durations: {
    totalMs: number;
    /** Community: from Neo4j's stop until it answered queries again. */
    neo4jDowntimeMs?: number;
    /** Application services stopped until started again. */
    servicesDownMs?: number;
  };
}

/**
 * Passes an entry's bytes through, checking that it starts like what its load command expects (a stray
 * log line on a dump's stdout would otherwise be archived as data), and emits progress every few MiB.
 */
function checked(entry: string, magics: readonly Buffer[], onEvent: EventSink): Transform {
  let bytes = 0;
  let reported = 0;
  let head = Buffer.alloc(0);
  const need = Math.max(...magics.map((m) => m.length));
  return new Transform({
    transform(chunk: Buffer, _enc, callback) {
      if (head.length < need) {
        head = Buffer.concat([head, chunk.subarray(0, need - head.length)]);
        if (head.length >= need && !magics.some((m) => head.subarray(0, m.length).equals(m))) {
          callback(
            new BackupError(
              "DATABASE_COMMAND_FAILED",
              `${entry} does not start like a dump: ${JSON.stringify(head.toString("latin1"))}`,
              {
                hint: "something other than the dump was written to the command's stdout; nothing was stored",
              },
            ),
          );
          return;
        }
      }
      bytes += chunk.length;
      if (bytes - reported >= 8 * 1024 * 1024) {
        reported = bytes;
        onEvent({ type: "progress", entry, bytes });
      }
      callback(null, chunk);
    },
    flush(callback) {
      onEvent({ type: "progress", entry, bytes });
      callback();
    },
  });
}

/**
 * Creates one archive of the deployment: the PostgreSQL dump first (online), then Neo4j (Community:
 * offline through a freeze, services stopped only for that), streamed into the store. The archive
 * becomes visible only once complete; any failure leaves nothing in the store and the services running.
 */
export async function createBackup(options: CreateBackupOptions): Promise<CreateBackupResult> {
  const started = Date.now();
  const onEvent = options.onEvent ?? ignoreEvents;
  const { environment, store, signal } = options;
  const hostEnv = options.hostEnv ?? {};
  const sig = signal ? { signal } : {};

  if (options.redact && !options.force) {
    throw new BackupError(
      "INVALID_ARGUMENT",
      "--redact rewrites every attribute value of the live database",
      {
        hint: "confirm with --force (and make sure this is a copy you may change)",
      },
    );
  }
  // Preflight: nothing is stopped or written until every check passed.
  onEvent({ type: "step", message: `preflight on ${environment.kind} deployment ${environment.name}` });
  const neo4jCredentials = await findNeo4jCredentials(environment, hostEnv, onEvent);
  const databaseExec = await environment.executor("database");
  const includeTaskManager = !options.excludeTaskManager;
  // The probes are independent and each starts a client (cypher-shell is a JVM: seconds on a busy
  // node), so they run together; results and failures are reported in the order of the checks.
  const probes = [
    detectNeo4j(databaseExec, neo4jCredentials),
    assertNeo4jDatabaseExists(databaseExec, neo4jCredentials),
    includeTaskManager
      ? (async () => {
          const credentials = await findPostgresCredentials(environment, hostEnv, onEvent);
          const exec = await environment.executor("task-manager-db");
          return { credentials, exec, version: await probePostgres(exec, credentials) };
        })()
      : Promise.resolve(undefined),
    probeInfrahubVersion(environment),
    store.check(),
    environment.neo4jRuntime(),
  ] as const;
  const settled = await Promise.allSettled(probes);
  for (const outcome of settled) if (outcome.status === "rejected") throw outcome.reason;
  const [neo4j, , postgresProbe, infrahubVersion, , runtime] = await Promise.all(probes);
  onEvent({ type: "step", message: `Neo4j ${neo4j.version} ${neo4j.edition}`, fields: { ...neo4j } });
  const postgresCredentials = postgresProbe?.credentials;
  const postgresExec = postgresProbe?.exec;
  if (postgresProbe) {
    onEvent({
      type: "step",
      message: `PostgreSQL ${postgresProbe.version}`,
      fields: { database: postgresProbe.credentials.database },
    });
  }
  if (!options.force) {
    await waitForIdleTasks(environment, onEvent, {
      ...(options.taskWaitTimeoutMs !== undefined ? { timeoutMs: options.taskWaitTimeoutMs } : {}),
      ...sig,
    });
  }
  if (options.redact) {
    onEvent({
      type: "warning",
      message: "redacting: every attribute value of the live graph is being replaced",
    });
    await redactAttributeValues(databaseExec, neo4jCredentials);
  }

  const now = (options.now ?? (() => new Date()))();
  const encrypted = options.encryptTo !== undefined;
  const name = formatArchiveName(now, { encrypted });
  const backupId = name.replace(/\.tar\.gz(\.enc)?$/, "");
  onEvent({ type: "step", message: `writing ${store.location(name)}` });

  const target = await store.put(name, { sizeHint: options.sizeHint, signal });
  const sink: ArchiveSink = options.encryptTo ? new EncryptingSink(target, options.encryptTo) : target;
  const writer = new ArchiveWriter(sink, { mtime: now });
  let stopped: StoppedServices | undefined;
  let frozen: FrozenNeo4j | undefined;
  let stoppedAt: number | undefined;
  let neo4jDowntimeMs: number | undefined;
  let servicesDownMs: number | undefined;
  const bringBack = async () => {
    const problems: string[] = [];
    if (frozen) {
      const thaw = frozen;
      frozen = undefined;
      try {
        await resumeNeo4j(databaseExec, thaw);
        await waitForNeo4j(environment, neo4jCredentials, sig);
        neo4jDowntimeMs = Date.now() - (stoppedAt ?? thaw.frozenAt);
        onEvent({ type: "step", message: `Neo4j serving again after ${neo4jDowntimeMs} ms offline` });
      } catch (error) {
        problems.push(`Neo4j: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
    if (stopped) {
      const back = stopped;
      stopped = undefined;
      try {
        await environment.start(back, APP_START_ORDER);
        if (stoppedAt !== undefined) servicesDownMs = Date.now() - stoppedAt;
        if (back.services.length > 0)
          onEvent({ type: "step", message: `started ${back.services.join(", ")}` });
      } catch (error) {
        problems.push(error instanceof Error ? error.message : String(error));
      }
    }
    if (problems.length > 0) {
      throw new BackupError(
        "SERVICES_NOT_RESTORED",
        `services were not all brought back: ${problems.join("; ")}`,
        {
          hint: "start them by hand; the database files are intact",
        },
      );
    }
  };

  try {
    if (postgresExec && postgresCredentials) {
      onEvent({ type: "step", message: "dumping PostgreSQL (online)" });
      const dumpStarted = Date.now();
      const dump = dumpPostgres(postgresExec, postgresCredentials, sig);
      const written = await writer.addFile(
        "prefect.dump",
        pipeline(dump.stdout, checked("prefect.dump", [PG_DUMP_MAGIC], onEvent)),
      );
      await dump.done;
      onEvent(dumpFinished("PostgreSQL", written.size, Date.now() - dumpStarted));
    }

    if (neo4j.edition === "enterprise") {
      onEvent({ type: "step", message: `backing up Neo4j database ${neo4jCredentials.database} online` });
      await captureEnterprise(databaseExec, neo4jCredentials, writer, {
        includeMetadata: options.neo4jMetadata ?? "all",
        ...(runtime.adminUser ? { adminUser: runtime.adminUser } : {}),
        onEvent,
        ...sig,
      });
    } else {
      onEvent({ type: "step", message: "stopping application services for the offline Neo4j dump" });
      stoppedAt = Date.now();
      stopped = await environment.stop(APP_STOP_ORDER);
      frozen = await freezeNeo4jRetrying(environment, neo4jCredentials, {
        pidFile: runtime.pidFile,
        helperPath: options.freezeHelper,
        onEvent,
        ...sig,
      });
      const entry = `database/${neo4jCredentials.database}.dump`;
      onEvent({ type: "step", message: `dumping Neo4j database ${neo4jCredentials.database} (offline)` });
      const dump = dumpNeo4j(databaseExec, neo4jCredentials.database, {
        ...(runtime.adminUser ? { user: runtime.adminUser } : {}),
        ...sig,
      });
      const dumpStarted = Date.now();
      const written = await writer.addFile(
        entry,
        pipeline(dump.stdout, checked(entry, NEO4J_DUMP_MAGICS, onEvent)),
      );
      await dump.done;
      onEvent(dumpFinished("Neo4j", written.size, Date.now() - dumpStarted));
      // Services come back as soon as the dump stream ends, not after the upload is committed.
      await bringBack();
    }

    const result = await writer.finish({
      backupId,
      createdAt: formatCreatedAt(now),
      toolVersion: options.toolVersion,
      infrahubVersion,
      components: includeTaskManager ? ["database", "task-manager-db"] : ["database"],
      neo4jEdition: neo4j.edition,
      ...(options.redact ? { redacted: true } : {}),
      ...(encrypted ? { encrypted: true } : {}),
    });
    onEvent({
      type: "step",
      message: `backup committed at ${result.commit.location}`,
      fields: { size: result.commit.size },
    });
    return {
      name,
      location: result.commit.location,
      size: result.commit.size,
      metadata: result.metadata,
      entries: result.entries,
      neo4j,
      durations: {
        totalMs: Date.now() - started,
        ...(neo4jDowntimeMs !== undefined ? { neo4jDowntimeMs } : {}),
        ...(servicesDownMs !== undefined ? { servicesDownMs } : {}),
      },
    };
  } catch (error) {
    await writer.abort(error).catch(() => undefined);
    try {
      await bringBack();
    } catch (restartError) {
      onEvent({ type: "warning", message: (restartError as Error).message });
      throw new BackupError(
        "SERVICES_NOT_RESTORED",
        `backup failed (${error instanceof Error ? error.message : String(error)}) and ${(restartError as Error).message}`,
        { cause: error },
      );
    }
    throw error;
  }
}

/** Where the time of a backup goes: each dump's length is in the log, next to the downtime. */
function dumpFinished(engine: string, bytes: number, ms: number): OperationEvent {
  return {
    type: "step",
    message: `${engine} dump finished: ${bytes} bytes in ${ms} ms`,
    fields: { bytes, durationMs: ms },
  };
}

/** `source` piped through `transform`, errors of either surfacing on the returned stream. */
function pipeline(source: Readable, transform: Transform): Transform {
  return pipe(source, transform, () => undefined);
}
