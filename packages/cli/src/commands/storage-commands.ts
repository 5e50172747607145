import { BackupError, listBackups, pruneBackups, verifyBackup } from "@infrahub-backup/core";
import type { ParsedCommand } from "../parse.js";
import { loadDecryptKey, localStore, resolveSource, s3Store } from "../stores.js";
import { humanBytes } from "../values.js";
import { type CommandContext, confirm, interactive } from "./context.js";
import {
  tidyCounts,
  tidyError,
  tidyFailureError,
  tidyJson,
  tidyLines,
  tidyStore,
  warnSweepError,
} from "./tidy.js";

type Verify = Extract<ParsedCommand, { command: "verify" }>;
type List = Extract<ParsedCommand, { command: "list" }>;
type Prune = Extract<ParsedCommand, { command: "prune" }>;

/** `verify`: reads the archive end to end, checks every checksum; integrity problems exit with its code. */
export async function runVerify(cmd: Verify, ctx: CommandContext): Promise<number> {
  const { output } = ctx;
  const { store, name } = await resolveSource(cmd.source, cmd.global, output);
  const decryptKey = await loadDecryptKey(cmd.decryptKey);
  const report = await verifyBackup({
    store,
    name,
    ...(decryptKey ? { decryptKey } : {}),
    excludeTaskManager: cmd.excludeTaskManager,
    signal: ctx.cancellation.signal,
  });
  ctx.run?.archive(report.location);
  const first = report.problems[0];
  if (!report.ok && first) {
    throw new BackupError(first.code, `${report.location}: ${first.message}`, {
      details: { problems: report.problems },
    });
  }
  const lines = [
    `${report.location}: OK`,
    `  backup_id:        ${report.metadata.backupId}`,
    `  created_at:       ${report.metadata.createdAt}`,
    `  infrahub_version: ${report.metadata.infrahubVersion}`,
    `  components:       ${report.metadata.components.join(", ")}`,
    `  encrypted:        ${report.encrypted}`,
    ...report.entries.filter((e) => e.type === "file").map((e) => `  ${e.name}  ${humanBytes(e.size)}`),
  ];
  if (report.checksumsAbsent)
    lines.push("  warning: the metadata has no checksums; nothing could be verified");
  output.result(lines.join("\n"), {
    command: "verify",
    location: report.location,
    ok: true,
    metadata: report.metadata,
    entries: report.entries,
    checksums_absent: report.checksumsAbsent,
  });
  output.summary({ command: "verify", location: report.location, ok: true });
  return 0;
}

/** `list`: archives newest first, one per line: name, size, stamp, location. */
export async function runList(cmd: List, ctx: CommandContext): Promise<number> {
  const store = cmd.s3 ? s3Store(cmd.global, ctx.output) : localStore(cmd.global.backupDir);
  const archives = await listBackups(store);
  if (archives.length === 0) ctx.output.info("No backups found", { location: store.root });
  const text = archives
    .map((a) => `${a.name}\t${a.size}\t${a.lastModified.toISOString()}\t${a.location}`)
    .join("\n");
  ctx.output.result(text, {
    command: "list",
    location: store.root,
    archives: archives.map((a) => ({
      name: a.name,
      size_bytes: a.size,
      last_modified: a.lastModified.toISOString(),
      location: a.location,
      encrypted: a.name.endsWith(".enc"),
    })),
  });
  ctx.output.summary({ command: "list", location: store.root, count: archives.length });
  return 0;
}

/**
 * `prune`: retention (keep-days ∪ keep-count, newest always kept), then unfinished uploads older than
 * --stale-upload-age; asks y/N on a terminal unless --yes. Prints what it did; anything it should have
 * removed and could not fails the command (4 when refused for permissions, else 9), named.
 */
export async function runPrune(cmd: Prune, ctx: CommandContext): Promise<number> {
  const store = cmd.s3 ? s3Store(cmd.global, ctx.output) : localStore(cmd.global.backupDir);
  const rules = {
    ...(cmd.retentionDays !== undefined ? { keepDays: cmd.retentionDays } : {}),
    ...(cmd.retentionCount !== undefined ? { keepCount: cmd.retentionCount } : {}),
  };
  const signal = ctx.cancellation.signal;
  if (!cmd.dryRun && !cmd.yes && interactive(ctx)) {
    const { plan } = await pruneBackups({ store, rules, dryRun: true, signal });
    if (plan.delete.length > 0) {
      for (const d of plan.delete) process.stderr.write(`  would delete ${d.object.location}\n`);
      if (!(await confirm(ctx, `Delete ${plan.delete.length} archive(s)?`))) {
        throw new BackupError("DECLINED", "prune declined at the prompt; nothing was deleted");
      }
    }
  }
  const report = await tidyStore(store, {
    rules,
    staleUploadAgeMs: cmd.staleUploadAgeMs,
    dryRun: cmd.dryRun,
    signal,
  });
  ctx.output.result(tidyLines(report).join("\n"), {
    command: "prune",
    ...tidyJson(report),
    // The earlier shape, for scripts written against it.
    deleted: report.dryRun ? [] : (report.retention?.deleted.map((d) => d.name) ?? []),
    would_delete: report.dryRun ? (report.retention?.deleted.map((d) => d.name) ?? []) : [],
    kept: report.retention?.kept ?? [],
    failed: (report.retention?.notDeleted ?? []).map((f) => ({
      name: f.name,
      code: f.code,
      message: f.message,
    })),
  });
  warnSweepError(ctx.output, report);
  // Retention could not run at all (the store could not be listed): that failure, with its own code.
  if (report.retention?.error) throw tidyFailureError(report.retention.error);
  const failed = tidyError([report]);
  if (failed) throw failed;
  ctx.output.summary({
    command: "prune",
    location: store.root,
    dry_run: report.dryRun,
    ...tidyCounts([report]),
  });
  return 0;
}
