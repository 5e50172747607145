import { BackupError } from "../errors.js";
import { compareArchivesNewestFirst, type StampTimeZone, stampToDate } from "./archive-name.js";
import type { BackupStore, ListedArchive, ListedObject } from "./backup-store.js";

/**
 * What pruneBackups keeps: the union of both rules, and always the newest archive; at least one rule is
 * required.
 */
export interface RetentionRules {
  /** Keep archives whose stamp is within the last N days (N ≥ 1). */
  keepDays?: number | undefined;
  /** Keep the N newest archives (N ≥ 1). */
  keepCount?: number | undefined;
}

export interface RetentionOptions extends RetentionRules {
  /** Reference time for `keepDays`. Default: now. */
  now?: Date | undefined;
  /** How stamps are read. Default "utc" (what we write); "local" for archives of the upstream tool on hosts not in UTC. */
  stampTimeZone?: StampTimeZone | undefined;
}

/** Why an archive is kept. */
export type KeepReason = "newest" | "keep-count" | "keep-days";

/** One archive and why it is kept. */
export interface RetentionDecision {
  /** The archive. */
  object: ListedArchive;
  /** Why it is kept (empty for deletions). */
  reasons: KeepReason[];
}

/** What pruning would keep and delete. */
export interface RetentionPlan {
  /** Newest first. */
  keep: RetentionDecision[];
  /** Newest first. */
  delete: RetentionDecision[];
  /** Objects that are not archive-named: never considered, never deleted. */
  ignored: string[];
}

/** Validates the rules as upstream 2.x does: at least one rule, each an integer ≥ 1. */
export function validateRetentionRules(rules: RetentionRules): void {
  if (rules.keepDays === undefined && rules.keepCount === undefined) {
    throw new BackupError("INVALID_ARGUMENT", "retention needs --keep-days and/or --keep-count", {
      hint: "e.g. --keep-days 7 --keep-count 3 keeps archives of the last 7 days and the 3 newest",
    });
  }
  for (const [flag, value] of [
    ["keep-days", rules.keepDays],
    ["keep-count", rules.keepCount],
  ] as const) {
    if (value !== undefined && (!Number.isInteger(value) || value < 1)) {
      throw new BackupError("INVALID_ARGUMENT", `--${flag} must be an integer of at least 1, got ${value}`);
    }
  }
}

/**
 * Plans retention (upstream 2.x `prune`): an archive is kept when it is among the `keepCount` newest OR
 * its stamp is within `keepDays` of `now`; the newest archive is always kept; only archive-named objects
 * are considered. Pure: no I/O.
 */
export function planRetention(objects: readonly ListedObject[], options: RetentionOptions): RetentionPlan {
  validateRetentionRules(options);
  const now = (options.now ?? new Date()).getTime();
  const zone = options.stampTimeZone ?? "utc";
  const archives = objects.filter((o): o is ListedArchive => o.archive !== undefined);
  const ignored = objects.filter((o) => o.archive === undefined).map((o) => o.name);
  archives.sort((a, b) => compareArchivesNewestFirst(a.archive, b.archive));
  const cutoff = options.keepDays === undefined ? undefined : now - options.keepDays * 86_400_000;
  const plan: RetentionPlan = { keep: [], delete: [], ignored };
  archives.forEach((object, index) => {
    const reasons: KeepReason[] = [];
    if (index === 0) reasons.push("newest");
    if (options.keepCount !== undefined && index < options.keepCount) reasons.push("keep-count");
    if (cutoff !== undefined && stampToDate(object.archive.stamp, zone).getTime() >= cutoff)
      reasons.push("keep-days");
    (reasons.length > 0 ? plan.keep : plan.delete).push({ object, reasons });
  });
  return plan;
}

/** What pruning deleted. */
export interface RetentionResult {
  /** Names deleted (with `dryRun`: that would be). */
  deleted: string[];
  /** Names that could not be deleted, each with its error. */
  failed: { name: string; error: BackupError }[];
  /** True when nothing was deleted. */
  dryRun: boolean;
}

/**
 * Executes a plan: deletes each planned archive (pinned to what was listed, so a replaced object is not
 * deleted). Continues past failures and reports them; `dryRun` deletes nothing.
 */
export async function applyRetention(
  store: BackupStore,
  plan: RetentionPlan,
  options: { dryRun?: boolean; signal?: AbortSignal; onDeleted?: (name: string) => void } = {},
): Promise<RetentionResult> {
  const result: RetentionResult = { deleted: [], failed: [], dryRun: options.dryRun ?? false };
  if (result.dryRun) return result;
  for (const { object } of plan.delete) {
    if (options.signal?.aborted) {
      throw new BackupError(
        "CANCELLED",
        `prune cancelled after deleting ${result.deleted.length} archive(s)`,
      );
    }
    try {
      await store.delete(object.name, { pin: object });
      result.deleted.push(object.name);
      options.onDeleted?.(object.name);
    } catch (error) {
      const wrapped =
        error instanceof BackupError
          ? error
          : new BackupError("STORAGE_FAILED", `deleting ${object.location} failed`, { cause: error });
      result.failed.push({ name: object.name, error: wrapped });
    }
  }
  return result;
}
