import type { KeyObject } from "node:crypto";
import { type ArchiveReport, verifyArchive } from "../archive/archive-reader.js";
import { compareArchivesNewestFirst } from "../storage/archive-name.js";
import type { BackupStore, ListedArchive } from "../storage/backup-store.js";
import {
  applyRetention,
  planRetention,
  type RetentionPlan,
  type RetentionResult,
  type RetentionRules,
} from "../storage/retention.js";

/** Reads a stored archive end to end and reports entries, sizes, checksums and metadata; writes nothing. */
export async function verifyBackup(options: {
  store: BackupStore;
  name: string;
  decryptKey?: string | KeyObject;
  excludeTaskManager?: boolean;
  signal?: AbortSignal;
}): Promise<ArchiveReport & { location: string }> {
  const info = await options.store.head(options.name);
  const stream = await options.store.get(options.name, {
    pin: info,
    ...(options.signal ? { signal: options.signal } : {}),
  });
  const report = await verifyArchive(stream, {
    ...(options.decryptKey !== undefined ? { decryptKey: options.decryptKey } : {}),
    ...(options.excludeTaskManager ? { excludeTaskManager: true } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
  });
  return { ...report, location: info.location };
}

/** The archives in a store, newest first. */
export async function listBackups(store: BackupStore): Promise<ListedArchive[]> {
  const archives = (await store.list()).filter((o): o is ListedArchive => o.archive !== undefined);
  return archives.sort((a, b) => compareArchivesNewestFirst(a.archive, b.archive));
}

/** Applies retention (keep-days ∪ keep-count, newest always kept); `dryRun` only plans. */
export async function pruneBackups(options: {
  store: BackupStore;
  rules: RetentionRules;
  dryRun?: boolean;
  now?: Date;
  signal?: AbortSignal;
}): Promise<{ plan: RetentionPlan; result: RetentionResult }> {
  const plan = planRetention(await options.store.list(), {
    ...options.rules,
    ...(options.now ? { now: options.now } : {}),
  });
  const result = await applyRetention(options.store, plan, {
    ...(options.dryRun ? { dryRun: true } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
  });
  return { plan, result };
}
