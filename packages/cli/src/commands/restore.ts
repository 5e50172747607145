import { BackupError, restoreBackup } from "@infrahub-backup/core";
import { selectEnvironment } from "../environment-select.js";
import { freezeHelperResolver } from "../freeze-helper.js";
import type { ParsedCommand } from "../parse.js";
import { loadDecryptKey, resolveSource } from "../stores.js";
import { humanBytes } from "../values.js";
import { type CommandContext, confirm, hostEnv, interactive, sleep } from "./context.js";

type Restore = Extract<ParsedCommand, { command: "restore" }>;

/**
 * `restore`: validates the whole archive before changing anything. On a terminal it asks y/N unless
 * --yes; without a terminal it does not ask (upstream command lines and CronJobs keep working).
 */
export async function runRestore(cmd: Restore, ctx: CommandContext): Promise<number> {
  const { output } = ctx;
  const signal = ctx.cancellation.signal;
  const { store, name } = await resolveSource(cmd.source, cmd.global, output);
  if (name.endsWith(".enc") && cmd.decryptKey === undefined) {
    throw new BackupError("ENCRYPTION_KEY_REQUIRED", `${name} is encrypted`, {
      hint: "give the private key with --decrypt-key or INFRAHUB_DECRYPT_KEY",
    });
  }
  const decryptKey = await loadDecryptKey(cmd.decryptKey);
  const info = await store.head(name);
  output.expectTotal(info.size);
  const environment = await selectEnvironment(cmd.global);
  await sleep(cmd.sleepMs, signal, ctx, "Sleeping before restore");
  signal.throwIfAborted();
  if (!cmd.dryRun && !cmd.yes && interactive(ctx)) {
    const ok = await confirm(
      ctx,
      `Restore ${info.location} into the ${environment.kind} environment "${environment.name}"? This replaces its current data.`,
    );
    if (!ok) throw new BackupError("CANCELLED", "restore not confirmed; nothing was changed");
  }
  const result = await restoreBackup({
    environment,
    store,
    name,
    freezeHelper: freezeHelperResolver(ctx.env),
    hostEnv: hostEnv(ctx.env),
    ...(decryptKey ? { decryptKey } : {}),
    excludeTaskManager: cmd.excludeTaskManager,
    resetDeploymentId: cmd.resetDeploymentId,
    migrateFormat: cmd.migrateFormat,
    allowNonAtomic: cmd.allowNonAtomic,
    dryRun: cmd.dryRun,
    signal,
    onEvent: output.onEvent,
  });
  const plan = result.plan;
  if (result.dryRun) {
    const lines = [
      `Restore plan for ${plan.location} (${humanBytes(plan.size)})`,
      `  backup_id:        ${plan.metadata.backupId}`,
      `  created_at:       ${plan.metadata.createdAt}`,
      `  infrahub_version: ${plan.metadata.infrahubVersion}`,
      `  neo4j_edition:    ${plan.metadata.neo4jEdition ?? "unknown"}`,
      "Steps:",
      ...plan.steps.map((s, i) => `  ${i + 1}. ${s}`),
      "Dry run: nothing was changed.",
    ];
    output.result(lines.join("\n"), { command: "restore", dry_run: true, plan });
  } else {
    output.info("Restore completed successfully", {
      location: plan.location,
      backup_id: plan.metadata.backupId,
    });
    output.result("", { command: "restore", dry_run: false, location: plan.location });
  }
  output.summary({
    command: "restore",
    dry_run: result.dryRun,
    location: plan.location,
    durations: result.durations,
  });
  return 0;
}
