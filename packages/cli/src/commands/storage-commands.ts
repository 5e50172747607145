import { BackupError, listBackups, pruneBackups, verifyBackup } from "@infrahub-backup/core";
import type { ParsedCommand } from "../parse.js";
import { loadDecryptKey, localStore, resolveSource, s3Store } from "../stores.js";
import { humanBytes } from "../values.js";
import { type CommandContext, confirm, interactive } from "./context.js";

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

/** `prune`: retention (keep-days ∪ keep-count, newest always kept); asks y/N on a terminal unless --yes. */
export async function runPrune(cmd: Prune, ctx: CommandContext): Promise<number> {
  const store = cmd.s3 ? s3Store(cmd.global, ctx.output) : localStore(cmd.global.backupDir);
  const rules = {
    ...(cmd.retentionDays !== undefined ? { keepDays: cmd.retentionDays } : {}),
    ...(cmd.retentionCount !== undefined ? { keepCount: cmd.retentionCount } : {}),
  };
  const signal = ctx.cancellation.signal;
  let dryRun = cmd.dryRun;
  if (!dryRun && !cmd.yes && interactive(ctx)) {
    const { plan } = await pruneBackups({ store, rules, dryRun: true, signal });
    if (plan.delete.length > 0) {
      for (const d of plan.delete) process.stderr.write(`  would delete ${d.object.location}\n`);
      if (!(await confirm(ctx, `Delete ${plan.delete.length} archive(s)?`))) dryRun = true;
    }
  }
  const { plan, result } = await pruneBackups({ store, rules, dryRun, signal });
  const verb = result.dryRun ? "would delete" : "deleted";
  const lines = [
    ...plan.delete.map((d) => `${verb}\t${d.object.name}`),
    ...plan.keep.map((k) => `kept\t${k.object.name}\t${k.reasons.join(",")}`),
  ];
  ctx.output.result(lines.join("\n"), {
    command: "prune",
    location: store.root,
    dry_run: result.dryRun,
    deleted: result.deleted,
    would_delete: result.dryRun ? plan.delete.map((d) => d.object.name) : [],
    kept: plan.keep.map((k) => ({ name: k.object.name, reasons: k.reasons })),
    failed: result.failed.map((f) => ({ name: f.name, code: f.error.code, message: f.error.message })),
  });
  const failed = result.failed[0];
  if (failed) throw failed.error;
  ctx.output.summary({
    command: "prune",
    location: store.root,
    dry_run: result.dryRun,
    deleted: result.deleted.length,
  });
  return 0;
}
