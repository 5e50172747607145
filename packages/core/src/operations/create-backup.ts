import type { KeyObject } from "node:crypto";
import { type ArchiveWriteResult, ArchiveWriter, type WrittenEntry } from "../archive/archive-writer.js";
import { type BackupMetadata, formatCreatedAt } from "../archive/backup-metadata.js";
import { EncryptingSink } from "../archive/encryption.js";
import type { Neo4jServerInfo } from "../engines/neo4j/edition.js";
import { dumpNeo4j, dumpNeo4jToDirectory, NEO4J_DUMP_MAGICS } from "../engines/neo4j/offline.js";
import { neo4jServerFacts } from "../engines/neo4j/server-facts.js";
import { type StoreLocation, storeSpace } from "../engines/neo4j/store-swap.js";
import { choosePgDumpCompression } from "../engines/postgres/pg-dump-compression.js";
import {
  dumpPostgres,
  PG_DUMP_MAGIC,
  postgresDatabaseSize,
  probePostgres,
} from "../engines/postgres/postgres-engine.js";
import type { Environment } from "../environment/environment.js";
import {
  describeOutcome,
  HeldDeployment,
  type HoldOutcome,
  outcomeHasProblems,
} from "../environment/held-deployment.js";
import { BackupError, isBackupError } from "../errors.js";
import { type StreamingCommand, streamCommand } from "../exec/command.js";
import { shellQuote } from "../exec/shell-quote.js";
import { formatArchiveName } from "../storage/archive-name.js";
import type { BackupStore } from "../storage/backup-store.js";
import { DeferredAbortSink } from "./deferred-abort-sink.js";
import {
  findNeo4jCredentials,
  findPostgresCredentials,
  type HostEnv,
  probeInfrahubVersion,
} from "./deployment.js";
import { checked, pipeline } from "./dump-check.js";
import { captureEnterprise } from "./enterprise-capture.js";
import { type EventSink, ignoreEvents } from "./events.js";
import { waitForLeftFrozenNeo4j } from "./left-frozen.js";
import { livenessWarning } from "./liveness-check.js";
import { redactAttributeValues } from "./redact.js";
import { waitForIdleTasks } from "./running-tasks.js";
import { measure, sizeEstimate } from "./size-estimate.js";
import { Staging, type StagingMode } from "./staging.js";
import { warning } from "./warning.js";

/**
 * Options of createBackup. Memory stays bounded whatever the databases' size: dumps stream through the
 * archive writer into the store (S3: part size × (held parts + concurrency + 2)).
 */
export interface CreateBackupOptions {
  /** The deployment to back up (LocalEnvironment, or what ComposeDetector / KubernetesDetector found). */
  environment: Environment;
  /** Where the archive is written (LocalStore, S3Store); nothing is visible there until it is complete. */
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
  /**
   * Expected archive size: sizes S3 parts and drives the local free-space preflight. Default: the
   * preflight's estimate (Neo4j store plus `pg_database_size`, an upper bound), which sizes S3 parts and
   * the progress totals but never refuses a backup.
   */
  sizeHint?: number;
  /**
   * Where the Neo4j dump goes while Neo4j is offline (Community): `auto` (default) stages it in the
   * database container when its volume has room for it, so Neo4j is offline for a local dump only and
   * the file streams to storage after Neo4j serves again; `container` insists; `none` streams it to
   * storage while Neo4j is offline.
   */
  staging?: StagingMode;
  /**
   * How long a frozen Neo4j may outlive this process if it is killed (the freeze helper's lease).
   * Default 20 s.
   */
  freezeLeaseTtlMs?: number;
  /** Clock for the archive name and `created_at`. Default: now. */
  now?: () => Date;
  /** Aborts the backup: services are brought back, nothing is left in the store; rejects with CANCELLED. */
  signal?: AbortSignal;
  /** Receives every progress event (OperationEvent). Default: none. */
  onEvent?: EventSink;
}

/** Where the Neo4j store lives, how big it is and the room beside it. */
interface StoreFacts {
  location: StoreLocation;
  space: { storeBytes: number; freeBytes: number };
}

/** What createBackup wrote and how long the deployment was affected. */
export interface CreateBackupResult {
  /** The archive's name in the store (`infrahub_backup_<stamp>.tar.gz[.enc]`). */
  name: string;
  /** Where it is: a file path or `s3://bucket/key`. */
  location: string;
  /** Bytes of the archive. */
  size: number;
  /** The metadata written into it. */
  metadata: BackupMetadata;
  /** Its file entries (dumps), with sizes and SHA-256. */
  entries: WrittenEntry[];
  /** Edition and version of the Neo4j that was backed up. */
  neo4j: Neo4jServerInfo;
  /** Wall-clock durations in milliseconds. */
  durations: {
    totalMs: number;
    /** Community: from Neo4j's stop until it answered queries again. */
    neo4jDowntimeMs?: number;
    /** Application services stopped until started again. */
    servicesDownMs?: number;
  };
}

/**
 * Creates one archive of the deployment: the PostgreSQL dump first (online), then Neo4j (Community:
 * offline through a freeze, services stopped only for that), streamed into the store. The archive
 * becomes visible only once complete. Whatever fails — the store, a dump, a signal — the deployment
 * is brought back first (commands on the store killed, Neo4j serving its database, services started),
 * then the unfinished upload is removed; the error says what the deployment's state is.
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
  // One operation at a time, taken before anything is looked at or stopped; released last.
  await using lock = await environment.lock({
    operation: "create",
    onWarning: (message) => onEvent(warning("LOCK", message)),
    ...sig,
  });

  // Preflight: nothing is stopped or written until every check passed.
  const preflightStarted = Date.now();
  onEvent({
    type: "phase-started",
    phase: "preflight",
    subject: { deployment: { kind: environment.kind, name: environment.name } },
  });
  const neo4jCredentials = await findNeo4jCredentials(environment, hostEnv, onEvent);
  const databaseExec = await environment.executor("database");
  if (lock.tookOverFrom) await waitForLeftFrozenNeo4j(databaseExec, neo4jCredentials, onEvent, signal);
  const includeTaskManager = !options.excludeTaskManager;
  // The probes are independent and most start a client (psql, cypher-shell: a JVM, seconds on a busy
  // node), so they run together; results and failures are reported in the order of the checks. The three
  // Neo4j questions (edition, the user database, the store's location) share one cypher-shell run
  // (server-facts.ts).
  const serverFacts = neo4jServerFacts(databaseExec, neo4jCredentials, sig);
  const detection = serverFacts.server();
  const stagingMode = options.staging ?? "auto";
  const probes = [
    detection,
    serverFacts.databaseExists(),
    includeTaskManager
      ? (async () => {
          const credentials = await findPostgresCredentials(environment, hostEnv, onEvent);
          const exec = await environment.executor("task-manager-db");
          const version = await probePostgres(exec, credentials);
          return {
            credentials,
            exec,
            version,
            compression: await choosePgDumpCompression(exec, credentials, sig),
            size: await measure(() => postgresDatabaseSize(exec, credentials), signal),
          };
        })()
      : Promise.resolve(undefined),
    probeInfrahubVersion(environment),
    store.check({ write: true, ...sig }),
    environment.neo4jRuntime(),
    // Advisory: a window it cannot read costs the warning, not the backup (the API's trouble, if lasting,
    // fails the steps that need it and is reported there).
    environment.neo4jLiveness?.().catch(() => undefined),
    // Where the store lives and how big it is: the size estimate, and (Community) the room a staged dump
    // needs. Failing, it costs the estimate and the staging, not the backup (unless staging is insisted on).
    (async (): Promise<StoreFacts | { error: Error }> => {
      try {
        const location = await serverFacts.location();
        const { adminUser } = await environment.neo4jRuntime();
        return { location, space: await storeSpace(databaseExec, location, { user: adminUser, ...sig }) };
      } catch (error) {
        signal?.throwIfAborted();
        return { error: error instanceof Error ? error : new Error(String(error)) };
      }
    })(),
  ] as const;
  const settled = await Promise.allSettled(probes);
  for (const outcome of settled) if (outcome.status === "rejected") throw outcome.reason;
  const [neo4j, , postgresProbe, infrahubVersion, , runtime, liveness, storeProbe] =
    await Promise.all(probes);
  onEvent({ type: "neo4j-detected", server: neo4j });
  const postgresCredentials = postgresProbe?.credentials;
  const postgresExec = postgresProbe?.exec;
  if (postgresProbe) {
    onEvent({
      type: "postgres-detected",
      version: postgresProbe.version,
      database: postgresProbe.credentials.database,
      compression: postgresProbe.compression,
    });
  }
  const neo4jStore = "error" in storeProbe ? undefined : storeProbe;
  const storeProblem = "error" in storeProbe ? storeProbe.error : undefined;
  if (neo4j.edition === "community" && stagingMode !== "none" && storeProblem) {
    if (stagingMode === "container") throw storeProblem;
    onEvent({
      type: "not-staged",
      what: "the Neo4j dump",
      reason: `cannot tell where the store is (${storeProblem.message})`,
    });
  }
  if (neo4j.edition === "community" && liveness && neo4jStore) {
    const risk = livenessWarning(liveness, { kind: "dump", bytes: neo4jStore.space.storeBytes });
    if (risk) onEvent(risk);
  }
  const estimated = sizeEstimate(
    neo4jStore ? { bytes: neo4jStore.space.storeBytes } : { problem: storeProblem?.message ?? "" },
    postgresProbe?.size,
  );
  const estimate = "estimate" in estimated ? estimated.estimate : undefined;
  if (estimate) {
    onEvent({
      type: "size-estimated",
      bytes: estimate.bytes,
      parts: {
        neo4jStore: estimate.neo4jStore,
        ...(estimate.postgres !== undefined ? { postgres: estimate.postgres } : {}),
      },
    });
  } else if ("problem" in estimated) {
    onEvent(
      warning(
        "NO_SIZE_ESTIMATE",
        `no size estimate, cannot measure ${estimated.problem}; S3 parts start at their minimum and progress has no total`,
      ),
    );
  }
  if (!options.force) {
    await waitForIdleTasks(environment, onEvent, {
      ...(options.taskWaitTimeoutMs !== undefined ? { timeoutMs: options.taskWaitTimeoutMs } : {}),
      ...sig,
    });
  }
  onEvent({ type: "phase-finished", phase: "preflight", durationMs: Date.now() - preflightStarted });
  if (options.redact) {
    onEvent(warning("REDACTING", "redacting: every attribute value of the live graph is being replaced"));
    await redactAttributeValues(databaseExec, neo4jCredentials);
  }

  const now = (options.now ?? (() => new Date()))();
  const encrypted = options.encryptTo !== undefined;
  const name = formatArchiveName(now, { encrypted });
  const backupId = name.replace(/\.tar\.gz(\.enc)?$/, "");
  const writeStarted = Date.now();
  onEvent({ type: "phase-started", phase: "write-archive", subject: { location: store.location(name) } });

  const hold = new HeldDeployment({
    environment,
    neo4jCredentials,
    runtime,
    freezeHelper: options.freezeHelper,
    onEvent,
    ...(liveness ? { liveness } : {}),
    ...sig,
    ...(options.freezeLeaseTtlMs !== undefined ? { leaseTtlMs: options.freezeLeaseTtlMs } : {}),
  });
  let result: ArchiveWriteResult;
  try {
    // Disposed in reverse: the deployment is brought back first, the unfinished upload removed, the
    // staged dump deleted last.
    await using staging = new Staging(options.staging ?? "auto", { stamp: backupId, onEvent });
    await using upload = new DeferredAbortSink(
      await store.put(
        name,
        options.sizeHint !== undefined
          ? { sizeHint: options.sizeHint, signal }
          : { sizeHint: estimate?.bytes, estimated: true, signal },
      ),
      onEvent,
    );
    await using held = hold;
    const writer = new ArchiveWriter(
      options.encryptTo ? new EncryptingSink(upload, options.encryptTo) : upload,
      {
        mtime: now,
      },
    );
    if (postgresExec && postgresCredentials) {
      onEvent({
        type: "phase-started",
        phase: "dump-postgres",
        subject: { database: postgresCredentials.database },
      });
      const dumpStarted = Date.now();
      const dump = dumpPostgres(postgresExec, postgresCredentials, {
        signal: held.commandSignal,
        ...(postgresProbe ? { compress: postgresProbe.compression.flag } : {}),
      });
      const written = await writer.addFile(
        "prefect.dump",
        pipeline(
          dump.stdout,
          checked("prefect.dump", [PG_DUMP_MAGIC], withTotal(onEvent, estimate?.postgres, true)),
        ),
      );
      await dump.done;
      onEvent({
        type: "phase-finished",
        phase: "dump-postgres",
        durationMs: Date.now() - dumpStarted,
        bytes: written.size,
      });
    }

    if (neo4j.edition === "enterprise") {
      const backupStarted = Date.now();
      const subject = { database: neo4jCredentials.database };
      onEvent({ type: "phase-started", phase: "backup-neo4j", subject });
      await captureEnterprise(databaseExec, neo4jCredentials, writer, {
        includeMetadata: options.neo4jMetadata ?? "all",
        ...(runtime.adminUser ? { adminUser: runtime.adminUser } : {}),
        onEvent,
        signal: held.commandSignal,
      });
      onEvent({
        type: "phase-finished",
        phase: "backup-neo4j",
        durationMs: Date.now() - backupStarted,
        subject,
      });
    } else {
      const stopStarted = Date.now();
      onEvent({ type: "phase-started", phase: "stop-services", subject: { reason: "offline-neo4j-dump" } });
      // A dump is at most the size of the store it comes from (zstd-compressed store files).
      const stageDir = neo4jStore
        ? await staging.prepare(
            databaseExec,
            shellQuote(neo4jStore.location.dataDir),
            neo4jStore.space.storeBytes,
            {
              what: "the Neo4j dump",
              user: runtime.adminUser,
              ...sig,
            },
          )
        : undefined;
      await held.stopApplications();
      onEvent({ type: "phase-finished", phase: "stop-services", durationMs: Date.now() - stopStarted });
      await held.freezeNeo4j();
      const database = neo4jCredentials.database;
      const entry = `database/${database}.dump`;
      const admin = {
        ...(runtime.adminUser ? { user: runtime.adminUser } : {}),
        env: held.ownerEnv(),
        signal: held.commandSignal,
      };
      const dumpStarted = Date.now();
      // The phase that ends with the entry: the dump streamed, or the staged dump's upload.
      let entryStarted = dumpStarted;
      let source: StreamingCommand;
      let entryTotal = { bytes: estimate?.neo4jStore, estimated: true };
      if (stageDir) {
        const stagedFile = `${stageDir.path}/${database}.dump`;
        const subject = { database, stagedIn: stageDir.path };
        onEvent({ type: "phase-started", phase: "dump-neo4j", subject });
        await dumpNeo4jToDirectory(databaseExec, database, stageDir.path, admin);
        onEvent({
          type: "phase-finished",
          phase: "dump-neo4j",
          durationMs: Date.now() - dumpStarted,
          subject,
        });
        // Neo4j is back before a byte travels to storage: the offline window is the local dump only.
        await held.release();
        // The staged file's size is the upload's exact total (the estimate only bounds it).
        const staged = await measure(() => staging.size(stageDir, stagedFile, sig), signal);
        if ("bytes" in staged) entryTotal = { bytes: staged.bytes, estimated: false };
        entryStarted = Date.now();
        onEvent({
          type: "phase-started",
          phase: "upload-staged-dump",
          subject: { location: store.location(name) },
        });
        source = streamCommand(
          databaseExec,
          {
            argv: ["cat", stagedFile],
            ...(runtime.adminUser ? { user: runtime.adminUser } : {}),
            ...sig,
          },
          { what: "reading the staged Neo4j dump", failureCode: "DATABASE_COMMAND_FAILED" },
        );
      } else {
        onEvent({ type: "phase-started", phase: "dump-neo4j", subject: { database } });
        source = dumpNeo4j(databaseExec, database, admin);
      }
      const written = await writer.addFile(
        entry,
        pipeline(
          source.stdout,
          checked(entry, NEO4J_DUMP_MAGICS, withTotal(onEvent, entryTotal.bytes, entryTotal.estimated)),
        ),
      );
      await source.done;
      onEvent({
        type: "phase-finished",
        phase: stageDir ? "upload-staged-dump" : "dump-neo4j",
        durationMs: Date.now() - entryStarted,
        bytes: written.size,
        subject: { database },
      });
      // Services come back as soon as the dump ends, not after the upload is committed. A deployment that
      // does not come back does not cost the backup: it is committed, then reported.
      await held.release();
    }

    result = await writer.finish({
      backupId,
      createdAt: formatCreatedAt(now),
      toolVersion: options.toolVersion,
      infrahubVersion,
      components: includeTaskManager ? ["database", "task-manager-db"] : ["database"],
      neo4jEdition: neo4j.edition,
      ...(options.redact ? { redacted: true } : {}),
      ...(encrypted ? { encrypted: true } : {}),
    });
  } catch (error) {
    // Someone scaling back what the hold stopped is the cause; the commands it aborted only its effect.
    throw createFailure(hold.interference ?? error, hold.outcome, signal);
  }
  onEvent({
    type: "phase-finished",
    phase: "write-archive",
    durationMs: Date.now() - writeStarted,
    bytes: result.commit.size,
    subject: { location: result.commit.location },
  });
  onEvent({ type: "committed", location: result.commit.location, size: result.commit.size });
  if (outcomeHasProblems(hold.outcome)) {
    throw new BackupError(
      "SERVICES_NOT_RESTORED",
      `the backup was stored at ${result.commit.location}, but ${describeOutcome(hold.outcome)}`,
      {
        hint: "the backup is complete and verified; bring the deployment back by hand",
        details: { location: result.commit.location, ...hold.outcome },
      },
    );
  }
  return {
    name,
    location: result.commit.location,
    size: result.commit.size,
    metadata: result.metadata,
    entries: result.entries,
    neo4j,
    durations: {
      totalMs: Date.now() - started,
      ...(hold.neo4jDowntimeMs !== undefined ? { neo4jDowntimeMs: hold.neo4jDowntimeMs } : {}),
      ...(hold.servicesDownMs !== undefined ? { servicesDownMs: hold.servicesDownMs } : {}),
    },
  };
}

/**
 * The error a failed backup ends with: its cause, that nothing was stored, and what the deployment's
 * state is (from the hold's outcome). A cancellation stays CANCELLED; a deployment not brought back
 * becomes SERVICES_NOT_RESTORED, whatever the cause.
 */
function createFailure(error: unknown, outcome: HoldOutcome, signal: AbortSignal | undefined): BackupError {
  const cause = error instanceof Error ? error.message : String(error);
  const state = describeOutcome(outcome);
  const statement = `Nothing was stored.${state ? ` ${capitalise(state)}.` : ""}`;
  const details = {
    ...(isBackupError(error) ? error.details : {}),
    neo4j: outcome.neo4j,
    services: outcome.services,
  };
  if (outcomeHasProblems(outcome)) {
    return new BackupError("SERVICES_NOT_RESTORED", `backup failed: ${cause}. ${statement}`, {
      cause: error,
      hint: "bring the deployment back by hand (see above), then run the backup again",
      details,
    });
  }
  const cancelled = signal?.aborted === true;
  const code = cancelled ? "CANCELLED" : isBackupError(error) ? error.code : "INTERNAL";
  return new BackupError(
    code,
    `${cancelled ? "backup cancelled" : "backup failed"}: ${cause}. ${statement}`,
    {
      cause: error,
      ...(isBackupError(error) && error.hint ? { hint: error.hint } : {}),
      details,
    },
  );
}

function capitalise(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

/**
 * `onEvent` with `total` on an entry's progress: exact (a staged file), or estimated (an upper bound: a
 * dump is compressed).
 */
function withTotal(onEvent: EventSink, total: number | undefined, estimated: boolean): EventSink {
  if (total === undefined || total <= 0) return onEvent;
  const known = estimated ? { total, estimated: true } : { total };
  return (event) => onEvent(event.type === "progress" ? { ...event, ...known } : event);
}
