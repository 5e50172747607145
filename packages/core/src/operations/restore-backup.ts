import type { KeyObject } from "node:crypto";
import { randomUUID } from "node:crypto";
import { dirname } from "node:path";
import { type ArchiveFileEntry, type ArchiveReport, readArchive } from "../archive/archive-reader.js";
import type { BackupMetadata } from "../archive/backup-metadata.js";
import { cypherShell } from "../engines/neo4j/cypher-shell.js";
import type { Neo4jServerInfo } from "../engines/neo4j/edition.js";
import { setExpiryScript } from "../engines/neo4j/freeze.js";
import { loadNeo4j, loadNeo4jFromDirectory, NEO4J_DUMP_MAGICS } from "../engines/neo4j/offline.js";
import { neo4jServerFacts } from "../engines/neo4j/server-facts.js";
import {
  leftoverPreviousStores,
  removeStore,
  type StoreLocation,
  StoreSwap,
  spaceForAtomicLoad,
  storeSpace,
} from "../engines/neo4j/store-swap.js";
import { PG_DUMP_MAGIC, postgresRestoreMode } from "../engines/postgres/postgres-engine.js";
import { leftoverDatabases, PostgresRestore } from "../engines/postgres/postgres-restore.js";
import type { Environment } from "../environment/environment.js";
import { describeOutcome, HeldDeployment, type HoldOutcome } from "../environment/held-deployment.js";
import { APP_STOP_ORDER } from "../environment/services.js";
import { BackupError, type ErrorCode, isBackupError } from "../errors.js";
import type { Executor } from "../exec/executor.js";
import { shellQuote } from "../exec/shell-quote.js";
import { containerWorkDir, removeContainerDir } from "../exec/work-dir.js";
import type { BackupStore, ObjectInfo } from "../storage/backup-store.js";
import { formatBytes } from "../storage/format-bytes.js";
import { findNeo4jCredentials, findPostgresCredentials, type HostEnv } from "./deployment.js";
import { checked, fedFrom, pipeline } from "./dump-check.js";
import { applyEnterpriseRestore, assertSingleInstance, stageArtefact } from "./enterprise-capture.js";
import { type EventSink, ignoreEvents, type WarningCode } from "./events.js";
import { waitForLeftFrozenNeo4j } from "./left-frozen.js";
import { livenessWarning } from "./liveness-check.js";
import { Staging, type StagingMode } from "./staging.js";
import { warning } from "./warning.js";

/**
 * Options of restoreBackup. The archive is read twice (validate, then load) unless staged; memory stays
 * bounded whatever its size.
 */
export interface RestoreBackupOptions {
  /** The deployment to restore into; its data is replaced. */
  environment: Environment;
  /** Where the archive is read from. */
  store: BackupStore;
  /** The archive's name in the store. */
  name: string;
  /** Local path of the Neo4j freeze helper for a container architecture (Community only). */
  freezeHelper: (arch: "amd64" | "arm64") => string;
  /** Variables of the host that take precedence over the containers' (INFRAHUB_DB_*, PREFECT_*). */
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
  /**
   * When the Neo4j container has no room to keep the previous store beside the new one: remove the
   * previous store first instead of refusing. A failure then leaves the graph database empty or
   * incomplete (the message says so); run the restore again to recover.
   */
  allowNonAtomic?: boolean;
  /**
   * `auto` (default): pass 1 also writes each dump into its database's container when its volume has
   * room, so the destructive pass loads local files — both databases at once — and reads storage no
   * more; `container` insists (NO_ROOM_TO_STAGE otherwise); `none` streams each dump from storage again
   * while the deployment is down.
   */
  staging?: StagingMode;
  /**
   * Asked once the application services are stopped (nothing writes any more) and before any database is
   * changed; false ends the restore there, services started again, with `skipped` in the result. The
   * CLI's `--only-if-fresh` probes the deployment again here, so data written while pass 1 read the
   * archive is never replaced.
   */
  proceedOnceStopped?: () => Promise<boolean>;
  /** How long a frozen Neo4j may outlive this process if it is killed (the freeze helper's lease). Default 20 s. */
  freezeLeaseTtlMs?: number;
  /**
   * Aborts the restore; before the destructive phase nothing was changed, during it the previous store is
   * kept where atomic. Rejects with CANCELLED.
   */
  signal?: AbortSignal;
  /** Receives every progress event (OperationEvent). Default: none. */
  onEvent?: EventSink;
}

/**
 * What a restore will do, decided after the archive was validated and before anything changes (`dryRun` stops
 * here).
 */
export interface RestorePlan {
  /** The archive's name. */
  name: string;
  /** Where it is read from. */
  location: string;
  /** Bytes of the archive. */
  size: number;
  /** Its metadata. */
  metadata: BackupMetadata;
  /** How the graph database is restored. */
  neo4j: {
    /** The archive's Neo4j entries: one `<db>.dump` (Community) or the online-backup artefacts (Enterprise). */
    entries: string[];
    bytes: number;
    /** `community-load`: freeze + `neo4j-admin database load`; `enterprise-restore`: stop database + restore + metadata replay. */
    method: "community-load" | "enterprise-restore";
    running: Neo4jServerInfo;
    /**
     * Community: `atomic` keeps the previous store aside until the new one serves; `non-atomic` removes it
     * first (no room for both, `allowNonAtomic`). Enterprise restores are not atomic.
     */
    atomicity: "atomic" | "non-atomic";
  };
  /** How the task-manager database is restored; absent when the archive has no dump or it is excluded. */
  postgres?: { entry: string; bytes: number; database: string; mode: "recreate" | "in-place" };
  /** What the destructive phase will do, in order. */
  steps: string[];
}

/** What restoreBackup did. */
export interface RestoreBackupResult {
  /** The plan it followed. */
  plan: RestorePlan;
  /** True when it stopped after planning (nothing changed). */
  dryRun: boolean;
  /** True when `proceedOnceStopped` declined: nothing changed, the services were started again. */
  skipped?: boolean;
  /** Wall-clock durations in milliseconds (validation, Neo4j offline, total). */
  durations: { totalMs: number; validateMs: number; neo4jDowntimeMs?: number };
}

/**
 * Restores an archive onto the deployment. Pass 1 reads and verifies the whole archive (every checksum,
 * the metadata, edition compatibility) and checks the databases are reachable and that there is room to
 * keep each previous database until the new one serves — nothing is changed until all of that passed.
 * Pass 2 reads the same bytes again (pinned) and streams each dump into its load command while
 * re-hashing: PostgreSQL into a new database switched in at the end, Neo4j into the store's place with
 * the previous store kept aside. On any failure each database is left as it was, or — only past the
 * point of no return — completely restored; services are put back; the error says which, per database.
 */
export async function restoreBackup(options: RestoreBackupOptions): Promise<RestoreBackupResult> {
  const started = Date.now();
  const onEvent = options.onEvent ?? ignoreEvents;
  const { environment, store, signal, name } = options;
  const hostEnv = options.hostEnv ?? {};
  const sig = signal ? { signal } : {};
  const warn = (code: WarningCode, message: string, fields?: Record<string, unknown>) =>
    onEvent(warning(code, message, fields));
  const cleanupWarn = (message: string) => warn("RESTORE_CLEANUP_FAILED", message);
  // One operation at a time (a dry run changes nothing and needs no lock); released last.
  await using lock = options.dryRun
    ? undefined
    : await environment.lock({ operation: "restore", onWarning: (message) => warn("LOCK", message), ...sig });
  const readOptions = {
    ...(options.decryptKey !== undefined ? { decryptKey: options.decryptKey } : {}),
    ...(options.excludeTaskManager ? { excludeTaskManager: true } : {}),
    ...sig,
  };

  // Pass 1: validate everything. The deployment's Neo4j is probed meanwhile (read-only; cypher-shell
  // is a JVM that takes seconds to start), but a bad archive is still the error reported first.
  const info: ObjectInfo = await store.head(name);
  onEvent({ type: "phase-started", phase: "verify", subject: { location: info.location, size: info.size } });
  const deploymentProbe = probeDeployment(
    environment,
    hostEnv,
    onEvent,
    signal,
    lock?.tookOverFrom !== undefined,
  );
  // Awaited after pass 1; a bad archive is the error reported first, so this one must not surface alone.
  deploymentProbe.catch(() => undefined);
  // The Neo4j store's location and size: asked once, for staging and for the atomicity check.
  let storeFacts:
    | Promise<{ location: StoreLocation; space: { storeBytes: number; freeBytes: number } }>
    | undefined;
  const neo4jStore = async () => {
    storeFacts ??= (async () => {
      const { databaseExec, serverFacts } = await deploymentProbe;
      const location = await serverFacts.location();
      const { adminUser } = await environment.neo4jRuntime();
      return { location, space: await storeSpace(databaseExec, location, { user: adminUser, ...sig }) };
    })();
    return storeFacts;
  };
  // Disposed last, on every path (after the deployment is back): the staged dumps go.
  await using staging = new Staging(options.dryRun ? "none" : (options.staging ?? "auto"), {
    stamp: stampOf(new Date()),
    onEvent,
  });
  const staged = new Map<string, string>();
  /** Where `entry` is staged, if anywhere: the database's own volume, with room left for its restore. */
  const stagingDirFor = async (entry: ArchiveFileEntry) => {
    if (staging.mode === "none") return undefined;
    if (entry.path === "prefect.dump") {
      if (options.excludeTaskManager) return undefined;
      // The database's own volume when the image says where it is (PGDATA), else the container's temp.
      return staging.prepare(await environment.executor("task-manager-db"), PGDATA_OR_TMP, entry.size, {
        what: "prefect.dump",
        ...sig,
      });
    }
    // A deployment that cannot be probed is reported after pass 1 (a bad archive first): no staging.
    const probe = await deploymentProbe.catch(() => undefined);
    if (!probe || entry.path !== `database/${probe.neo4jCredentials.database}.dump`) return undefined;
    const { location, space } = await neo4jStore();
    const { adminUser } = await environment.neo4jRuntime();
    return staging.prepare(
      probe.databaseExec,
      shellQuote(location.dataDir),
      entry.size + spaceForAtomicLoad(space, entry.size),
      { what: entry.path, user: adminUser, ...sig },
    );
  };
  const report: ArchiveReport = await readArchive(await store.get(name, { pin: info, ...sig }), {
    ...readOptions,
    // Beyond checksums: the dumps must be what their load commands expect. Staged where there is room.
    onEntry: async (entry: ArchiveFileEntry) => {
      const isPg = entry.path === "prefect.dump";
      const magics = isPg ? [PG_DUMP_MAGIC] : entry.path.endsWith(".dump") ? NEO4J_DUMP_MAGICS : [];
      if (magics.length === 0) return;
      const refuse = () =>
        new BackupError(
          "ARCHIVE_CORRUPT",
          `${entry.path} does not start like a ${isPg ? "pg_dump custom-format archive" : "Neo4j dump"}`,
          { hint: "the archive is not restorable; nothing was changed" },
        );
      const dir = await stagingDirFor(entry);
      if (!dir) {
        const head = await firstBytes(entry, 5);
        if (!magics.some((m) => head.subarray(0, m.length).equals(m))) throw refuse();
        return;
      }
      const stagedAt = Date.now();
      const file = `${dir.path}/${isPg ? "prefect.dump" : entry.path.slice("database/".length)}`;
      const written = await fedFrom(
        entry,
        staging.write(
          dir,
          file,
          pipeline(entry.body, checked(entry.path, magics, ignoreEvents, refuse)),
          entry.size,
          signal,
        ),
      );
      staging.verify(dir, written, { sha256: (await entry.digest).sha256, bytes: entry.size });
      staged.set(entry.path, file);
      onEvent({
        type: "entry-staged",
        entry: entry.path,
        path: file,
        target: dir.executor.target,
        bytes: entry.size,
        durationMs: Date.now() - stagedAt,
      });
    },
  }).catch(async (error: unknown) => {
    // The archive's error is the one reported; the probe's outcome no longer matters.
    await deploymentProbe.catch(() => undefined);
    throw error;
  });
  const validateMs = Date.now() - started;
  const metadata = report.metadata;
  onEvent({
    type: "phase-finished",
    phase: "verify",
    durationMs: validateMs,
    bytes: info.size,
    subject: { location: info.location, backupId: metadata.backupId },
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
  let partialLeftovers: string[] = [];
  if (pgEntry && postgresCredentials && postgresExec) {
    const mode = await postgresRestoreMode(postgresExec, postgresCredentials);
    postgres = { entry: pgEntry.path, bytes: pgEntry.size, database: postgresCredentials.database, mode };
    if (mode === "recreate") {
      const leftovers = await leftoverDatabases(postgresExec, postgresCredentials);
      partialLeftovers = leftovers.partial;
      for (const database of leftovers.partial) {
        warn(
          "LEFTOVER_DATABASE",
          `a partial PostgreSQL database left by an interrupted restore: ${database} (never in use; the restore drops it before its load)`,
          { database, kind: "partial" },
        );
      }
      for (const database of leftovers.previous) {
        warn(
          "LEFTOVER_DATABASE",
          `a PostgreSQL database left by an interrupted restore holds the data from before it: ${database} (drop it once you no longer need it)`,
          { database, kind: "previous" },
        );
      }
    }
  }
  const runtime = await environment.neo4jRuntime();
  const adminUser = runtime.adminUser ? { user: runtime.adminUser } : {};

  // Room to keep the previous store aside until the new one serves.
  let storeLocation: StoreLocation | undefined;
  let atomicity: RestorePlan["neo4j"]["atomicity"] = method === "community-load" ? "atomic" : "non-atomic";
  if (dumpEntry) {
    const facts = await neo4jStore();
    storeLocation = facts.location;
    const space = facts.space;
    // A dump staged on the same volume already took its share of the free space.
    const needed =
      spaceForAtomicLoad(space, dumpEntry.size) + (staged.has(dumpEntry.path) ? dumpEntry.size : 0);
    if (space.freeBytes < needed) {
      const shortfall = `${storeLocation.storeDir} has ${formatBytes(space.freeBytes)} free; keeping the previous store (${formatBytes(space.storeBytes)}) while loading a ${formatBytes(dumpEntry.size)} dump needs about ${formatBytes(needed)}`;
      if (!options.allowNonAtomic) {
        throw new BackupError("NO_ROOM_TO_ROLL_BACK", `not enough room for an atomic restore: ${shortfall}`, {
          hint: "free space on the Neo4j volume, or accept a restore that removes the current graph first with --allow-non-atomic (a failure then leaves it empty; run the restore again); nothing was changed",
          details: { ...space, needed },
        });
      }
      atomicity = "non-atomic";
      warn(
        "NON_ATOMIC_RESTORE",
        `non-atomic restore (--allow-non-atomic): ${shortfall}; the current graph is removed before the load`,
      );
    }
    for (const leftover of await leftoverPreviousStores(databaseExec, storeLocation, adminUser)) {
      warn(
        "PREVIOUS_STORE_LEFT",
        `a previous store left by an interrupted restore is still on disk: ${leftover} (remove it once you no longer need it)`,
      );
    }
  }

  // Advisory, as in create: a window it cannot read costs the warning, not the restore.
  const liveness = dumpEntry ? await environment.neo4jLiveness?.().catch(() => undefined) : undefined;
  if (liveness && dumpEntry) {
    const risk = livenessWarning(liveness, { kind: "load", bytes: dumpEntry.size });
    if (risk) onEvent(risk);
  }

  const toStop = await (environment.stoppable?.(APP_STOP_ORDER) ?? environment.running(APP_STOP_ORDER));
  const fromStaged = (path: string) => (staged.has(path) ? ` (staged at ${staged.get(path)})` : "");
  const steps = [
    toStop.length > 0
      ? `stop the application services (${toStop.join(", ")})`
      : "no application service to stop (none runs, or none is under this tool's control)",
    ...(postgres
      ? [
          `restore PostgreSQL database ${postgres.database} from ${postgres.entry}${fromStaged(postgres.entry)} (${postgres.mode === "recreate" ? "into a new database, switched in at the end; the previous one is dropped once everything is restored" : "in place, in one transaction"})`,
        ]
      : []),
    dumpEntry
      ? atomicity === "atomic"
        ? `pause Neo4j, set the store of database ${neo4jCredentials.database} aside and load ${dumpEntry.path}${fromStaged(dumpEntry.path)} in its place, overwriting the graph (the previous store is put back if anything fails, removed once the new one serves)`
        : `pause Neo4j, REMOVE the store of database ${neo4jCredentials.database} and load ${dumpEntry.path} (non-atomic)`
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
      atomicity,
    },
    ...(postgres ? { postgres } : {}),
    steps,
  };
  onEvent({ type: "restore-plan", steps });
  if (options.dryRun) {
    return { plan, dryRun: true, durations: { totalMs: Date.now() - started, validateMs } };
  }

  // Destructive phase.
  const restoreStarted = Date.now();
  onEvent({ type: "phase-started", phase: "restore" });
  const stamp = stampOf(new Date());
  const pg =
    postgres && postgresExec && postgresCredentials
      ? new PostgresRestore(postgresExec, postgresCredentials, postgres.mode, { stamp, partialLeftovers })
      : undefined;
  const swap =
    storeLocation && atomicity === "atomic"
      ? new StoreSwap(databaseExec, storeLocation, { ...adminUser, stamp })
      : undefined;
  const truth: Truth = {
    neo4j: "untouched",
    deploymentIdReset: false,
    deploymentIdResetAsked: options.resetDeploymentId === true,
  };
  let skipped = false;
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
  try {
    await using held = hold;
    // The loads run side by side (different containers): the first failure stops the others.
    const loads = new AbortController();
    const loadSignal = AbortSignal.any([held.commandSignal, loads.signal]);

    const restorePostgresFrom = async (source: { file: string } | { entry: ArchiveFileEntry }) => {
      if (!pg || !postgres) return;
      const pgStarted = Date.now();
      const subject = { database: postgres.database };
      onEvent({ type: "phase-started", phase: "restore-postgres", subject });
      held.undoBeforeServices(() => pg.undo());
      if ("file" in source) {
        await pg.load({ file: source.file }, { signal: loadSignal });
      } else {
        const { entry } = source;
        await fedFrom(entry, pg.load({ stream: entry.body, bytes: entry.size }, { signal: loadSignal }));
        await entry.digest;
      }
      onEvent({
        type: "phase-finished",
        phase: "restore-postgres",
        durationMs: Date.now() - pgStarted,
        subject,
      });
    };
    const loadNeo4jFrom = async (source: { file: string } | { entry: ArchiveFileEntry }) => {
      if (!dumpEntry || !storeLocation) return;
      const loadStarted = Date.now();
      const subject = { database: neo4jCredentials.database };
      onEvent({ type: "phase-started", phase: "load-neo4j", subject });
      const frozen = await held.freezeNeo4j();
      loadSignal.throwIfAborted();
      if (swap) {
        // The helper puts the previous store back by itself if this process dies from here on.
        await setExpiryScript(databaseExec, frozen, swap.rollbackScript());
        held.undoWhileFrozen(() => swap.rollBack());
        await swap.setAside();
        onEvent({
          type: "store-set-aside",
          database: neo4jCredentials.database,
          path: swap.previousStoreDir,
        });
      } else {
        await removeStore(databaseExec, storeLocation, adminUser);
      }
      truth.neo4j = "loading";
      const admin = { ...adminUser, env: held.ownerEnv(), signal: loadSignal };
      if ("file" in source) {
        await loadNeo4jFromDirectory(databaseExec, neo4jCredentials.database, dirname(source.file), admin);
      } else {
        const { entry } = source;
        await fedFrom(
          entry,
          loadNeo4j(databaseExec, neo4jCredentials.database, entry.body, entry.size, admin),
        );
        await entry.digest;
      }
      truth.neo4j = "loaded";
      onEvent({ type: "phase-finished", phase: "load-neo4j", durationMs: Date.now() - loadStarted, subject });
      // From a staged file, Neo4j starts on the restored store while PostgreSQL still loads: its JVM start no
      // longer adds to the outage. The previous store stays set aside, so a later failure can still put it
      // back. Not while streaming: the archive's read would wait idle on Neo4j's start.
      if (swap && "file" in source) {
        // PostgreSQL's load failed meanwhile: the release puts the previous store back, still frozen.
        loadSignal.throwIfAborted();
        await serveRestoredNeo4j();
      }
    };

    /**
     * Resumes Neo4j on the loaded store and waits until it serves. When the restored store does not start,
     * the previous one is put back (and serves) and this throws.
     */
    const serveRestoredNeo4j = async () => {
      try {
        await held.resumeNeo4j();
      } catch (error) {
        if (!swap || truth.neo4j !== "loaded") throw error;
        // The restored store does not serve: put the previous one back while everything can still be undone.
        warn(
          "RESTORED_STORE_FAILED",
          `the restored Neo4j store did not start (${(error as Error).message}); putting the previous store back`,
        );
        await held.freezeNeo4j({ evenIfCancelled: true });
        await swap.rollBack();
        truth.neo4j = "rolled-back";
        await held.resumeNeo4j();
        throw new BackupError(
          "DATABASE_COMMAND_FAILED",
          `the restored Neo4j store did not start: ${(error as Error).message}`,
          {
            cause: error,
            hint: "the archive's checksums are right, but its Neo4j dump does not make a store that starts here (version?)",
          },
        );
      }
      if (truth.neo4j === "loaded") truth.neo4j = "serving";
    };

    /**
     * After a failure elsewhere (PostgreSQL's load or switch), a Neo4j already serving the restored store is
     * frozen again, so that the release puts the previous store back (its undo step runs while frozen).
     * When that freeze fails, the failure says what Neo4j holds (`truth.neo4j` stays "serving").
     */
    const refreezeForRollback = async () => {
      if (truth.neo4j !== "serving" || !swap) return;
      try {
        // Also after SIGINT/SIGTERM: a cancelled restore puts the previous store back.
        const frozen = await held.freezeNeo4j({ evenIfCancelled: true });
        await setExpiryScript(databaseExec, frozen, swap.rollbackScript());
        truth.neo4j = "loaded";
      } catch (error) {
        warn(
          "RESTORE_CLEANUP_FAILED",
          `could not stop Neo4j again to put its previous store back: ${(error as Error).message}`,
        );
      }
    };

    const stopStarted = Date.now();
    onEvent({ type: "phase-started", phase: "stop-services", subject: { reason: "restore" } });
    await held.stopApplications();
    onEvent({ type: "phase-finished", phase: "stop-services", durationMs: Date.now() - stopStarted });
    if (options.proceedOnceStopped && !(await options.proceedOnceStopped())) {
      // Declined with nothing changed: the services go back now, and the restore ends as skipped.
      await held.startApplications();
      skipped = true;
    } else {
      if (method === "enterprise-restore")
        held.undoBeforeServices(() => removeWorkDir(databaseExec, workDir, cleanupWarn));
      // Neo4j's clean shutdown (seconds of JVM work) overlaps the PostgreSQL restore; the application
      // services are stopped by then, so nothing is served meanwhile.
      if (dumpEntry) {
        held.freezeNeo4j().catch(() => {
          // Awaited again before the Neo4j load, or by the release: its failure is reported there.
        });
      }
      const tasks: Promise<void>[] = [];
      const start = (task: Promise<void>) => {
        task.catch((error: unknown) => loads.abort(error));
        tasks.push(task);
      };
      const pgFile = postgres ? staged.get(postgres.entry) : undefined;
      const neo4jFile = dumpEntry ? staged.get(dumpEntry.path) : undefined;
      if (pgFile) start(restorePostgresFrom({ file: pgFile }));
      if (neo4jFile) start(loadNeo4jFrom({ file: neo4jFile }));
      const streamed =
        (postgres !== undefined && !pgFile) ||
        (dumpEntry !== undefined && !neo4jFile) ||
        enterpriseFiles.length > 0;
      if (streamed) {
        // What was not staged travels from storage again, pinned to the bytes pass 1 verified.
        start(
          (async () => {
            await readArchive(await store.get(name, { pin: info, signal: loadSignal }), {
              ...readOptions,
              signal: loadSignal,
              onEntry: async (entry: ArchiveFileEntry) => {
                if (postgres && !pgFile && entry.path === postgres.entry) {
                  await restorePostgresFrom({ entry });
                } else if (enterpriseFiles.some((f) => f.path === entry.path)) {
                  // Staged first; applied only after the whole second pass verified.
                  await stageArtefact(
                    databaseExec,
                    workDir,
                    entry.path.slice("database/".length),
                    entry.body,
                    entry.size,
                    loadSignal,
                  );
                  await entry.digest;
                } else if (dumpEntry && !neo4jFile && entry.path === dumpEntry.path) {
                  await loadNeo4jFrom({ entry });
                }
              },
            });
          })(),
        );
      }
      // Every task has ended before anything else happens (none may touch a database behind the release).
      await Promise.allSettled(tasks);
      try {
        if (loads.signal.aborted) throw loads.signal.reason;
        // Every dump is loaded and verified (a staged Neo4j, atomically restored, serves already).
        if (pg) await pg.switchOver();
      } catch (error) {
        await refreezeForRollback();
        throw error;
      }
      if (method === "enterprise-restore") {
        truth.neo4j = "loading";
        const withdraw = held.undoBeforeServices(async () => {
          // Whatever the store holds now, a stopped database helps nobody: try to start it again.
          await cypherShell(
            databaseExec,
            neo4jCredentials,
            `START DATABASE \`${neo4jCredentials.database}\``,
            {
              database: "system",
            },
          );
        });
        try {
          await applyEnterpriseRestore(databaseExec, neo4jCredentials, workDir, {
            ...(options.migrateFormat ? { migrateFormat: true } : {}),
            ...(runtime.adminUser ? { adminUser: runtime.adminUser } : {}),
            onEvent,
            signal: held.commandSignal,
          });
        } finally {
          await removeWorkDir(databaseExec, workDir, cleanupWarn);
        }
        withdraw();
        truth.neo4j = "loaded";
      }
      // A no-op when Neo4j serves already; the Enterprise restore and the non-atomic load resume here.
      await serveRestoredNeo4j();
      // The point of no return: both databases serve the backup's data.
      truth.neo4j = "restored";
      await swap?.commit().catch((error: unknown) => cleanupWarn((error as Error).message));
      await pg
        ?.finish()
        .catch((error: unknown) =>
          cleanupWarn(`the previous task-manager database was kept: ${(error as Error).message}`),
        );
      if (options.resetDeploymentId) {
        await resetDeploymentId(databaseExec, neo4jCredentials);
        truth.deploymentIdReset = true;
      }
      await held.startApplications();
    }
  } catch (error) {
    // Someone scaling back what the hold stopped is the cause; the commands it aborted only its effect.
    throw restoreFailure(hold.interference ?? error, {
      truth,
      pg,
      swap,
      outcome: hold.outcome,
      signal,
      plan,
    });
  }
  onEvent({ type: "phase-finished", phase: "restore", durationMs: Date.now() - restoreStarted });
  return {
    plan,
    dryRun: false,
    ...(skipped ? { skipped: true } : {}),
    durations: {
      totalMs: Date.now() - started,
      validateMs,
      ...(hold.neo4jDowntimeMs !== undefined ? { neo4jDowntimeMs: hold.neo4jDowntimeMs } : {}),
    },
  };
}

/** How far the Neo4j half of a restore got. */
interface Truth {
  /** "serving": loaded and serving, before PostgreSQL switched (the previous store still set aside). */
  neo4j: "untouched" | "loading" | "loaded" | "serving" | "rolled-back" | "restored";
  deploymentIdReset: boolean;
  deploymentIdResetAsked: boolean;
}

/** What each database holds after a failed restore, in words and as a word. */
function databaseStates(
  truth: Truth,
  pg: PostgresRestore | undefined,
  swap: StoreSwap | undefined,
  plan: RestorePlan,
): { postgres: string; neo4j: string; changed: boolean; unchanged: boolean } {
  let postgres = "not part of this restore";
  let pgChanged = false;
  let pgUnchanged = true;
  if (pg) {
    if (pg.state === "restored") {
      postgres = "restored";
      pgChanged = true;
      pgUnchanged = false;
    } else if (pg.state === "switched") {
      postgres = `restored, but switching back failed: the previous data is kept as database ${pg.previousName}`;
      pgChanged = true;
      pgUnchanged = false;
    } else if (pg.state === "loading" && pg.mode === "recreate") {
      postgres = `unchanged (a leftover database ${pg.newName} could not be dropped)`;
    } else {
      postgres = "unchanged";
    }
  }
  let neo4j: string;
  let neoChanged = false;
  let neoUnchanged = true;
  const database = plan.neo4j.entries[0] ?? "the graph database";
  switch (truth.neo4j) {
    case "untouched":
      neo4j = "unchanged";
      break;
    case "rolled-back":
      neo4j = "unchanged (the previous store was put back)";
      break;
    case "serving":
      neo4j = `restored and serving, though the restore failed; the previous store is kept at ${swap?.previousStoreDir ?? "its set-aside directory"}: pause Neo4j and move it back, or run the restore again`;
      neoChanged = true;
      neoUnchanged = false;
      break;
    case "restored":
      neo4j =
        truth.deploymentIdReset || !truth.deploymentIdResetAsked
          ? "restored"
          : "restored (the deployment id was NOT reset)";
      neoChanged = true;
      neoUnchanged = false;
      break;
    default:
      if (swap?.state === "rolled-back") {
        neo4j = "unchanged (the previous store was put back)";
      } else if (swap) {
        neo4j = `holds an unfinished load; the previous store is kept at ${swap.previousStoreDir} (with ${swap.previousTransactionsDir}): pause Neo4j and move them back, or run the restore again`;
        neoUnchanged = false;
      } else {
        neo4j = `EMPTY or incomplete (non-atomic restore of ${database}): run the restore again`;
        neoUnchanged = false;
      }
  }
  return {
    postgres,
    neo4j,
    changed: pgChanged || neoChanged,
    unchanged: pgUnchanged && neoUnchanged,
  };
}

/**
 * The error a failed restore ends with: its cause, then per database what it holds, then the services.
 * Code: the cause's own when nothing changed and everything is back (a storage error stays a storage
 * error; CANCELLED after a signal); RESTORE_PARTIAL when a database changed or is in doubt;
 * SERVICES_NOT_RESTORED when something was not brought back.
 */
function restoreFailure(
  error: unknown,
  context: {
    truth: Truth;
    pg: PostgresRestore | undefined;
    swap: StoreSwap | undefined;
    outcome: HoldOutcome;
    signal: AbortSignal | undefined;
    plan: RestorePlan;
  },
): BackupError {
  const { outcome, signal } = context;
  const states = databaseStates(context.truth, context.pg, context.swap, context.plan);
  const cause = error instanceof Error ? error.message : String(error);
  const services = describeOutcome(outcome);
  const cancelled = signal?.aborted === true;
  const notBack = outcome.neo4j.state === "not-back" || outcome.services.state === "not-back";
  let code: ErrorCode;
  if (notBack) code = "SERVICES_NOT_RESTORED";
  else if (!states.unchanged) code = "RESTORE_PARTIAL";
  else if (cancelled) code = "CANCELLED";
  else code = isBackupError(error) ? error.code : "INTERNAL";
  const next = states.unchanged
    ? "Nothing was changed: fix the cause and run the restore again."
    : "Run the restore again to finish it.";
  return new BackupError(
    code,
    `${cancelled ? "restore cancelled" : "restore failed"}: ${cause}. PostgreSQL: ${states.postgres}. Neo4j: ${states.neo4j}.${services ? ` ${services.charAt(0).toUpperCase()}${services.slice(1)}.` : ""} ${next}`,
    {
      cause: error,
      ...(isBackupError(error) && error.hint && states.unchanged && !notBack ? { hint: error.hint } : {}),
      details: {
        postgres: states.postgres,
        neo4j: states.neo4j,
        neo4jService: outcome.neo4j,
        services: outcome.services,
      },
    },
  );
}

async function removeWorkDir(
  executor: Executor,
  workDir: string,
  warn: (message: string) => void,
): Promise<void> {
  const problem = await removeContainerDir(executor, workDir);
  if (problem !== undefined) warn(`could not remove ${workDir} on ${executor.target} (${problem})`);
}

/** Sets a new uuid on the :Root node (upstream #126), once Neo4j serves again, before the app starts. */
async function resetDeploymentId(
  executor: Executor,
  credentials: Awaited<ReturnType<typeof findNeo4jCredentials>>,
): Promise<void> {
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
async function probeDeployment(
  environment: Environment,
  hostEnv: HostEnv,
  onEvent: EventSink,
  signal: AbortSignal | undefined,
  tookOverLock: boolean,
) {
  const neo4jCredentials = await findNeo4jCredentials(environment, hostEnv, onEvent);
  const databaseExec = await environment.executor("database");
  if (tookOverLock) await waitForLeftFrozenNeo4j(databaseExec, neo4jCredentials, onEvent, signal);
  // Edition, the user database and (asked later, for staging) the store's location: one cypher-shell run.
  const serverFacts = neo4jServerFacts(databaseExec, neo4jCredentials, signal ? { signal } : {});
  const checks = [serverFacts.server(), serverFacts.databaseExists()] as const;
  // Both at once; a failure of the first is the one reported, as when they ran in turn.
  for (const outcome of await Promise.allSettled(checks))
    if (outcome.status === "rejected") throw outcome.reason;
  return { neo4jCredentials, databaseExec, serverFacts, running: await checks[0] };
}

/** A shell word, expanded in the task-manager-db container: the database's volume, else its temp directory. */
// biome-ignore lint/suspicious/noTemplateCurlyInString: shell parameter expansion, not a template
const PGDATA_OR_TMP = '"${PGDATA:-${TMPDIR:-/tmp}}"';

/** A UTC stamp for names of this run's leftovers (staging, previous stores, databases): `20261205t031500`. */
function stampOf(date: Date): string {
  return date.toISOString().replace(/[-:]/g, "").replace(/\..*$/, "").toLowerCase();
}
