import { BackupError, type BackupStore, createBackup } from "@infrahub-backup/core";
import { selectEnvironment } from "../environment-select.js";
import { freezeHelperResolver } from "../freeze-helper.js";
import type { ParsedCommand } from "../parse.js";
import { copyArchive, loadEncryptKey, localStore, reportingReads, s3Store } from "../stores.js";
import { humanBytes } from "../values.js";
import { type CommandContext, hostEnv, sleep } from "./context.js";
import { type TidyReport, tidyCounts, tidyJson, tidyStore, warnTidyFailures } from "./tidy.js";
import { waitUntilReady } from "./wait-ready.js";

type Create = Extract<ParsedCommand, { command: "create" }>;

/**
 * `create`: without --s3-upload the archive is written to --backup-dir; with --s3-upload it streams
 * straight to S3 (no local file); with --s3-keep-local too it is written locally, then uploaded, and
 * the local file stays.
 */
export async function runCreate(cmd: Create, ctx: CommandContext): Promise<number> {
  const { output } = ctx;
  const signal = ctx.cancellation.signal;
  if (cmd.redact && !cmd.force) {
    // Checked before any environment is touched (the library checks it too, for its own callers).
    throw new BackupError(
      "INVALID_ARGUMENT",
      "--redact rewrites every attribute value of the live database",
      {
        hint: "confirm with --force (and make sure this is a copy you may change)",
      },
    );
  }
  const encryptTo = await loadEncryptKey(cmd.encrypt, cmd.encryptKey);
  const s3 = cmd.s3Upload ? s3Store(cmd.global, output) : undefined;
  const local =
    !cmd.s3Upload || cmd.s3KeepLocal ? localStore(cmd.global.backupDir, cmd.archiveMode) : undefined;
  const target: BackupStore = (local ?? s3) as BackupStore;
  // With --s3-keep-local the archive is written locally first (the library's preflight checks that store);
  // the S3 upload comes after, so prove write access to S3 now, before anything is stopped.
  if (local && s3) await s3.check({ write: true, signal });
  const environment = await selectEnvironment(cmd.global);
  await waitUntilReady(
    environment,
    cmd.waitReadyMs,
    ctx,
    cmd.excludeTaskManager ? ["database"] : ["database", "task-manager-db"],
  );
  const result = await createBackup({
    environment,
    store: target,
    toolVersion: ctx.version,
    freezeHelper: freezeHelperResolver(ctx.env),
    hostEnv: hostEnv(ctx.env),
    excludeTaskManager: cmd.excludeTaskManager,
    force: cmd.force,
    redact: cmd.redact,
    neo4jMetadata: cmd.neo4jMetadata,
    staging: cmd.staging,
    ...(encryptTo ? { encryptTo } : {}),
    signal,
    onEvent: output.onEvent,
  });
  output.info("Backup created successfully", {
    path: result.location,
    filename: result.name,
    size_bytes: result.size,
    size_human: humanBytes(result.size),
    backup_id: result.metadata.backupId,
    neo4j_edition: result.metadata.neo4jEdition,
  });
  const locations = [result.location];
  if (local && s3) {
    const uploaded = await copyArchive(reportingReads(local, output), s3, result.name, signal).catch(
      (error: unknown) => {
        output.log("error", `backup created locally but S3 upload failed: ${(error as Error).message}`, {
          path: result.location,
        });
        throw error;
      },
    );
    output.info("Backup uploaded to S3", { location: uploaded.location, size_bytes: uploaded.size });
    locations.push(uploaded.location);
  }
  // Housekeeping after the success: retention, then unfinished uploads of killed runs. A failure here never
  // turns the backup into a failure (it is stored), but it is a warning nobody can miss: each object on
  // stderr, counts in the JSON result and summary, and a last WARNING line.
  const rules =
    cmd.retentionDays !== undefined || cmd.retentionCount !== undefined
      ? {
          ...(cmd.retentionDays !== undefined ? { keepDays: cmd.retentionDays } : {}),
          ...(cmd.retentionCount !== undefined ? { keepCount: cmd.retentionCount } : {}),
        }
      : undefined;
  const tidied: TidyReport[] = [];
  for (const store of [local, s3]) {
    if (!store || (!rules && cmd.staleUploadAgeMs <= 0)) continue;
    const report = await tidyStore(store, { rules, staleUploadAgeMs: cmd.staleUploadAgeMs, signal });
    tidied.push(report);
    if (report.retention && !report.retention.error) {
      output.info("Retention applied", {
        location: store.root,
        deleted: report.retention.deleted.length,
        not_deleted: report.retention.notDeleted.length,
      });
    }
    if (report.staleUploads && report.staleUploads.aborted.length > 0) {
      output.info("Unfinished uploads of earlier runs aborted", {
        location: store.root,
        aborted: report.staleUploads.aborted.length,
      });
    }
  }
  const warnings = tidied.reduce((n, r) => n + warnTidyFailures(output, r), 0);
  const counts = tidyCounts(tidied);
  output.result(locations.join("\n"), {
    command: "create",
    name: result.name,
    locations,
    size_bytes: result.size,
    metadata: result.metadata,
    ...(tidied.length > 0 ? { housekeeping: tidied.map(tidyJson) } : {}),
    warnings,
  });
  if (counts.not_deleted > 0 || counts.retention_errors > 0) {
    output.warn(
      counts.not_deleted > 0
        ? `WARNING: the backup succeeded, but retention left ${counts.not_deleted} archive(s) it should have deleted; see the warnings above`
        : "WARNING: the backup succeeded, but retention could not run; see the warnings above",
      { not_deleted: counts.not_deleted, deleted: counts.deleted },
    );
  }
  output.summary({
    command: "create",
    name: result.name,
    locations,
    size_bytes: result.size,
    durations: result.durations,
    ...(rules
      ? {
          retention: {
            deleted: counts.deleted,
            not_deleted: counts.not_deleted,
            ...(counts.retention_errors > 0 ? { errors: counts.retention_errors } : {}),
          },
        }
      : {}),
    ...(cmd.staleUploadAgeMs > 0
      ? {
          stale_uploads: {
            aborted: counts.stale_uploads_aborted,
            not_aborted: counts.stale_uploads_not_aborted,
          },
        }
      : {}),
    warnings,
  });
  await sleep(cmd.sleepMs, signal, ctx, "Sleeping before exit");
  return 0;
}
