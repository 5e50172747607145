import { mkdir } from "node:fs/promises";
import { BackupError, type BackupStore, createBackup, pruneBackups } from "@infrahub-backup/core";
import { selectEnvironment } from "../environment-select.js";
import { freezeHelperResolver } from "../freeze-helper.js";
import type { ParsedCommand } from "../parse.js";
import { copyArchive, loadEncryptKey, localStore, s3Store } from "../stores.js";
import { humanBytes } from "../values.js";
import { type CommandContext, hostEnv, sleep } from "./context.js";

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
  const local = !cmd.s3Upload || cmd.s3KeepLocal ? localStore(cmd.global.backupDir) : undefined;
  if (local) await mkdir(local.root, { recursive: true, mode: 0o755 });
  const target: BackupStore = (local ?? s3) as BackupStore;
  const environment = await selectEnvironment(cmd.global);
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
    const uploaded = await copyArchive(local, s3, result.name, signal).catch((error: unknown) => {
      output.log("error", `backup created locally but S3 upload failed: ${(error as Error).message}`, {
        path: result.location,
      });
      throw error;
    });
    output.info("Backup uploaded to S3", { location: uploaded.location, size_bytes: uploaded.size });
    locations.push(uploaded.location);
  }
  if (cmd.retentionDays !== undefined || cmd.retentionCount !== undefined) {
    const rules = {
      ...(cmd.retentionDays !== undefined ? { keepDays: cmd.retentionDays } : {}),
      ...(cmd.retentionCount !== undefined ? { keepCount: cmd.retentionCount } : {}),
    };
    for (const store of [local, s3]) {
      if (!store) continue;
      const { result: pruned } = await pruneBackups({ store, rules, signal });
      output.info("Retention applied", { location: store.root, deleted: pruned.deleted.length });
    }
  }
  output.result(locations.join("\n"), {
    command: "create",
    name: result.name,
    locations,
    size_bytes: result.size,
    metadata: result.metadata,
  });
  output.summary({
    command: "create",
    name: result.name,
    locations,
    size_bytes: result.size,
    durations: result.durations,
  });
  await sleep(cmd.sleepMs, signal, ctx, "Sleeping before exit");
  return 0;
}
