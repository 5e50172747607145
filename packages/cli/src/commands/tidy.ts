import {
  BackupError,
  type BackupStore,
  type ErrorCode,
  isBackupError,
  pruneBackups,
  type RetentionRules,
  type StaleUploadsResult,
} from "@infrahub-backup/core";
import type { Output } from "../output.js";

/** One refused object or upload: what it is and why, as printed and as JSON. */
export interface TidyFailure {
  name: string;
  location: string;
  code: ErrorCode;
  message: string;
  hint?: string | undefined;
}

/** What retention and the stale-upload sweep did in one store: the truth, not the plan. */
export interface TidyReport {
  location: string;
  dryRun: boolean;
  retention?: {
    deleted: { name: string; location: string }[];
    notDeleted: TidyFailure[];
    kept: { name: string; reasons: string[] }[];
    /** The whole step failed (e.g. the store could not be listed). */
    error?: TidyFailure | undefined;
  };
  staleUploads?: {
    aborted: { name: string; location: string; startedAt: string }[];
    notAborted: TidyFailure[];
    /** Unfinished uploads of archive names younger than the threshold: left alone. */
    recent: number;
    error?: TidyFailure | undefined;
  };
}

export interface TidyOptions {
  /** Retention rules; absent: no retention. */
  rules?: RetentionRules | undefined;
  /** Sweep unfinished uploads older than this; 0: no sweep. */
  staleUploadAgeMs: number;
  dryRun?: boolean;
  signal: AbortSignal;
}

function failure(error: unknown, name: string, location: string): TidyFailure {
  // A cancellation is not a result to report: it ends the command (130/143).
  if (isBackupError(error, "CANCELLED")) throw error;
  const known = isBackupError(error);
  return {
    name,
    location,
    code: known ? error.code : "INTERNAL",
    message: error instanceof Error ? error.message : String(error),
    hint: known ? error.hint : undefined,
  };
}

/**
 * Applies retention, then removes stale unfinished uploads, in one store. Never throws for a failed delete
 * or abort: each is reported with its error (the caller decides whether that fails the command).
 */
export async function tidyStore(store: BackupStore, options: TidyOptions): Promise<TidyReport> {
  const report: TidyReport = { location: store.root, dryRun: options.dryRun ?? false };
  if (options.rules) {
    try {
      const { plan, result } = await pruneBackups({
        store,
        rules: options.rules,
        ...(options.dryRun ? { dryRun: true } : {}),
        signal: options.signal,
      });
      const byName = new Map(plan.delete.map((d) => [d.object.name, d.object.location]));
      report.retention = {
        deleted: (result.dryRun ? plan.delete.map((d) => d.object.name) : result.deleted).map((name) => ({
          name,
          location: byName.get(name) ?? store.location(name),
        })),
        notDeleted: result.failed.map((f) =>
          failure(f.error, f.name, byName.get(f.name) ?? store.location(f.name)),
        ),
        kept: plan.keep.map((k) => ({ name: k.object.name, reasons: k.reasons })),
      };
    } catch (error) {
      report.retention = {
        deleted: [],
        notDeleted: [],
        kept: [],
        error: failure(error, "", store.root),
      };
    }
  }
  if (options.staleUploadAgeMs > 0) {
    let swept: StaleUploadsResult;
    try {
      swept = await store.removeStaleUploads({
        olderThanMs: options.staleUploadAgeMs,
        ...(options.dryRun ? { dryRun: true } : {}),
        signal: options.signal,
      });
      report.staleUploads = {
        aborted: swept.removed.map((u) => ({
          name: u.name,
          location: u.location,
          startedAt: u.startedAt.toISOString(),
        })),
        notAborted: swept.failed.map((f) => failure(f.error, f.name, f.location)),
        recent: swept.recent,
      };
    } catch (error) {
      report.staleUploads = { aborted: [], notAborted: [], recent: 0, error: failure(error, "", store.root) };
    }
  }
  return report;
}

/** Counts for summaries. */
export function tidyCounts(reports: readonly TidyReport[]): {
  deleted: number;
  not_deleted: number;
  /** Stores where retention could not run at all. */
  retention_errors: number;
  stale_uploads_aborted: number;
  stale_uploads_not_aborted: number;
} {
  const sum = (f: (r: TidyReport) => number) => reports.reduce((n, r) => n + f(r), 0);
  return {
    deleted: sum((r) => r.retention?.deleted.length ?? 0),
    not_deleted: sum((r) => r.retention?.notDeleted.length ?? 0),
    retention_errors: sum((r) => (r.retention?.error ? 1 : 0)),
    stale_uploads_aborted: sum((r) => r.staleUploads?.aborted.length ?? 0),
    stale_uploads_not_aborted: sum((r) => r.staleUploads?.notAborted.length ?? 0),
  };
}

/** The JSON form of a report (snake_case, like the rest of the CLI's JSON). */
export function tidyJson(report: TidyReport): Record<string, unknown> {
  const fail = (f: TidyFailure) => ({
    name: f.name || undefined,
    location: f.location,
    code: f.code,
    message: f.message,
  });
  return {
    location: report.location,
    dry_run: report.dryRun,
    ...(report.retention
      ? {
          retention: {
            deleted: report.retention.deleted,
            not_deleted: report.retention.notDeleted.map(fail),
            kept: report.retention.kept,
            ...(report.retention.error ? { error: fail(report.retention.error) } : {}),
          },
        }
      : {}),
    ...(report.staleUploads
      ? {
          stale_uploads: {
            aborted: report.staleUploads.aborted.map((u) => ({
              name: u.name,
              location: u.location,
              started_at: u.startedAt,
            })),
            not_aborted: report.staleUploads.notAborted.map(fail),
            recent: report.staleUploads.recent,
            ...(report.staleUploads.error ? { error: fail(report.staleUploads.error) } : {}),
          },
        }
      : {}),
  };
}

/**
 * The lines of what was done, for stdout: `deleted`, `NOT deleted`, `kept`, `aborted upload`,
 * `NOT aborted`; `would …` in a dry run.
 */
export function tidyLines(report: TidyReport): string[] {
  const lines: string[] = [];
  const would = report.dryRun;
  if (report.retention) {
    for (const d of report.retention.deleted) lines.push(`${would ? "would delete" : "deleted"}\t${d.name}`);
    for (const f of report.retention.notDeleted) lines.push(`NOT deleted\t${f.name}\t${f.message}`);
    for (const k of report.retention.kept) lines.push(`kept\t${k.name}\t${k.reasons.join(",")}`);
    if (report.retention.error)
      lines.push(`NOT pruned\t${report.location}\t${report.retention.error.message}`);
  }
  if (report.staleUploads) {
    for (const u of report.staleUploads.aborted) {
      lines.push(`${would ? "would abort upload" : "aborted upload"}\t${u.location}\tstarted ${u.startedAt}`);
    }
    for (const f of report.staleUploads.notAborted) lines.push(`NOT aborted\t${f.location}\t${f.message}`);
  }
  return lines;
}

/**
 * Logs every failure of a report as a warning (stderr), and a sweep that could not run at all. Returns the
 * number of warnings.
 */
export function warnTidyFailures(output: Output, report: TidyReport): number {
  let warnings = 0;
  const warn = (message: string, f: TidyFailure) => {
    warnings++;
    output.warn(message, {
      location: f.location,
      ...(f.name ? { name: f.name } : {}),
      code: f.code,
      error: f.message,
      ...(f.hint ? { hint: f.hint } : {}),
    });
  };
  for (const f of report.retention?.notDeleted ?? []) warn("Retention: archive NOT deleted", f);
  if (report.retention?.error) warn("Retention could not run", report.retention.error);
  for (const f of report.staleUploads?.notAborted ?? []) warn("Unfinished upload NOT aborted", f);
  return warnings + warnSweepError(output, report);
}

/** A sweep that could not list uploads at all (e.g. no s3:ListBucketMultipartUploads): one warning. */
export function warnSweepError(output: Output, report: TidyReport): number {
  const f = report.staleUploads?.error;
  if (!f) return 0;
  output.warn("Unfinished uploads could not be listed; --stale-upload-age 0 skips this sweep", {
    location: f.location,
    code: f.code,
    error: f.message,
    ...(f.hint ? { hint: f.hint } : {}),
  });
  return 1;
}

/** A failure as the BackupError it was. */
export function tidyFailureError(f: TidyFailure): BackupError {
  return new BackupError(f.code, f.message, f.hint ? { hint: f.hint } : {});
}

/**
 * The error that ends `prune` when something it should have deleted (or aborted) was not: exit 4 when
 * every refusal was a permission problem, else 9. Names the objects.
 */
export function tidyError(reports: readonly TidyReport[]): BackupError | undefined {
  const failures = reports.flatMap((r) => [
    ...(r.retention?.notDeleted ?? []),
    ...(r.staleUploads?.notAborted ?? []),
  ]);
  const first = failures[0];
  if (!first) return undefined;
  const auth = failures.every((f) => f.code === "STORAGE_ACCESS_DENIED" || f.code === "STORAGE_CREDENTIALS");
  const names = failures.map((f) => f.name || f.location);
  const shown =
    names.length > 5 ? `${names.slice(0, 5).join(", ")} and ${names.length - 5} more` : names.join(", ");
  const { deleted } = tidyCounts(reports);
  return new BackupError(
    auth ? first.code : "STORAGE_FAILED",
    `prune left ${failures.length} item(s) it should have removed (deleted ${deleted}): ${shown}; first error: ${first.message}`,
    {
      ...(first.hint ? { hint: first.hint } : {}),
      details: {
        not_removed: failures.map((f) => ({ name: f.name || undefined, location: f.location, code: f.code })),
      },
    },
  );
}
