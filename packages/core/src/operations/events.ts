import type { DrillCheckResult } from "../drill/drill-checks.js";
import type { Neo4jServerInfo } from "../engines/neo4j/edition.js";

/**
 * The phases of a create or a restore. Each is announced by `phase-started` and, once it succeeded, closed
 * by `phase-finished` with its duration; a failed phase has no `phase-finished` (the error tells).
 */
export type OperationPhase =
  /** Checks before anything is stopped or written. */
  | "preflight"
  /** Create: the archive being written to the store, from the first byte to the commit. */
  | "write-archive"
  /** Create: `pg_dump` of the task-manager database, online. */
  | "dump-postgres"
  /** Create, Enterprise: the online backup of the Neo4j database. */
  | "backup-neo4j"
  /** Create, Community: the offline dump of the Neo4j database (staged in its container or streamed). */
  | "dump-neo4j"
  /** Create, Community: the staged Neo4j dump streaming to the store (Neo4j serves again). */
  | "upload-staged-dump"
  /** Application services being stopped before Neo4j goes offline. */
  | "stop-services"
  /** Restore: both passes over the archive (checksums, metadata), before anything changes. */
  | "verify"
  /** Restore: the task-manager database loaded (not yet switched in). */
  | "restore-postgres"
  /** Restore: the Neo4j database loaded. */
  | "load-neo4j"
  /** Restore: the whole destructive part, from stopping services to the last check. */
  | "restore"
  /** Drill: the archive read once, every checksum verified, its dumps loaded into throwaway databases. */
  | "drill-load"
  /** Drill: the throwaway Neo4j started on the loaded store, until its database is online. */
  | "drill-start"
  /** Drill: the checks of the loaded data. */
  | "drill-checks";

/** Facts a phase starts with; which ones are set depends on the phase. */
export interface PhaseSubject {
  /** `preflight`: the deployment. */
  deployment?: { kind: string; name: string };
  /** `write-archive`, `upload-staged-dump`, `verify`: the archive's location. */
  location?: string;
  /** `verify`: the archive's size in bytes. */
  size?: number;
  /** The database a dump, backup or load is of. */
  database?: string;
  /** `dump-neo4j`: the directory in the database container the dump is staged in (absent: streamed). */
  stagedIn?: string;
  /** `verify` (finished): the backup id read from the archive's metadata. */
  backupId?: string;
  /** `stop-services`: why they are stopped (`offline-neo4j-dump`, `restore`). */
  reason?: "offline-neo4j-dump" | "restore";
}

/** Stable codes of `warning` events: what happened, whatever the wording. */
export type WarningCode =
  /** The operation lock or Lease: renewal trouble, taken over. */
  | "LOCK"
  /** A service's environment could not be read; defaults were used. */
  | "SERVICE_ENV_UNREADABLE"
  /** Running tasks could not be listed; the backup went on without waiting. */
  | "TASKS_UNCHECKED"
  /** Someone scaled a held service back (the operation is aborted). */
  | "SCALE_CONFLICT"
  /** Neo4j's process exited before it could be frozen; retried. */
  | "FREEZE_RETRY"
  /** Neo4j's container has a liveness probe that may restart it before the offline dump or load ends. */
  | "LIVENESS_PROBE"
  /** Neo4j, killed while frozen, was started again on a store still in use; the tool restarted it. */
  | "NEO4J_RESTARTED"
  /** Bringing the deployment back: a step failed; the others ran. */
  | "RELEASE_STEP_FAILED"
  /** The Neo4j freeze helper's work directory could not be removed from the database container. */
  | "FREEZE_WORK_DIR_LEFT"
  /** The Enterprise backup's work directory (a copy of the database) could not be removed from its container. */
  | "BACKUP_WORK_DIR_LEFT"
  /** A failed upload could not be removed from storage. */
  | "UPLOAD_NOT_REMOVED"
  /** A staging directory could not be removed; the next operation removes it. */
  | "STAGING_NOT_REMOVED"
  /** `--redact` is rewriting the live graph. */
  | "REDACTING"
  /** The size estimate could not be made; S3 parts and progress go without it. */
  | "NO_SIZE_ESTIMATE"
  /** Restore: `--allow-non-atomic`, the current graph is removed before the load. */
  | "NON_ATOMIC_RESTORE"
  /** Restore: a store set aside by an interrupted restore is still on disk. */
  | "PREVIOUS_STORE_LEFT"
  /** Restore: a PostgreSQL database left by an interrupted restore (a partial one is dropped, a previous one kept). */
  | "LEFTOVER_DATABASE"
  /** Restore: the restored store did not start; the previous one is put back. */
  | "RESTORED_STORE_FAILED"
  /** Restore: finishing the store swap or the PostgreSQL switch left something behind. */
  | "RESTORE_CLEANUP_FAILED"
  /** CLI: the run's metrics could not be pushed to the Pushgateway or written to the metrics file. */
  | "METRICS_NOT_PUBLISHED"
  /** CLI: a notification webhook did not accept the run's notification. */
  | "NOTIFICATION_NOT_SENT";

/**
 * What an operation reports while it runs. Every event carries what a program needs as fields; only
 * `warning` has prose (it quotes errors from other programs). The CLI renders them as log lines and
 * progress.
 */
export type OperationEvent =
  | { type: "phase-started"; phase: OperationPhase; subject?: PhaseSubject }
  | {
      type: "phase-finished";
      phase: OperationPhase;
      durationMs: number;
      /** What the phase wrote or read, when it moved bytes. */
      bytes?: number;
      subject?: PhaseSubject;
    }
  /**
   * `bytes` of `entry` so far. `total` is set when the size is known beforehand; `estimated` says it is
   * an estimate (a dump is compressed: it usually ends below it).
   */
  | { type: "progress"; entry: string; bytes: number; total?: number; estimated?: boolean }
  /** Application services stopped: `how` is `stopped` (containers) or `scaled-down` (Kubernetes). */
  | { type: "services-stopped"; services: readonly string[]; how: ServiceChange }
  /** Application services back: `how` is `started` (containers) or `scaled-up` (Kubernetes). */
  | { type: "services-started"; services: readonly string[]; how: ServiceChange; downMs?: number }
  /** Neo4j shut down cleanly and frozen (Community offline work). */
  | { type: "neo4j-stopped"; how: "frozen" }
  /** Neo4j serving its user database again, after `downtimeMs` offline. */
  | { type: "neo4j-serving"; database: string; downtimeMs: number }
  | { type: "neo4j-detected"; server: Neo4jServerInfo }
  | {
      type: "postgres-detected";
      version: string;
      database: string;
      /** The `pg_dump` compression flag chosen, and why. */
      compression: { flag: string; reason: string };
    }
  /** What the archive is expected to weigh: from the store sizes, an upper bound. */
  | { type: "size-estimated"; bytes: number; parts: { neo4jStore?: number; postgres?: number } }
  /** Running Infrahub tasks being waited for (a few named). */
  | { type: "tasks-running"; count: number; tasks: string[] }
  /** An Enterprise `neo4j-admin` step (`what` is the step's description). */
  | { type: "command-started"; what: string }
  /** A dump is streamed to the store instead of staged, and why. */
  | { type: "not-staged"; what: string; reason: string }
  /** Restore: an archive entry copied into a container before the load. */
  | { type: "entry-staged"; entry: string; path: string; target: string; bytes: number; durationMs: number }
  /** Restore: the previous Neo4j store kept at `path` until the restored one serves. */
  | { type: "store-set-aside"; database: string; path: string }
  /** Restore: what will be done (also the whole result of a dry run). */
  | { type: "restore-plan"; steps: readonly string[] }
  /** Create: the archive is complete and visible in the store. */
  | { type: "committed"; location: string; size: number }
  /** Drill: one check's outcome. */
  | { type: "drill-check"; check: DrillCheckResult }
  /** Drill: a database not drilled, and why (`no-dump`: the archive has none; `excluded`: left out). */
  | { type: "drill-skipped"; component: "postgres"; reason: "no-dump" | "excluded" }
  /** Restore `--only-if-fresh`: whether the deployment holds only what Infrahub's first start creates, and why not. */
  | { type: "freshness-checked"; fresh: boolean; findings: readonly string[]; graphNodes: number }
  | { type: "warning"; code: WarningCode; message: string; fields?: Record<string, unknown> };

/** How services were brought down or back: containers stop and start, Kubernetes workloads scale. */
export type ServiceChange = "stopped" | "started" | "scaled-down" | "scaled-up";

/** Receives an operation's events, synchronously and in order; it must not throw. */
export type EventSink = (event: OperationEvent) => void;

/** The default sink: events are dropped. */
export const ignoreEvents: EventSink = () => undefined;
