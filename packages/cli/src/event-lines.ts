import type { OperationEvent } from "@infrahub-backup/core";
import { humanBytes } from "./values.js";

type PhaseStarted = Extract<OperationEvent, { type: "phase-started" }>;
type PhaseFinished = Extract<OperationEvent, { type: "phase-finished" }>;

/** One log line an event becomes. */
export interface EventLine {
  level: "debug" | "info" | "warn";
  message: string;
  fields?: Record<string, unknown>;
}

const info = (message: string, fields?: Record<string, unknown>): EventLine =>
  fields ? { level: "info", message, fields } : { level: "info", message };

/**
 * The log lines of a library event (`progress` has none: it is a transfer). The sentences are those the
 * CLI printed before events were typed; every fact comes from the event's fields.
 */
export function eventLines(event: OperationEvent): EventLine[] {
  switch (event.type) {
    case "phase-started":
      return [phaseStarted(event)];
    case "phase-finished":
      return [phaseFinished(event)];
    case "progress":
      return [];
    case "services-stopped":
      return [info(`stopped ${event.services.join(", ")}`, { how: event.how })];
    case "services-started":
      return event.services.length > 0 ? [info(`started ${event.services.join(", ")}`)] : [];
    case "neo4j-stopped":
      return [{ level: "debug", message: `Neo4j ${event.how}` }];
    case "neo4j-serving":
      return [
        info(`Neo4j serving database ${event.database} again after ${event.downtimeMs} ms offline`, {
          downtimeMs: event.downtimeMs,
        }),
      ];
    case "neo4j-detected":
      return [info(`Neo4j ${event.server.version} ${event.server.edition}`, { ...event.server })];
    case "postgres-detected":
      return [
        info(`PostgreSQL ${event.version}`, { database: event.database }),
        info(`pg_dump compression: ${event.compression.reason}`, { flag: event.compression.flag }),
      ];
    case "size-estimated":
      return [
        info(`size estimate: ${humanBytes(event.bytes)}`, {
          bytes: event.bytes,
          ...(event.parts.neo4jStore !== undefined ? { neo4j_store_bytes: event.parts.neo4jStore } : {}),
          ...(event.parts.postgres !== undefined ? { postgres_bytes: event.parts.postgres } : {}),
        }),
      ];
    case "tasks-running":
      return [info(`waiting for ${event.count} running Infrahub task(s) to finish`, { tasks: event.tasks })];
    case "command-started":
      return [info(event.what)];
    case "not-staged":
      return [info(`streaming ${event.what}, not staged: ${event.reason}`)];
    case "entry-staged":
      return [
        info(`${event.entry} staged at ${event.path} on ${event.target} in ${event.durationMs} ms`, {
          bytes: event.bytes,
        }),
      ];
    case "store-set-aside":
      return [
        info(
          `the store of database ${event.database} was set aside at ${event.path} until the restored one serves`,
        ),
      ];
    case "restore-plan":
      return [info("restore plan", { steps: event.steps })];
    case "committed":
      return [info(`backup committed at ${event.location}`, { size: event.size })];
    case "drill-check":
      return [
        {
          level: event.check.status === "failed" ? "warn" : "info",
          message: `check ${event.check.name}: ${event.check.status} (${event.check.message})`,
          fields: {
            check: event.check.name,
            status: event.check.status,
            ...(event.check.value !== undefined ? { value: event.check.value } : {}),
            ...(event.check.expected !== undefined ? { expected: event.check.expected } : {}),
          },
        },
      ];
    case "drill-skipped":
      return [
        info(
          event.reason === "no-dump"
            ? "PostgreSQL not drilled: the archive has no task-manager database"
            : "PostgreSQL not drilled: left out (--exclude-taskmanager)",
          { component: event.component, reason: event.reason },
        ),
      ];
    case "freshness-checked":
      return [
        info(
          event.fresh
            ? `the deployment holds nothing beyond a fresh Infrahub (${event.graphNodes} graph nodes)`
            : `the deployment holds data: ${event.findings.join("; ")}`,
          { fresh: event.fresh, graph_nodes: event.graphNodes },
        ),
      ];
    case "warning":
      return [
        {
          level: "warn",
          message: event.message,
          fields: { code: event.code, ...event.fields },
        },
      ];
  }
}

function phaseStarted(event: PhaseStarted): EventLine {
  const s = event.subject ?? {};
  switch (event.phase) {
    case "preflight":
      return info(`preflight on ${s.deployment?.kind} deployment ${s.deployment?.name}`);
    case "write-archive":
      return info(`writing ${s.location}`);
    case "dump-postgres":
      return info("dumping PostgreSQL (online)");
    case "backup-neo4j":
      return info(`backing up Neo4j database ${s.database} online`);
    case "dump-neo4j":
      return info(
        s.stagedIn
          ? `dumping Neo4j database ${s.database} (offline) to ${s.stagedIn} in its container`
          : `dumping Neo4j database ${s.database} (offline)`,
      );
    case "upload-staged-dump":
      return info(`streaming the staged Neo4j dump to ${s.location}`);
    case "stop-services":
      return info(
        s.reason === "offline-neo4j-dump"
          ? "stopping application services for the offline Neo4j dump"
          : "stopping application services",
      );
    case "verify":
      return info(`verifying ${s.location} (${s.size} bytes)`);
    case "restore-postgres":
      return info(`restoring PostgreSQL database ${s.database}`);
    case "load-neo4j":
      return info(`loading Neo4j database ${s.database}`);
    case "restore":
      return { level: "debug", message: "restoring" };
    case "drill-load":
      return info(`drill: reading ${s.location} (${s.size} bytes) into throwaway databases`);
    case "drill-start":
      return info(`drill: starting Neo4j on the loaded database ${s.database}`);
    case "drill-checks":
      return info("drill: checking the loaded data");
  }
}

function phaseFinished(event: PhaseFinished): EventLine {
  const s = event.subject ?? {};
  const ms = event.durationMs;
  const moved = { bytes: event.bytes, durationMs: ms };
  switch (event.phase) {
    case "dump-postgres":
      return info(`PostgreSQL dump finished: ${event.bytes} bytes in ${ms} ms`, moved);
    case "dump-neo4j":
      return s.stagedIn
        ? info(`Neo4j dump staged in ${ms} ms`)
        : info(`Neo4j dump finished: ${event.bytes} bytes in ${ms} ms`, moved);
    case "upload-staged-dump":
      return info(
        `Neo4j dump finished: ${event.bytes} bytes streamed from its staging directory in ${ms} ms`,
        moved,
      );
    case "verify":
      return info(`archive verified in ${ms} ms`, { backupId: s.backupId });
    case "restore-postgres":
      return info(`PostgreSQL database ${s.database} restored (not yet switched in)`);
    case "load-neo4j":
      return info(`Neo4j database ${s.database} loaded`);
    case "restore":
      return info("restore completed");
    case "drill-load":
      return info(`drill: archive verified and loaded in ${ms} ms`, { backupId: s.backupId });
    case "drill-start":
      return info(`drill: Neo4j serves database ${s.database} (started in ${ms} ms)`);
    default:
      return {
        level: "debug",
        message: `${event.phase} finished`,
        fields: { durationMs: ms, ...(event.bytes !== undefined ? { bytes: event.bytes } : {}) },
      };
  }
}
